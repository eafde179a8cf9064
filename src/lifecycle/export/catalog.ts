import { sql } from 'kysely';
import { AUDIT_PAYLOAD_PURPOSE } from '../../audit/append.ts';
import type { OperatorTx, TenantTx } from '../../db/scope.ts';
import {
  APPROVAL_REQUEST_PURPOSE,
  APPROVAL_RESULT_PURPOSE,
} from '../../governance/approvals/repository.ts';
import { THREAD_MESSAGE_PURPOSE } from '../../memory/messages.ts';

/**
 * Columns that hold secrets or key material. They are exported as `null` and named in the
 * manifest: an export is tenant data, not a way to lift credentials out of the platform.
 */
export const WITHHELD_COLUMNS: ReadonlySet<string> = new Set([
  'api_keys.key_hash',
  'providers.sealed_api_key',
  'tenant_data_keys.wrapped_key',
  'audit_events.sealed_payload',
  'approvals.sealed_request',
  'approvals.sealed_result',
  'thread_messages.sealed_content',
  'tenant_placements.sealed_url',
]);

/**
 * Sealed tenant content: withheld as ciphertext (it is useless outside the platform), and, in the
 * tenant's own export, opened with its data key and carried on the row line under `as`.
 */
export const SEALED_CONTENT: readonly {
  table: string;
  column: string;
  purpose: string;
  as: string;
  json: boolean;
}[] = [
  {
    table: 'audit_events',
    column: 'sealed_payload',
    purpose: AUDIT_PAYLOAD_PURPOSE,
    as: 'payload',
    json: true,
  },
  {
    table: 'approvals',
    column: 'sealed_request',
    purpose: APPROVAL_REQUEST_PURPOSE,
    as: 'request',
    json: true,
  },
  {
    table: 'approvals',
    column: 'sealed_result',
    purpose: APPROVAL_RESULT_PURPOSE,
    as: 'result',
    json: true,
  },
  {
    table: 'thread_messages',
    column: 'sealed_content',
    purpose: THREAD_MESSAGE_PURPOSE,
    as: 'content',
    json: false,
  },
];

export interface ExportColumn {
  name: string;
  /** `pg_type.typname`, e.g. `int8`, `timestamptz`, `_text`. */
  type: string;
  /** `format_type(…)`, for casting keyset parameters back to the column's type. */
  sqlType: string;
}

export interface ExportTable {
  name: string;
  columns: ExportColumn[];
  /** Primary-key columns in key order: the export reads and pages in this order. */
  primaryKey: ExportColumn[];
}

interface CatalogRow {
  table_name: string;
  column_name: string;
  type_name: string;
  sql_type: string;
  pk_position: number | null;
}

/**
 * Every table of schema `public` with a `tenant_id` column, read from the live catalog at run time,
 * so a table added later is exported without anyone remembering to add it here. This reads
 * `pg_catalog` rather than `information_schema.columns`: the latter only shows tables the current
 * role holds privileges on, so a table the application role could not read would silently drop out
 * of the export; here it fails the export loudly instead (permission denied on the first page).
 */
export async function readExportTables(tx: TenantTx | OperatorTx): Promise<ExportTable[]> {
  const result = await sql<CatalogRow>`
    select c.relname as table_name, a.attname as column_name, t.typname as type_name,
      format_type(a.atttypid, a.atttypmod) as sql_type,
      array_position(i.indkey::int2[], a.attnum) as pk_position
    from pg_class c
    join pg_namespace n on n.oid = c.relnamespace
    join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
    join pg_type t on t.oid = a.atttypid
    left join pg_index i on i.indrelid = c.oid and i.indisprimary
    where n.nspname = 'public' and c.relkind in ('r', 'p') and not c.relispartition
      and exists (
        select 1 from pg_attribute x
        where x.attrelid = c.oid and x.attname = 'tenant_id' and x.attnum > 0 and not x.attisdropped
      )
    order by c.relname, a.attnum`.execute(tx);

  const tables = new Map<string, ExportTable>();
  const keyParts = new Map<string, { position: number; column: ExportColumn }[]>();
  for (const row of result.rows) {
    let table = tables.get(row.table_name);
    if (table === undefined) {
      table = { name: row.table_name, columns: [], primaryKey: [] };
      tables.set(row.table_name, table);
      keyParts.set(row.table_name, []);
    }
    const column = { name: row.column_name, type: row.type_name, sqlType: row.sql_type };
    table.columns.push(column);
    if (row.pk_position !== null)
      keyParts.get(row.table_name)!.push({ position: Number(row.pk_position), column });
  }
  for (const table of tables.values()) {
    const parts = keyParts.get(table.name)!.sort((x, y) => x.position - y.position);
    // Paging needs a total order; a tenant table without a primary key is a schema bug.
    if (parts.length === 0) throw new Error(`tenant table ${table.name} has no primary key`);
    table.primaryKey = parts.map((p) => p.column);
  }
  return [...tables.values()];
}

/**
 * The tenant's row count of each table, in one statement, at the start of an export: what progress
 * is measured against. Later pages run in their own transactions, so for a live tenant the rows
 * finally exported may differ slightly from these counts; the archive's manifest has the exact ones.
 */
export async function countExportRows(
  tx: TenantTx | OperatorTx,
  tables: readonly ExportTable[],
  tenantId: string,
): Promise<Map<string, number>> {
  const counts = new Map<string, number>(tables.map((t) => [t.name, 0]));
  if (tables.length === 0) return counts;
  const result = await sql<{ i: number; n: string }>`${sql.join(
    tables.map(
      (t, i) =>
        sql`select ${sql.lit(i)}::int as i, count(*)::text as n from ${sql.raw(quoteIdent(t.name))} where tenant_id = ${tenantId}`,
    ),
    sql` union all `,
  )}`.execute(tx);
  for (const row of result.rows) counts.set(tables[Number(row.i)]!.name, Number(row.n));
  return counts;
}

export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** Types the drivers already turn into the JSON we want (arrays of them included). */
const passThrough = new Set([
  'text',
  'varchar',
  'bpchar',
  'name',
  'uuid',
  'bool',
  'int2',
  'int4',
  'float4',
  'float8',
  'json',
  'jsonb',
  'bytea',
  '_text',
  '_varchar',
  '_bool',
  '_int2',
  '_int4',
]);

/**
 * The select expression that makes a column's value the same JSON on PostgreSQL and PGlite:
 * timestamps as ISO 8601 in UTC with microseconds (a JS Date would drop them), bigint and numeric as
 * decimal strings (lossless), anything unfamiliar as its text form. `bytea` is encoded in JS.
 */
export function columnExpression(table: string, column: ExportColumn): string {
  const ident = quoteIdent(column.name);
  if (WITHHELD_COLUMNS.has(`${table}.${column.name}`)) return `null as ${ident}`;
  if (passThrough.has(column.type)) return ident;
  if (column.type === 'timestamptz')
    return `to_char(${ident} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as ${ident}`;
  if (column.type === 'timestamp')
    return `to_char(${ident}, 'YYYY-MM-DD"T"HH24:MI:SS.US') as ${ident}`;
  return `${ident}::text as ${ident}`;
}
