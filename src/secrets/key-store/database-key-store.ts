import { sql } from 'kysely';
import type { SqlBackend, SqlSession } from '../../db/backend.ts';
import { OPERATOR_ROLE } from '../../db/roles.ts';
import type { OperatorTx, TenantTx } from '../../db/scope.ts';
import { checkKekTenantId, type KeyStore, type StoredKek } from './key-store.ts';

const TABLE = 'bulkhead_keystore.tenant_keks';

/**
 * KEKs in the main database (`bulkhead_keystore.tenant_keks`, migration 0014, in the pool): what a
 * PostgreSQL deployment gets when BULKHEAD_KEY_STORE_URL is unset, so existing set-ups keep working.
 * Deleting a tenant still destroys its KEK here, but a backup of the main database holds the KEK
 * beside the data keys it wraps: shredding does not reach database backups (the server says so at
 * start).
 *
 * A read inside a transaction the caller holds goes through that transaction when it runs in the
 * pool (told by `bulkhead_keystore.home`, random per database): no second connection, which on
 * PGlite — one connection, handed out in turn — would wait for the caller forever. In a silo's
 * transaction the row is not there, so the read takes a connection of the pool.
 */
export class DatabaseKeyStore implements KeyStore {
  readonly kind = 'database' as const;
  readonly location = 'the main database (bulkhead_keystore.tenant_keks)';
  readonly #pool: SqlBackend | null;
  readonly #home: string | null;

  private constructor(pool: SqlBackend | null, home: string | null) {
    this.#pool = pool;
    this.#home = home;
  }

  static async open(pool: SqlBackend): Promise<DatabaseKeyStore> {
    const store = new DatabaseKeyStore(pool, null);
    // Read now, outside any transaction. A database not migrated yet (`bulkhead openapi` builds
    // the app on an empty one) has none: it serves nothing anyway.
    const home = await store
      .#operator(async (s) => {
        const { rows } = await s.query<{ id: string }>('select id from bulkhead_keystore.home', []);
        return rows[0]?.id ?? null;
      })
      .catch(() => null);
    return new DatabaseKeyStore(pool, home);
  }

  /**
   * Reads through the caller's transactions only, and cannot write: for a keyring built without
   * a connection of its own (tests that open a tenant's values inside their own transactions).
   */
  static readingThroughTransactions(): DatabaseKeyStore {
    return new DatabaseKeyStore(null, null);
  }

  async #operator<T>(fn: (session: SqlSession) => Promise<T>): Promise<T> {
    if (this.#pool === null) throw new Error('this key store reads through transactions only');
    const session = await this.#pool.acquire();
    let failure: unknown;
    try {
      await session.script(`begin; set local role ${OPERATOR_ROLE};`);
      const result = await fn(session);
      await session.script('commit');
      return result;
    } catch (err) {
      failure = err;
      await session.script('rollback').catch(() => undefined);
      throw err;
    } finally {
      session.release(failure);
    }
  }

  async read(tenantId: string, tx?: TenantTx | OperatorTx): Promise<Uint8Array | null> {
    checkKekTenantId(tenantId);
    if (tx !== undefined) {
      const { rows } = await sql<{ home: string | null; wrapped_kek: Uint8Array | null }>`
        select (select id from bulkhead_keystore.home) as home,
          (select wrapped_kek from bulkhead_keystore.tenant_keks where tenant_id = ${tenantId}) as wrapped_kek`.execute(
        tx,
      );
      const row = rows[0];
      if (row?.wrapped_kek != null) return row.wrapped_kek;
      // Absent in the pool is absent; absent in a silo says nothing.
      if (this.#pool === null || row?.home === this.#home) return null;
    }
    return this.#operator(async (s) => {
      const { rows } = await s.query<{ wrapped_kek: Uint8Array }>(
        `select wrapped_kek from ${TABLE} where tenant_id = $1`,
        [tenantId],
      );
      return rows[0]?.wrapped_kek ?? null;
    });
  }

  create(tenantId: string, wrappedKek: Uint8Array): Promise<Uint8Array> {
    checkKekTenantId(tenantId);
    return this.#operator(async (s) => {
      await s.query(
        `insert into ${TABLE} (tenant_id, wrapped_kek) values ($1, $2) on conflict (tenant_id) do nothing`,
        [tenantId, wrappedKek],
      );
      const { rows } = await s.query<{ wrapped_kek: Uint8Array }>(
        `select wrapped_kek from ${TABLE} where tenant_id = $1`,
        [tenantId],
      );
      return rows[0]!.wrapped_kek;
    });
  }

  async replace(tenantId: string, wrappedKek: Uint8Array): Promise<void> {
    checkKekTenantId(tenantId);
    await this.#operator((s) =>
      s.query(`update ${TABLE} set wrapped_kek = $2 where tenant_id = $1`, [tenantId, wrappedKek]),
    );
  }

  destroy(tenantId: string): Promise<boolean> {
    checkKekTenantId(tenantId);
    return this.#operator(async (s) => {
      const result = await s.query(`delete from ${TABLE} where tenant_id = $1`, [tenantId]);
      return result.rowCount > 0;
    });
  }

  list(after: string | null, limit: number): Promise<StoredKek[]> {
    return this.#operator(async (s) => {
      const { rows } = await s.query<{ tenant_id: string; wrapped_kek: Uint8Array }>(
        `select tenant_id, wrapped_kek from ${TABLE}
         where $1::text is null or tenant_id > $1 order by tenant_id limit $2`,
        [after, limit],
      );
      return rows.map((r) => ({ tenantId: r.tenant_id, wrappedKek: r.wrapped_kek }));
    });
  }

  async close(): Promise<void> {}
}
