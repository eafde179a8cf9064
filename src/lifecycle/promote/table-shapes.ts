import { sql } from 'kysely';
import type { OperatorTx } from '../../db/scope.ts';
import { type ExportTable, readExportTables } from '../export/catalog.ts';
import { tenantTablesChildrenFirst } from '../delete/tenant-tables.ts';

/** A tenant table as a move copies it: its columns, key, and which columns the database computes. */
export interface TableShape extends ExportTable {
  generated: ReadonlySet<string>;
}

/** Every tenant table of this database, parents before the tables that point at them. */
export async function readTableShapes(tx: OperatorTx): Promise<TableShape[]> {
  // One after another: a transaction is one connection, which runs one statement at a time.
  const tables = await readExportTables(tx);
  const order = await tenantTablesChildrenFirst(tx);
  const generated = await sql<{ table_name: string; column_name: string }>`
    select c.relname as table_name, a.attname as column_name from pg_attribute a
    join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = 'public' and a.attnum > 0 and not a.attisdropped and a.attgenerated <> ''`.execute(
    tx,
  );
  const byName = new Map(tables.map((t) => [t.name, t]));
  return order.reverse().map((name) => {
    const table = byName.get(name);
    if (table === undefined) throw new Error(`tenant table ${name} missing from the catalog read`);
    const computed = generated.rows.filter((r) => r.table_name === name).map((r) => r.column_name);
    return { ...table, generated: new Set(computed) };
  });
}

const describe = (t: TableShape) => t.columns.map((c) => `${c.name} ${c.sqlType}`);

/**
 * What differs between the tenant tables of two databases (same migrations, same extensions): a
 * move between them would lose or mangle columns, so it is refused with this list.
 */
export function shapeDifferences(from: readonly TableShape[], to: readonly TableShape[]): string[] {
  const target = new Map(to.map((t) => [t.name, t]));
  const differences: string[] = [];
  for (const table of from) {
    const other = target.get(table.name);
    if (other === undefined) {
      differences.push(`table ${table.name} is missing`);
      continue;
    }
    const want = describe(table);
    const have = new Set(describe(other));
    for (const column of want) {
      if (!have.has(column)) differences.push(`${table.name}: column "${column}" is missing`);
    }
    for (const column of have) {
      if (!want.includes(column)) differences.push(`${table.name}: extra column "${column}"`);
    }
  }
  for (const table of to) {
    if (!from.some((t) => t.name === table.name))
      differences.push(`table ${table.name} exists only in the target`);
  }
  return differences;
}
