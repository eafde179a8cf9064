import { sql } from 'kysely';
import type { OperatorTx } from '../../db/scope.ts';

/**
 * Every table that holds tenant rows, read from the catalog (so a table added later cannot be
 * forgotten), ordered so that a table comes before the tables its foreign keys point to.
 */
export async function tenantTablesChildrenFirst(tx: OperatorTx): Promise<string[]> {
  // pg_catalog, not information_schema: the latter hides tables the role holds no privilege on,
  // which would drop them from the deletion and from the scan that proves it complete.
  const tables = await sql<{ table_name: string }>`
    select c.relname as table_name from pg_class c
    join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = 'public' and c.relkind in ('r', 'p') and not c.relispartition
      and exists (
        select 1 from pg_attribute a
        where a.attrelid = c.oid and a.attname = 'tenant_id' and a.attnum > 0 and not a.attisdropped
      )
    order by 1`.execute(tx);
  const edges = await sql<{ child: string; parent: string }>`
    select distinct cl.relname as child, pl.relname as parent from pg_constraint k
    join pg_class cl on cl.oid = k.conrelid join pg_class pl on pl.oid = k.confrelid
    join pg_namespace n on n.oid = cl.relnamespace
    where k.contype = 'f' and n.nspname = 'public' and cl.oid <> pl.oid`.execute(tx);
  const names = tables.rows.map((r) => r.table_name);
  const parentsOf = new Map(names.map((n) => [n, new Set<string>()]));
  for (const { child, parent } of edges.rows) parentsOf.get(child)?.add(parent);
  // Depth-first: a table is placed after every table that points at it.
  const childrenOf = new Map(names.map((n) => [n, [] as string[]]));
  for (const [child, parents] of parentsOf) for (const p of parents) childrenOf.get(p)?.push(child);
  const order: string[] = [];
  const placed = new Set<string>();
  const place = (table: string, path: Set<string>) => {
    if (placed.has(table)) return;
    if (path.has(table)) throw new Error(`foreign keys form a cycle through ${table}`);
    path.add(table);
    for (const child of childrenOf.get(table) ?? []) place(child, path);
    path.delete(table);
    placed.add(table);
    order.push(table);
  };
  for (const table of names) place(table, new Set());
  return order;
}

export async function countTenantRows(
  tx: OperatorTx,
  table: string,
  tenantId: string,
): Promise<number> {
  const result = await sql<{
    n: number;
  }>`select count(*)::int as n from ${sql.table(table)} where tenant_id = ${tenantId}`.execute(tx);
  return result.rows[0]?.n ?? 0;
}
