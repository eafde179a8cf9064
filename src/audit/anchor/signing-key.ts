import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
} from 'node:crypto';
import { calculateJwkThumbprint, CompactSign, compactVerify, type JWK } from 'jose';

/**
 * The Ed25519 key that signs audit checkpoints. Checkpoints are compact JWS (RFC 7515, EdDSA per
 * RFC 8037) rather than a bare node:crypto signature: the envelope carries `alg` and `kid` under
 * the signature, the payload is signed byte for byte (no canonical-JSON rules for a verifier to
 * re-implement), and anyone can check one offline with any JOSE library and the JWK served at
 * `GET /v1/audit/anchor-key`.
 */

// RFC 8410: the PKCS#8 wrapping of a bare 32-byte Ed25519 private key (the "seed").
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const base64Seed = /^[A-Za-z0-9+/]{43}=$/;

export const CHECKPOINT_JWS_TYPE = 'bulkhead-audit-checkpoint+jws';

/** Reads the key as configured: a PKCS#8 PEM, or base64 of a 32-byte seed. Throws otherwise. */
export function parseAnchorKey(text: string): KeyObject {
  const value = text.trim();
  if (base64Seed.test(value)) {
    const seed = Buffer.from(value, 'base64');
    if (seed.length !== 32) throw new Error('the seed must be 32 bytes');
    return createPrivateKey({
      key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]),
      format: 'der',
      type: 'pkcs8',
    });
  }
  const key = createPrivateKey({ key: value, format: 'pem' });
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new Error(`the key is ${key.asymmetricKeyType ?? 'unknown'}, not Ed25519`);
  }
  return key;
}

export function isAnchorKey(text: string): boolean {
  try {
    parseAnchorKey(text);
    return true;
  } catch {
    return false;
  }
}

/** A new key as PKCS#8 PEM, for the embedded mode's data directory. */
export function generateAnchorKeyPem(): string {
  const { privateKey } = generateKeyPairSync('ed25519');
  return privateKey.export({ format: 'pem', type: 'pkcs8' }).toString().trim();
}

export type SignatureCheck =
  { ok: true; payload: Uint8Array } | { ok: false; reason: string; payload: Uint8Array | null };

export class AnchorSigner {
  readonly keyId: string;
  /** The public key as a JWK, with `kid`, `alg` and `use`. */
  readonly publicJwk: JWK;
  readonly #privateKey: KeyObject;
  readonly #publicKey: KeyObject;

  private constructor(privateKey: KeyObject, keyId: string, publicJwk: JWK) {
    this.#privateKey = privateKey;
    this.#publicKey = createPublicKey(privateKey);
    this.keyId = keyId;
    this.publicJwk = publicJwk;
  }

  /** The key id is the JWK thumbprint (RFC 7638): every node holding the same key agrees on it. */
  static async fromKey(text: string): Promise<AnchorSigner> {
    const privateKey = parseAnchorKey(text);
    const { kty, crv, x } = createPublicKey(privateKey).export({ format: 'jwk' });
    const bare = { kty: kty!, crv: crv!, x: x! };
    const keyId = await calculateJwkThumbprint(bare, 'sha256');
    return new AnchorSigner(privateKey, keyId, { ...bare, kid: keyId, alg: 'EdDSA', use: 'sig' });
  }

  sign(payload: string): Promise<string> {
    return new CompactSign(new TextEncoder().encode(payload))
      .setProtectedHeader({ alg: 'EdDSA', kid: this.keyId, typ: CHECKPOINT_JWS_TYPE })
      .sign(this.#privateKey);
  }

  /** Checks a compact JWS against this key; never throws on bad input. */
  async verify(jws: string): Promise<SignatureCheck> {
    try {
      const { payload, protectedHeader } = await compactVerify(jws, this.#publicKey, {
        algorithms: ['EdDSA'],
      });
      if (protectedHeader.kid !== this.keyId) {
        return {
          ok: false,
          reason: `signed with key '${String(protectedHeader.kid)}', not this server's key '${this.keyId}'`,
          payload,
        };
      }
      if (protectedHeader.typ !== CHECKPOINT_JWS_TYPE) {
        return { ok: false, reason: 'the JWS is not an audit checkpoint', payload };
      }
      return { ok: true, payload };
    } catch (err) {
      return {
        ok: false,
        reason: `the signature does not verify with this server's key '${this.keyId}' (${(err as Error).message})`,
        payload: null,
      };
    }
  }
}
