import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import type { OperatorTx } from '../../db/scope.ts';
import { quoteIdent } from '../export/catalog.ts';
import type { TableShape } from './table-shapes.ts';

export const COPY_PAGE_SIZE = 1000;

export interface TableDigest {
  rows: number;
  sha256: string;
}

/**
 * The tenant's rows of one table as canonical JSON text (jsonb's own output, computed columns left
 * out), in primary-key order, handed over a page at a time. The same text in both databases means
 * the same row: it is what is copied and what the checksums are taken over. A cursor reads the
 * table once, whatever plan the database picks (a table just filled has no statistics).
 */
export async function readRowsInPages(
  tx: OperatorTx,
  table: TableShape,
  tenantId: string,
  onPage: (docs: string[]) => Promise<void> | void,
): Promise<void> {
  const key = table.primaryKey.map((c) => `t.${quoteIdent(c.name)}`).join(', ');
  const computed = [...table.generated].map((c) => sql.lit(c));
  const doc =
    computed.length === 0
      ? sql`to_jsonb(t)::text`
      : sql`(to_jsonb(t) - array[${sql.join(computed)}]::text[])::text`;
  // A cursor's query takes no parameters; the tenant id is a checked id, quoted as a literal.
  await sql`declare tenant_rows no scroll cursor for
    select ${doc} as doc from ${sql.raw(quoteIdent(table.name))} t
    where t.tenant_id = ${sql.lit(tenantId)} order by ${sql.raw(key)}`.execute(tx);
  for (;;) {
    const page = await sql<{
      doc: string;
    }>`fetch forward ${sql.lit(COPY_PAGE_SIZE)} from tenant_rows`.execute(tx);
    if (page.rows.length > 0) await onPage(page.rows.map((r) => r.doc));
    if (page.rows.length < COPY_PAGE_SIZE) break;
  }
  await sql`close tenant_rows`.execute(tx);
}

/** Inserts rows given as the JSON text `readRowsInPages` produced, typed by the target table itself. */
export async function insertRows(
  tx: OperatorTx,
  table: TableShape,
  docs: readonly string[],
): Promise<void> {
  if (docs.length === 0) return;
  const columns = table.columns
    .filter((c) => !table.generated.has(c.name))
    .map((c) => quoteIdent(c.name))
    .join(', ');
  const name = quoteIdent(table.name);
  await sql`insert into ${sql.raw(name)} (${sql.raw(columns)})
    select ${sql.raw(columns)} from jsonb_populate_recordset(null::${sql.raw(name)}, ${`[${docs.join(',')}]`}::jsonb)`.execute(
    tx,
  );
}

/** Row count and SHA-256 over the row texts (each followed by a newline), in key order. */
export async function digestTable(
  tx: OperatorTx,
  table: TableShape,
  tenantId: string,
): Promise<TableDigest> {
  const hash = createHash('sha256');
  let rows = 0;
  await readRowsInPages(tx, table, tenantId, (docs) => {
    for (const doc of docs) hash.update(`${doc}\n`, 'utf8');
    rows += docs.length;
  });
  return { rows, sha256: hash.digest('hex') };
}

export async function deleteTenantRows(
  tx: OperatorTx,
  table: string,
  tenantId: string,
): Promise<number> {
  const deleted =
    await sql`delete from ${sql.raw(quoteIdent(table))} where tenant_id = ${tenantId}`.execute(tx);
  return Number(deleted.numAffectedRows ?? 0);
}
