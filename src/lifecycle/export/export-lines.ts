import { createHash, type Hash } from 'node:crypto';
import { sql } from 'kysely';
import { UNREADABLE } from '../../audit/routes.ts';
import type { OperatorTx, TenantTx } from '../../db/scope.ts';
import {
  columnExpression,
  type ExportTable,
  quoteIdent,
  SEALED_CONTENT,
  WITHHELD_COLUMNS,
} from './catalog.ts';

export const EXPORT_FORMAT = 'bulkhead-export/1';
export const EXPORT_PAGE_SIZE = 500;

type ScopedTx = TenantTx | OperatorTx;

export interface ExportSource {
  tenantId: string;
  tables: readonly ExportTable[];
  exportedAt: Date;
  pageSize?: number;
  /** Runs one page read in its own short transaction (`withTenant` or `withOperator`). */
  inTransaction<T>(fn: (tx: ScopedTx) => Promise<T>): Promise<T>;
  /**
   * Given only on the tenant's own route: opens sealed content (SEALED_CONTENT: audit payloads,
   * thread messages, held requests and their results) with the tenant's key; each rides on its
   * row line under its `as` name. Without it the content is withheld. A value that does not open
   * comes back null.
   */
  openSealed?: (
    tx: ScopedTx,
    purpose: string,
    sealed: readonly (Uint8Array | null)[],
  ) => Promise<(string | null)[]>;
}

type DbRow = Record<string, unknown>;

const keyAlias = (i: number) => `__export_key_${i}`;
const sealedAlias = (i: number) => `__export_sealed_${i}`;
type Sealed = (typeof SEALED_CONTENT)[number];

async function readPage(
  tx: ScopedTx,
  table: ExportTable,
  tenantId: string,
  after: readonly string[] | null,
  limit: number,
  sealed: readonly Sealed[],
): Promise<DbRow[]> {
  const select = [
    ...table.columns.map((c) => columnExpression(table.name, c)),
    // The key as text, to resume after the last row whatever its type.
    ...table.primaryKey.map((c, i) => `${quoteIdent(c.name)}::text as ${keyAlias(i)}`),
    ...sealed.map((c, i) => `${quoteIdent(c.column)} as ${sealedAlias(i)}`),
  ].join(', ');
  // Qualified, so ORDER BY means the column and not the output alias of the same name (which may
  // be its text form: bigint keys would then sort as strings).
  const key = table.primaryKey
    .map((c) => `${quoteIdent(table.name)}.${quoteIdent(c.name)}`)
    .join(', ');
  const resume =
    after === null
      ? sql``
      : sql`and (${sql.raw(key)}) > (${sql.join(
          after.map((v, i) => sql`${v}::text::${sql.raw(table.primaryKey[i]!.sqlType)}`),
        )})`;
  // Table and column names come only from the catalog, quoted; values are parameters. The tenant
  // filter is explicit on both routes (RLS already enforces it on the tenant's own).
  const result = await sql<DbRow>`select ${sql.raw(select)} from ${sql.raw(quoteIdent(table.name))}
    where tenant_id = ${tenantId} ${resume}
    order by ${sql.raw(key)} limit ${sql.lit(limit)}`.execute(tx);
  return result.rows;
}

function jsonValue(value: unknown): unknown {
  if (value instanceof Uint8Array) return { $bytes: Buffer.from(value).toString('base64') };
  return value;
}

/**
 * What the manifest says about withheld and sealed columns: only those of tables that exist (a
 * column listed in catalog.ts but dropped from the schema is not claimed).
 */
export function describeContent(source: Pick<ExportSource, 'tables' | 'openSealed'>) {
  const present = new Set(
    source.tables.flatMap((t) => t.columns.map((c) => `${t.name}.${c.name}`)),
  );
  const status = source.openSealed !== undefined ? 'included' : 'withheld';
  return {
    withheld: [...WITHHELD_COLUMNS].filter((c) => present.has(c)),
    auditPayloads: status,
    sealedContent: SEALED_CONTENT.filter((c) => present.has(`${c.table}.${c.column}`)).map((c) => ({
      column: `${c.table}.${c.column}`,
      field: c.as,
      status,
    })),
  } as const;
}

/**
 * One table's row lines (each ending in `\n`), a page at a time, in primary-key order. Each page is
 * read in its own short transaction, so no transaction stays open while a slow client drains the
 * stream.
 */
export async function* tableRowPages(
  source: ExportSource,
  table: ExportTable,
): AsyncGenerator<string[]> {
  const pageSize = source.pageSize ?? EXPORT_PAGE_SIZE;
  const open = source.openSealed;
  const sealed = open === undefined ? [] : SEALED_CONTENT.filter((c) => c.table === table.name);
  let after: string[] | null = null;
  for (;;) {
    const page: string[] = await source.inTransaction(async (tx) => {
      const found = await readPage(tx, table, source.tenantId, after, pageSize, sealed);
      const opened = await Promise.all(
        sealed.map(async (c, i) => {
          const values = found.map((r) => (r[sealedAlias(i)] ?? null) as Uint8Array | null);
          const texts = await open!(tx, c.purpose, values);
          return values.map((v, n) => contentValue(c, v, texts[n] ?? null));
        }),
      );
      after =
        found.length === 0
          ? after
          : table.primaryKey.map((_, i) => String(found.at(-1)![keyAlias(i)]));
      return found.map((r, n) =>
        rowLine(table, r, Object.fromEntries(sealed.map((c, i) => [c.as, opened[i]![n]]))),
      );
    });
    if (page.length > 0) yield page;
    if (page.length < pageSize) return;
  }
}

/**
 * The export as JSONL lines (each ending in `\n`), format `bulkhead-export/1`: a manifest, every
 * row of every tenant table in primary-key order, a `table-end` line with the row count and SHA-256
 * of that table's row lines, and an `end` line with the total count and SHA-256 of all row lines.
 */
export async function* exportLines(source: ExportSource): AsyncGenerator<string> {
  yield line({
    type: 'manifest',
    format: EXPORT_FORMAT,
    tenantId: source.tenantId,
    exportedAt: source.exportedAt.toISOString(),
    tables: source.tables.map((t) => t.name),
    ...describeContent(source),
    checksums: 'sha256 over the UTF-8 bytes of the row lines, each with its newline, in order',
  });

  const total = createHash('sha256');
  let totalRows = 0;
  for (const table of source.tables) {
    const tableHash = createHash('sha256');
    let rows = 0;
    for await (const page of tableRowPages(source, table)) {
      for (const text of page) {
        hashLine(text, tableHash, total);
        yield text;
      }
      rows += page.length;
    }
    totalRows += rows;
    yield line({ type: 'table-end', table: table.name, rows, sha256: tableHash.digest('hex') });
  }
  yield line({ type: 'end', rows: totalRows, sha256: total.digest('hex') });
}

function contentValue(column: Sealed, sealed: Uint8Array | null, text: string | null): unknown {
  if (sealed === null) return null;
  if (text === null) return UNREADABLE;
  return column.json ? (JSON.parse(text) as unknown) : text;
}

function rowLine(table: ExportTable, dbRow: DbRow, opened: Record<string, unknown>): string {
  const row: DbRow = {};
  for (const column of table.columns) row[column.name] = jsonValue(dbRow[column.name]);
  return line({ type: 'row', table: table.name, row, ...opened });
}

function hashLine(text: string, ...hashes: Hash[]): void {
  const bytes = Buffer.from(text, 'utf8');
  for (const h of hashes) h.update(bytes);
}

function line(value: unknown): string {
  return `${JSON.stringify(value)}\n`;
}
