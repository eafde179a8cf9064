import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { AnchorSigner, generateAnchorKeyPem, isAnchorKey, parseAnchorKey } from './signing-key.ts';

describe('the anchor signing key', () => {
  it('reads a PKCS#8 PEM and a base64 seed of the same key as the same key id', async () => {
    const seed = randomBytes(32);
    const fromSeed = parseAnchorKey(seed.toString('base64'));
    const pem = fromSeed.export({ format: 'pem', type: 'pkcs8' }).toString();
    const a = await AnchorSigner.fromKey(seed.toString('base64'));
    const b = await AnchorSigner.fromKey(pem);
    expect(a.keyId).toBe(b.keyId);
    expect(a.publicJwk).toEqual(b.publicJwk);
    expect(a.publicJwk).not.toHaveProperty('d');
  });

  it('refuses keys that are not Ed25519 private keys', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
      .privateKey.export({ format: 'pem', type: 'pkcs8' })
      .toString();
    for (const bad of ['', 'hello', randomBytes(31).toString('base64'), rsa])
      expect(isAnchorKey(bad)).toBe(false);
    expect(isAnchorKey(generateAnchorKeyPem())).toBe(true);
  });

  it('verifies what it signed, and nothing changed or signed by another key', async () => {
    const signer = await AnchorSigner.fromKey(generateAnchorKeyPem());
    const other = await AnchorSigner.fromKey(generateAnchorKeyPem());
    const jws = await signer.sign('{"seq":1}');
    const ok = await signer.verify(jws);
    expect(ok.ok).toBe(true);
    expect(new TextDecoder().decode(ok.payload)).toBe('{"seq":1}');
    expect((await other.verify(jws)).ok).toBe(false);
    const [h, , s] = jws.split('.');
    const changed = `${h}.${Buffer.from('{"seq":2}').toString('base64url')}.${s}`;
    expect((await signer.verify(changed)).ok).toBe(false);
    expect((await signer.verify('a.b.c')).ok).toBe(false);
  });
});
