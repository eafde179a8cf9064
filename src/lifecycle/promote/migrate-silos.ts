import type { SqlBackend } from '../../db/backend.ts';
import { migrate } from '../../db/migrate.ts';
import { openPostgres } from '../../db/backend.ts';
import { OPERATOR_ROLE } from '../../db/roles.ts';
import { siloLabel } from '../../db/tenant-routing.ts';
import type { SiloUrlBox } from './silo-url-box.ts';

/**
 * A silo runs the same schema as the pool: after migrating the pool, every database a tenant has
 * been promoted to is migrated too (each once, however many tenants it serves).
 */
export async function migrateSilos(
  pool: SqlBackend,
  urls: SiloUrlBox,
): Promise<{ silo: string; applied: string[] }[]> {
  const session = await pool.acquire();
  let rows: { tenant_id: string; sealed_url: Uint8Array }[];
  try {
    // The migrating role owns the tables, which does not exempt it from forced row security.
    await session.script(`begin; set local role ${OPERATOR_ROLE};`);
    rows = (
      await session.query<{ tenant_id: string; sealed_url: Uint8Array }>(
        `select tenant_id, sealed_url from tenant_placements where state = 'silo' and sealed_url is not null`,
        [],
      )
    ).rows;
  } finally {
    await session.script('rollback').catch(() => undefined);
    session.release();
  }
  const silos = new Set(rows.map((r) => urls.open(r.tenant_id, r.sealed_url)));
  const reports: { silo: string; applied: string[] }[] = [];
  for (const url of silos) {
    const backend = openPostgres(url, 1);
    try {
      reports.push({ silo: siloLabel(url), applied: (await migrate(backend)).applied });
    } finally {
      await backend.close();
    }
  }
  return reports;
}
