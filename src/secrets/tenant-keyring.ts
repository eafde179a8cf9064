import { hkdfSync, randomBytes } from 'node:crypto';
import type { OperatorTx, TenantTx } from '../db/scope.ts';
import { open, seal } from './envelope.ts';

/**
 * Envelope encryption: each tenant has a random data key, stored only wrapped by the master key.
 * Tenant secrets (provider keys today; tool credentials and audit payloads later) are sealed with
 * the tenant's data key. Destroying the wrapped key makes every copy of them unreadable.
 */
export class TenantKeyring {
  readonly #masterKey: Buffer;
  /** Keys being rotated away from: still read, never written. */
  readonly #previousKeys: Buffer[];

  constructor(masterKey: Uint8Array, previousKeys: readonly Uint8Array[] = []) {
    for (const key of [masterKey, ...previousKeys]) {
      if (key.length !== 32) throw new Error('master keys must be 32 bytes');
    }
    this.#masterKey = Buffer.from(masterKey);
    this.#previousKeys = previousKeys.map((k) => Buffer.from(k));
  }

  async createDataKey(tx: OperatorTx, tenantId: string): Promise<void> {
    const dataKey = randomBytes(32);
    await tx
      .insertInto('tenant_data_keys')
      .values({
        tenant_id: tenantId,
        key_version: 1,
        wrapped_key: seal(this.#masterKey, dataKey, `tenant-data-key:${tenantId}`),
      })
      .execute();
  }

  async #dataKey(tx: TenantTx | OperatorTx, tenantId: string): Promise<Buffer> {
    const row = await tx
      .selectFrom('tenant_data_keys')
      .select(['wrapped_key'])
      .where('tenant_id', '=', tenantId)
      .orderBy('key_version', 'desc')
      .executeTakeFirst();
    if (row === undefined) throw new Error(`tenant ${tenantId} has no data key`);
    return this.#unwrap(tenantId, row.wrapped_key);
  }

  #unwrap(tenantId: string, wrappedKey: Uint8Array): Buffer {
    return this.#unwrapWith(tenantId, wrappedKey).dataKey;
  }

  /** AES-GCM authenticates: a wrong master key fails, so each candidate is simply tried. */
  #unwrapWith(tenantId: string, wrappedKey: Uint8Array): { dataKey: Buffer; current: boolean } {
    const aad = `tenant-data-key:${tenantId}`;
    try {
      return { dataKey: open(this.#masterKey, wrappedKey, aad), current: true };
    } catch (err) {
      for (const previous of this.#previousKeys) {
        try {
          return { dataKey: open(previous, wrappedKey, aad), current: false };
        } catch {
          // not this one either
        }
      }
      throw new Error(`no configured master key opens the data key of ${tenantId}`, { cause: err });
    }
  }

  /**
   * Re-wraps one page of data keys with the current master key, after (tenant, version). Data keys
   * themselves do not change, so nothing sealed with them needs re-encrypting.
   */
  async rewrapPage(
    tx: OperatorTx,
    after: { tenantId: string; version: number } | null,
    limit: number,
  ): Promise<{
    rewrapped: number;
    current: number;
    last: { tenantId: string; version: number } | null;
  }> {
    let query = tx
      .selectFrom('tenant_data_keys')
      .select(['tenant_id', 'key_version', 'wrapped_key'])
      .orderBy('tenant_id')
      .orderBy('key_version')
      .limit(limit);
    if (after !== null) {
      query = query.where((eb) =>
        eb.or([
          eb('tenant_id', '>', after.tenantId),
          eb.and([eb('tenant_id', '=', after.tenantId), eb('key_version', '>', after.version)]),
        ]),
      );
    }
    const rows = await query.execute();
    let rewrapped = 0;
    for (const row of rows) {
      const { dataKey, current } = this.#unwrapWith(row.tenant_id, row.wrapped_key);
      if (current) continue;
      await tx
        .updateTable('tenant_data_keys')
        .set({ wrapped_key: seal(this.#masterKey, dataKey, `tenant-data-key:${row.tenant_id}`) })
        .where('tenant_id', '=', row.tenant_id)
        .where('key_version', '=', row.key_version)
        .execute();
      rewrapped++;
    }
    const lastRow = rows.at(-1);
    return {
      rewrapped,
      current: rows.length - rewrapped,
      last:
        lastRow === undefined
          ? null
          : { tenantId: lastRow.tenant_id, version: lastRow.key_version },
    };
  }

  /**
   * A secret of the tenant's own for one purpose (signing its webhooks), derived from its data key
   * with HKDF: nothing more to store, and it is shredded with the tenant.
   */
  async deriveSecret(tx: TenantTx, tenantId: string, purpose: string): Promise<Buffer> {
    const key = await this.#dataKey(tx, tenantId);
    return Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), `${tenantId}:${purpose}`, 32));
  }

  async sealForTenant(
    tx: TenantTx | OperatorTx,
    tenantId: string,
    purpose: string,
    plaintext: string,
  ): Promise<Buffer> {
    const key = await this.#dataKey(tx, tenantId);
    return seal(key, Buffer.from(plaintext, 'utf8'), `${tenantId}:${purpose}`);
  }

  async openForTenant(
    tx: TenantTx | OperatorTx,
    tenantId: string,
    purpose: string,
    sealed: Uint8Array,
  ): Promise<string> {
    const key = await this.#dataKey(tx, tenantId);
    return open(key, sealed, `${tenantId}:${purpose}`).toString('utf8');
  }

  /** For callers that fetched the wrapped data key in the same query as the sealed value. */
  openWithWrappedKey(
    tenantId: string,
    wrappedKey: Uint8Array,
    purpose: string,
    sealed: Uint8Array,
  ): string {
    return open(this.#unwrap(tenantId, wrappedKey), sealed, `${tenantId}:${purpose}`).toString(
      'utf8',
    );
  }

  /**
   * Opens several values with one read of the data key. A value that does not open (altered, or
   * sealed under a key since destroyed) comes back as null instead of failing the others.
   */
  async openManyForTenant(
    tx: TenantTx | OperatorTx,
    tenantId: string,
    purpose: string,
    sealed: readonly (Uint8Array | null)[],
  ): Promise<(string | null)[]> {
    if (sealed.every((s) => s === null)) return sealed.map(() => null);
    const key = await this.#dataKey(tx, tenantId);
    return sealed.map((s) => {
      if (s === null) return null;
      try {
        return open(key, s, `${tenantId}:${purpose}`).toString('utf8');
      } catch {
        return null;
      }
    });
  }

  /** For callers that read the wrapped data key themselves, in a query they make anyway. */
  sealManyWithWrappedKey(
    tenantId: string,
    wrappedKey: Uint8Array,
    purpose: string,
    plaintexts: readonly (string | null)[],
  ): (Buffer | null)[] {
    if (plaintexts.every((p) => p === null)) return plaintexts.map(() => null);
    const key = this.#unwrap(tenantId, wrappedKey);
    return plaintexts.map((p) =>
      p === null ? null : seal(key, Buffer.from(p, 'utf8'), `${tenantId}:${purpose}`),
    );
  }
}
