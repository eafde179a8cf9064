import { createCipheriv, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { open, openSealed, seal, sealedKeyVersion } from './envelope.ts';

const key = randomBytes(32);
const aad = 'tn_x:purpose';

/** A value as the code before key versions wrote it: `0x01 | iv | tag | ct`. */
function sealFormat1(plaintext: string): Buffer {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return Buffer.concat([Buffer.from([1]), iv, cipher.getAuthTag(), body]);
}

describe('envelope', () => {
  it('still opens format 1, as key version 1', () => {
    const old = sealFormat1('from before');
    expect(sealedKeyVersion(old)).toBe(1);
    expect(open(key, old, aad).toString()).toBe('from before');
  });

  it('writes format 2 with the key version in the header', () => {
    const sealed = seal(key, Buffer.from('hello'), aad, { keyVersion: 7 });
    expect(sealed[0]).toBe(2);
    expect(sealed.readUInt32BE(1)).toBe(7);
    expect(sealedKeyVersion(sealed)).toBe(7);
    expect(openSealed(key, sealed, aad)).toMatchObject({ salt: null, keyVersion: 7 });
    expect(open(key, sealed, aad).toString()).toBe('hello');
  });

  it('seals a salt inside format 3 and strips it on open', () => {
    const salt = randomBytes(16);
    const sealed = seal(key, Buffer.from('{"a":1}'), aad, { keyVersion: 3, salt });
    expect(sealed[0]).toBe(3);
    expect(open(key, sealed, aad).toString()).toBe('{"a":1}');
    expect(openSealed(key, sealed, aad).salt!.equals(salt)).toBe(true);
  });

  it.each([
    ['the key version', (b: Buffer) => b.writeUInt32BE(b.readUInt32BE(1) + 1, 1)],
    ['the salt flag', (b: Buffer) => (b[0] = 2)],
    ['a ciphertext byte', (b: Buffer) => (b[b.length - 1]! ^= 1)],
  ])('refuses a value whose %s was changed', (_what, change) => {
    const sealed = seal(key, Buffer.from('x'), aad, { keyVersion: 2, salt: randomBytes(16) });
    change(sealed);
    expect(() => open(key, sealed, aad)).toThrow();
  });

  it('refuses another purpose, another key and an unknown format', () => {
    const sealed = seal(key, Buffer.from('x'), aad, { keyVersion: 2 });
    expect(() => open(key, sealed, 'tn_x:other')).toThrow();
    expect(() => open(randomBytes(32), sealed, aad)).toThrow();
    expect(() => sealedKeyVersion(Buffer.concat([Buffer.from([9]), sealed.subarray(1)]))).toThrow(
      'unknown format',
    );
  });
});
