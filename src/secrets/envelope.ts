import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/**
 * AES-256-GCM with a version byte: `0x01 | iv (12) | tag (16) | ciphertext`. The associated data
 * binds a ciphertext to where it belongs (a tenant, a purpose), so a sealed value copied into another
 * tenant's row does not open there.
 */
const VERSION = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;

export function seal(key: Uint8Array, plaintext: Uint8Array, associatedData: string): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(associatedData, 'utf8'));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([Buffer.from([VERSION]), iv, cipher.getAuthTag(), body]);
}

export function open(key: Uint8Array, sealed: Uint8Array, associatedData: string): Buffer {
  const box = Buffer.from(sealed);
  if (box.length < 1 + IV_BYTES + TAG_BYTES || box[0] !== VERSION) {
    throw new Error('sealed value has an unknown format');
  }
  const iv = box.subarray(1, 1 + IV_BYTES);
  const tag = box.subarray(1 + IV_BYTES, 1 + IV_BYTES + TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', key, iv);
  decipher.setAAD(Buffer.from(associatedData, 'utf8'));
  decipher.setAuthTag(tag);
  return Buffer.concat([decipher.update(box.subarray(1 + IV_BYTES + TAG_BYTES)), decipher.final()]);
}
