import type { OperatorTx, TenantTx } from '../../db/scope.ts';

/** One tenant's key-encryption key as the store keeps it: wrapped by the master key. */
export interface StoredKek {
  tenantId: string;
  wrappedKek: Uint8Array;
}

/**
 * Where each tenant's key-encryption key (KEK) lives: apart from the tenant databases, so that
 * destroying it reaches every backup of those databases. The store holds KEKs only wrapped by the
 * master key; it never sees a plaintext key.
 */
export interface KeyStore {
  readonly kind: 'file' | 'postgres' | 'database';
  /** Where the keys are, for the logs (never a password). */
  readonly location: string;
  /**
   * The tenant's wrapped KEK, or null if it has none (never made, or destroyed). `tx` is a
   * transaction the caller holds, if any: the `database` store reads through it rather than
   * waiting for a second connection (PGlite has only one).
   */
  read(tenantId: string, tx?: TenantTx | OperatorTx): Promise<Uint8Array | null>;
  /**
   * Stores a KEK for a tenant that has none. If it already has one, that one stays and is
   * returned: two nodes creating a tenant's KEK at once agree on one.
   */
  create(tenantId: string, wrappedKek: Uint8Array): Promise<Uint8Array>;
  /** Replaces the wrapped form of an existing KEK (the same key, wrapped by a new master key). */
  replace(tenantId: string, wrappedKek: Uint8Array): Promise<void>;
  /** Destroys the tenant's KEK for good; false if there was none. */
  destroy(tenantId: string): Promise<boolean>;
  /** A page of KEKs in tenant id order, after `after`. */
  list(after: string | null, limit: number): Promise<StoredKek[]>;
  close(): Promise<void>;
}

const tenantIdPattern = /^tn_[0-9a-z]{26}$/;

/** Tenant ids name files and rows here: only the exact id grammar is accepted. */
export function checkKekTenantId(tenantId: string): void {
  if (!tenantIdPattern.test(tenantId)) throw new Error(`not a tenant id: ${tenantId}`);
}
