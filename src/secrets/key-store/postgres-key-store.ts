import pg from 'pg';
import { checkKekTenantId, type KeyStore, type StoredKek } from './key-store.ts';

/**
 * KEKs in a PostgreSQL database of their own (BULKHEAD_KEY_STORE_URL=postgres://…), shared by every
 * node. It is not a tenant database: one plain table, created on start if missing, no RLS (the
 * tenant id is the key, and every value in it is wrapped by the master key). Back it up on its own,
 * with a retention shorter than the deletion promise (docs/lifecycle.md).
 */
export class PostgresKeyStore implements KeyStore {
  readonly kind = 'postgres' as const;
  readonly location: string;
  readonly #pool: pg.Pool;

  private constructor(url: string, pool: pg.Pool) {
    const shown = new URL(url);
    shown.password = '';
    shown.username = '';
    this.location = shown.toString();
    this.#pool = pool;
  }

  static async open(url: string): Promise<PostgresKeyStore> {
    const pool = new pg.Pool({ connectionString: url, max: 4 });
    // An idle client that errors (server restart) must not crash the process; the pool drops it.
    pool.on('error', () => {});
    try {
      await pool.query(`create table if not exists tenant_keks (
        tenant_id text primary key,
        wrapped_kek bytea not null,
        created_at timestamptz not null default now()
      )`);
    } catch (err) {
      await pool.end();
      throw err;
    }
    return new PostgresKeyStore(url, pool);
  }

  async read(tenantId: string): Promise<Uint8Array | null> {
    checkKekTenantId(tenantId);
    const { rows } = await this.#pool.query<{ wrapped_kek: Buffer }>(
      'select wrapped_kek from tenant_keks where tenant_id = $1',
      [tenantId],
    );
    return rows[0]?.wrapped_kek ?? null;
  }

  async create(tenantId: string, wrappedKek: Uint8Array): Promise<Uint8Array> {
    checkKekTenantId(tenantId);
    await this.#pool.query(
      'insert into tenant_keks (tenant_id, wrapped_kek) values ($1, $2) on conflict (tenant_id) do nothing',
      [tenantId, wrappedKek],
    );
    const kept = await this.read(tenantId);
    if (kept === null) throw new Error(`the KEK of ${tenantId} was destroyed while being created`);
    return kept;
  }

  async replace(tenantId: string, wrappedKek: Uint8Array): Promise<void> {
    checkKekTenantId(tenantId);
    await this.#pool.query('update tenant_keks set wrapped_kek = $2 where tenant_id = $1', [
      tenantId,
      wrappedKek,
    ]);
  }

  async destroy(tenantId: string): Promise<boolean> {
    checkKekTenantId(tenantId);
    const result = await this.#pool.query('delete from tenant_keks where tenant_id = $1', [
      tenantId,
    ]);
    return (result.rowCount ?? 0) > 0;
  }

  async list(after: string | null, limit: number): Promise<StoredKek[]> {
    const { rows } = await this.#pool.query<{ tenant_id: string; wrapped_kek: Buffer }>(
      `select tenant_id, wrapped_kek from tenant_keks
       where $1::text is null or tenant_id > $1 order by tenant_id limit $2`,
      [after, limit],
    );
    return rows.map((r) => ({ tenantId: r.tenant_id, wrappedKek: r.wrapped_kek }));
  }

  async close(): Promise<void> {
    await this.#pool.end();
  }
}
