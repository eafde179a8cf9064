import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/**
 * AES-256-GCM sealed values. The associated data binds a ciphertext to where it belongs (a tenant,
 * a purpose), so a sealed value copied into another tenant's row does not open there.
 *
 * - format 1 (legacy, read only): `0x01 | iv (12) | tag (16) | ciphertext`; its key is version 1.
 * - format 2: `0x02 | key version (uint32 BE) | iv | tag | ciphertext`.
 * - format 3: as format 2, and the plaintext inside starts with a 16-byte random salt that `open`
 *   strips. Audit payloads use it: the chain commits to SHA-256(salt ‖ plaintext), which survives
 *   re-encryption under a new key, where a hash of the ciphertext would not.
 *
 * In formats 2 and 3 the header is part of the associated data, so neither the key version nor
 * the salt flag can be changed without the value failing to open.
 */
const LEGACY = 1;
const VERSIONED = 2;
const VERSIONED_SALTED = 3;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const HEADER_BYTES = 5;
export const SALT_BYTES = 16;

export interface OpenedValue {
  plaintext: Buffer;
  /** The salt sealed in front of the plaintext (format 3), else null. */
  salt: Buffer | null;
  keyVersion: number;
}

function header(format: number, keyVersion: number): Buffer {
  const head = Buffer.alloc(HEADER_BYTES);
  head[0] = format;
  head.writeUInt32BE(keyVersion, 1);
  return head;
}

/**
 * Seals with the key of `keyVersion`; without options, version 0, which stands for a master key
 * (master keys have no version: a value is opened by trying each configured one). With `salt`, the
 * value is format 3 and the salt is sealed with it; `open` gives back the plaintext alone.
 */
export function seal(
  key: Uint8Array,
  plaintext: Uint8Array,
  associatedData: string,
  options: { keyVersion: number; salt?: Uint8Array } = { keyVersion: 0 },
): Buffer {
  const { keyVersion, salt } = options;
  if (!Number.isInteger(keyVersion) || keyVersion < 0 || keyVersion > 0xffffffff) {
    throw new Error(`not a key version: ${keyVersion}`);
  }
  if (salt !== undefined && salt.length !== SALT_BYTES) {
    throw new Error(`a salt is ${SALT_BYTES} bytes`);
  }
  const head = header(salt === undefined ? VERSIONED : VERSIONED_SALTED, keyVersion);
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.concat([head, Buffer.from(associatedData, 'utf8')]));
  const body = Buffer.concat([
    salt === undefined ? Buffer.alloc(0) : cipher.update(salt),
    cipher.update(plaintext),
    cipher.final(),
  ]);
  return Buffer.concat([head, iv, cipher.getAuthTag(), body]);
}

/** The version of the data key a sealed value names, without opening it. */
export function sealedKeyVersion(sealed: Uint8Array): number {
  const box = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
  if (box.length >= 1 + IV_BYTES + TAG_BYTES && box[0] === LEGACY) return 1;
  if (
    box.length >= HEADER_BYTES + IV_BYTES + TAG_BYTES &&
    (box[0] === VERSIONED || box[0] === VERSIONED_SALTED)
  ) {
    return box.readUInt32BE(1);
  }
  throw new Error('sealed value has an unknown format');
}

/** Opens any format; throws if the key is wrong or a single byte was changed. */
export function openSealed(
  key: Uint8Array,
  sealed: Uint8Array,
  associatedData: string,
): OpenedValue {
  const box = Buffer.from(sealed);
  const keyVersion = sealedKeyVersion(box);
  const legacy = box[0] === LEGACY;
  const start = legacy ? 1 : HEADER_BYTES;
  const iv = box.subarray(start, start + IV_BYTES);
  const tag = box.subarray(start + IV_BYTES, start + IV_BYTES + TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', key, iv);
  const aad = Buffer.from(associatedData, 'utf8');
  decipher.setAAD(legacy ? aad : Buffer.concat([box.subarray(0, HEADER_BYTES), aad]));
  decipher.setAuthTag(tag);
  const body = Buffer.concat([
    decipher.update(box.subarray(start + IV_BYTES + TAG_BYTES)),
    decipher.final(),
  ]);
  if (box[0] !== VERSIONED_SALTED) return { plaintext: body, salt: null, keyVersion };
  if (body.length < SALT_BYTES) throw new Error('sealed value is shorter than its salt');
  return {
    plaintext: body.subarray(SALT_BYTES),
    salt: body.subarray(0, SALT_BYTES),
    keyVersion,
  };
}

/** The plaintext alone (a salt, if any, stripped). */
export function open(key: Uint8Array, sealed: Uint8Array, associatedData: string): Buffer {
  return openSealed(key, sealed, associatedData).plaintext;
}
