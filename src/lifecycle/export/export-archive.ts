import { createHash } from 'node:crypto';
import { pack as tarPack, type Pack } from 'tar-stream';
import { describeContent, type ExportSource, tableRowPages } from './export-lines.ts';

export const ARCHIVE_FORMAT = 'bulkhead-export/2';
/** A table file closes at the first row that takes it to this size or past it. */
export const DEFAULT_PART_BYTES = 8 * 1024 * 1024;

/** Sent before the body: the rows counted at the start, what a client measures progress against. */
export const EXPECTED_ROWS_HEADER = 'x-bulkhead-export-rows';

export const ARCHIVE_FIRST_ENTRY = 'export.json';
export const ARCHIVE_SUMS_ENTRY = 'SHA256SUMS';
export const ARCHIVE_LAST_ENTRY = 'manifest.json';

export const partPath = (table: string, n: number) =>
  `tables/${table}/part-${String(n).padStart(5, '0')}.jsonl`;

export interface ArchiveOptions {
  /** Each table's row count at the start (`countExportRows`): what progress is measured against. */
  expectedRows: ReadonlyMap<string, number>;
  partBytes?: number;
  /** For `completedAt` in the manifest. */
  now: () => Date;
}

export interface ArchiveFile {
  path: string;
  bytes: number;
  sha256: string;
  /** Table files only. */
  table?: string;
  rows?: number;
}

export interface ArchiveTable {
  name: string;
  rows: number;
  expectedRows: number;
  bytes: number;
  sha256: string;
  parts: string[];
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const jsonFile = (value: unknown) => Buffer.from(`${JSON.stringify(value, null, 2)}\n`, 'utf8');

/**
 * The export as a tar stream, format `bulkhead-export/2`: `export.json` first (what is coming and
 * how many rows each table held at the start), then each table's row lines as JSONL files of
 * bounded size (`tables/<table>/part-00001.jsonl`, …), then `SHA256SUMS` and, last, `manifest.json`
 * with the exact rows, bytes and SHA-256 of every file and table. Tar wants each entry's size before
 * its bytes, so a part is gathered in memory, up to `partBytes` plus one row, and then written:
 * memory stays bounded whatever the tenant's size. A stream that ends without `manifest.json` is
 * incomplete.
 */
export async function* exportArchive(
  source: ExportSource,
  options: ArchiveOptions,
): AsyncGenerator<Uint8Array> {
  const pack = tarPack();
  const writing = writeEntries(pack, source, options).then(
    () => pack.finalize(),
    (err: unknown) => {
      pack.destroy(err instanceof Error ? err : new Error(String(err)));
    },
  );
  try {
    for await (const chunk of pack as AsyncIterable<Uint8Array>) yield chunk;
  } finally {
    // The reader left early (the client went away) or the writer failed: stop the writer, which
    // then fails its next entry; wait for it so no page read outlives the export.
    pack.destroy();
    await writing;
  }
}

async function writeEntries(pack: Pack, source: ExportSource, options: ArchiveOptions) {
  const partBytes = options.partBytes ?? DEFAULT_PART_BYTES;
  const mtime = source.exportedAt;
  const files: ArchiveFile[] = [];
  // Resolves once the pack has taken the entry into its buffer, which it only does while the reader
  // keeps up: this is where a slow client slows the export down.
  const add = (path: string, body: Buffer, about: Partial<ArchiveFile> = {}) => {
    files.push({ path, bytes: body.length, sha256: sha256(body), ...about });
    return new Promise<void>((resolve, reject) => {
      pack.entry({ name: path, size: body.length, mtime, mode: 0o644 }, body, (err) =>
        err ? reject(err) : resolve(),
      );
    });
  };

  const expected = source.tables.map((t) => ({
    name: t.name,
    expectedRows: options.expectedRows.get(t.name) ?? 0,
  }));
  await add(
    ARCHIVE_FIRST_ENTRY,
    jsonFile({
      format: ARCHIVE_FORMAT,
      tenantId: source.tenantId,
      exportedAt: source.exportedAt.toISOString(),
      expectedRows: expected.reduce((sum, t) => sum + t.expectedRows, 0),
      tables: expected,
      note: 'expectedRows are counted when the export starts; rows written or deleted while it runs may make the final counts in manifest.json differ slightly.',
    }),
  );

  const tables: ArchiveTable[] = [];
  const total = createHash('sha256');
  let totalRows = 0;
  let totalBytes = 0;
  for (const table of source.tables) {
    const tableHash = createHash('sha256');
    const summary: ArchiveTable = {
      name: table.name,
      rows: 0,
      expectedRows: options.expectedRows.get(table.name) ?? 0,
      bytes: 0,
      sha256: '',
      parts: [],
    };
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let pendingRows = 0;
    const flush = async () => {
      const body = Buffer.concat(pending, pendingBytes);
      const path = partPath(table.name, summary.parts.length + 1);
      tableHash.update(body);
      total.update(body);
      summary.parts.push(path);
      summary.rows += pendingRows;
      summary.bytes += pendingBytes;
      const rows = pendingRows;
      pending = [];
      pendingBytes = 0;
      pendingRows = 0;
      await add(path, body, { table: table.name, rows });
    };
    for await (const page of tableRowPages(source, table)) {
      for (const text of page) {
        const bytes = Buffer.from(text, 'utf8');
        pending.push(bytes);
        pendingBytes += bytes.length;
        pendingRows++;
        if (pendingBytes >= partBytes) await flush();
      }
    }
    // Every table gets at least one file, empty if it has no rows: the archive shows all of them.
    if (pendingRows > 0 || summary.parts.length === 0) await flush();
    summary.sha256 = tableHash.digest('hex');
    totalRows += summary.rows;
    totalBytes += summary.bytes;
    tables.push(summary);
  }

  await add(
    ARCHIVE_SUMS_ENTRY,
    Buffer.from(files.map((f) => `${f.sha256}  ${f.path}\n`).join(''), 'utf8'),
  );
  await add(
    ARCHIVE_LAST_ENTRY,
    jsonFile({
      format: ARCHIVE_FORMAT,
      tenantId: source.tenantId,
      exportedAt: source.exportedAt.toISOString(),
      completedAt: options.now().toISOString(),
      rows: totalRows,
      bytes: totalBytes,
      sha256: total.digest('hex'),
      tables,
      files,
      ...describeContent(source),
      checksums:
        "sha256 of each file's bytes; a table's sha256 is over its parts concatenated in order (its row lines, each with its newline), the top-level sha256 over all tables' parts in table order. manifest.json is not in files: it is the last entry, and its presence is what says the archive is complete.",
    }),
  );
}
