import { createHash } from 'node:crypto';
import { openPostgres, type SqlBackend } from './backend.ts';
import { APP_ROLE } from './roles.ts';

export interface Placement {
  state: 'moving' | 'silo' | 'away';
  siloId: string | null;
  sealedUrl: Uint8Array | null;
}

export interface TenantRoutingOptions {
  /** Opens a silo's URL, sealed with the master key in the pool's `tenant_placements`. */
  openUrl(tenantId: string, sealedUrl: Uint8Array): string;
  /** How long a request waits for a tenant that is being moved before it is refused. */
  pauseMaxMs: number;
  connectionsPerSilo?: number;
}

/** A silo's name for logs and reports: host and database, never the credentials. */
export function siloLabel(url: string): string {
  const parsed = new URL(url);
  return `${parsed.hostname}:${parsed.port || '5432'}${parsed.pathname}`;
}

/** Which database each tenant is served by, with one connection pool per silo. */
export class TenantRouting {
  readonly pool: SqlBackend;
  readonly pauseMaxMs: number;
  readonly #options: TenantRoutingOptions;
  readonly #silos = new Map<string, SqlBackend>();
  /**
   * Tenants known to live in a silo. Nothing else is cached: a tenant not in here is tried in the
   * pool, and the check at the start of every transaction says when that is wrong, so a stale
   * entry costs one retry and never a read or write in the wrong place.
   */
  readonly #homes = new Map<string, SqlBackend>();

  constructor(pool: SqlBackend, options: TenantRoutingOptions) {
    this.pool = pool;
    this.pauseMaxMs = options.pauseMaxMs;
    this.#options = options;
  }

  backendFor(tenantId: string): SqlBackend {
    return this.#homes.get(tenantId) ?? this.pool;
  }

  /** Reads the tenant's placement from the pool again, after a database said it is not there. */
  async relocate(tenantId: string): Promise<void> {
    const placement = await readPlacement(this.pool, tenantId);
    if (placement?.state === 'silo' && placement.sealedUrl !== null) {
      this.#homes.set(tenantId, this.silo(this.#options.openUrl(tenantId, placement.sealedUrl)));
    } else if (placement === undefined) {
      this.#homes.delete(tenantId);
    }
    // `moving` out of the pool: it is still the pool's until the move commits; keep the route.
  }

  /** Called by the node that moved the tenant, so it need not find out by a retry. */
  placed(tenantId: string, url: string | null): void {
    if (url === null) this.#homes.delete(tenantId);
    else this.#homes.set(tenantId, this.silo(url));
  }

  /** The pool of connections to a silo, opened on first use and kept. */
  silo(url: string): SqlBackend {
    const id = siloId(url);
    let backend = this.#silos.get(id);
    if (backend === undefined) {
      backend = openPostgres(url, this.#options.connectionsPerSilo ?? 5);
      this.#silos.set(id, backend);
    }
    return backend;
  }

  /** The distinct silos among placement rows read from the pool. */
  silosOf(rows: readonly { tenant_id: string; sealed_url: Uint8Array | null }[]): SqlBackend[] {
    const backends = new Set<SqlBackend>();
    for (const row of rows) {
      if (row.sealed_url !== null) {
        backends.add(this.silo(this.#options.openUrl(row.tenant_id, row.sealed_url)));
      }
    }
    return [...backends];
  }

  async close(): Promise<void> {
    await Promise.all([...this.#silos.values()].map((b) => b.close()));
    this.#silos.clear();
    this.#homes.clear();
  }
}

export function siloId(url: string): string {
  return createHash('sha256').update(url).digest('hex').slice(0, 16);
}

/** The tenant's row in a database's `tenant_placements`, read as that tenant (RLS). */
export async function readPlacement(
  backend: SqlBackend,
  tenantId: string,
): Promise<Placement | undefined> {
  const session = await backend.acquire();
  let failure: unknown;
  try {
    await session.script(`begin; set local role ${APP_ROLE};`);
    await session.query(`select set_config('app.tenant_id', $1, true)`, [tenantId]);
    const found = await session.query<{
      state: Placement['state'];
      silo_id: string | null;
      sealed_url: Uint8Array | null;
    }>('select state, silo_id, sealed_url from tenant_placements where tenant_id = $1', [tenantId]);
    await session.script('commit');
    const row = found.rows[0];
    return row === undefined
      ? undefined
      : { state: row.state, siloId: row.silo_id, sealedUrl: row.sealed_url };
  } catch (err) {
    failure = err;
    await session.script('rollback').catch(() => undefined);
    throw err;
  } finally {
    session.release(failure);
  }
}
