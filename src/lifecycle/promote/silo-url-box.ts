import { open, seal } from '../../secrets/envelope.ts';

/**
 * A silo's URL holds credentials, so the pool keeps it sealed with the master key (bound to the
 * tenant), and reads it with the current or a previous master key during a master-key rotation.
 */
export class SiloUrlBox {
  readonly #keys: readonly Uint8Array[];

  constructor(masterKey: Uint8Array, previousMasterKeys: readonly Uint8Array[] = []) {
    this.#keys = [masterKey, ...previousMasterKeys];
  }

  seal(tenantId: string, url: string): Buffer {
    return seal(this.#keys[0]!, Buffer.from(url, 'utf8'), aad(tenantId));
  }

  /** The value sealed again with the current master key; null if it already is. */
  resealed(tenantId: string, sealed: Uint8Array): Buffer | null {
    try {
      open(this.#keys[0]!, sealed, aad(tenantId));
      return null;
    } catch {
      return this.seal(tenantId, this.open(tenantId, sealed));
    }
  }

  open(tenantId: string, sealed: Uint8Array): string {
    for (const key of this.#keys) {
      try {
        return open(key, sealed, aad(tenantId)).toString('utf8');
      } catch {
        // not this key
      }
    }
    throw new Error(`no configured master key opens the silo URL of ${tenantId}`);
  }
}

const aad = (tenantId: string) => `silo-url:${tenantId}`;
