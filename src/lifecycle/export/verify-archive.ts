import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { extract } from 'tar-stream';
import { z } from 'zod';
import {
  ARCHIVE_FIRST_ENTRY,
  ARCHIVE_FORMAT,
  ARCHIVE_LAST_ENTRY,
  ARCHIVE_SUMS_ENTRY,
} from './export-archive.ts';

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/);
const count = z.number().int().min(0);

/** What `manifest.json` must hold to be checked; it is read from a file, so it is untrusted. */
const manifestSchema = z.object({
  format: z.literal(ARCHIVE_FORMAT),
  tenantId: z.string(),
  rows: count,
  bytes: count,
  sha256: sha256Hex,
  tables: z.array(
    z.object({
      name: z.string(),
      rows: count,
      bytes: count,
      sha256: sha256Hex,
      parts: z.array(z.string()),
    }),
  ),
  files: z.array(
    z.object({
      path: z.string(),
      bytes: count,
      sha256: sha256Hex,
      table: z.string().optional(),
      rows: count.optional(),
    }),
  ),
});
const headerSchema = z.object({ format: z.literal(ARCHIVE_FORMAT), tenantId: z.string() });

export interface ArchiveReport {
  ok: boolean;
  /** One line each, naming the file concerned. */
  problems: string[];
  tenantId: string | null;
  tables: number;
  rows: number;
  /** Files whose size and SHA-256 matched the manifest. */
  verifiedFiles: number;
}

interface SeenEntry {
  path: string;
  bytes: number;
  sha256: string;
  rows: number;
}

/** Small files of the archive are kept to be parsed; anything larger is not a real one. */
const MAX_METADATA_BYTES = 64 * 1024 * 1024;
const tablePath = /^tables\/([^/]+)\/part-\d{5}\.jsonl$/;

/**
 * Reads a `bulkhead-export/2` archive once, streaming, and checks it against its own manifest:
 * `export.json` first and `manifest.json` last (otherwise it is incomplete), every file the manifest
 * lists present with its size, row count and SHA-256, no file it does not list, each table's
 * checksum over its parts in order, and `SHA256SUMS` in agreement. Memory is bounded by the largest
 * metadata file, not by the archive.
 */
export async function verifyExportArchive(file: string): Promise<ArchiveReport> {
  const problems: string[] = [];
  const seen: SeenEntry[] = [];
  const kept = new Map<string, Buffer>();
  const tableHashes = new Map<string, Hash>();
  const tableOrder = new Map<string, string[]>();
  const allRows = createHash('sha256');
  try {
    const reader = extract();
    createReadStream(file)
      .on('error', (err) => reader.destroy(err))
      .pipe(reader);
    for await (const entry of reader) {
      const path = entry.header.name;
      const hash = createHash('sha256');
      const table = tablePath.exec(path)?.[1];
      if (table !== undefined && !tableHashes.has(table)) {
        tableHashes.set(table, createHash('sha256'));
        tableOrder.set(table, []);
      }
      if (table !== undefined) tableOrder.get(table)!.push(path);
      const keep = table === undefined ? ([] as Buffer[]) : null;
      let bytes = 0;
      let rows = 0;
      for await (const chunk of entry as AsyncIterable<Buffer>) {
        hash.update(chunk);
        bytes += chunk.length;
        if (table !== undefined) {
          tableHashes.get(table)!.update(chunk);
          allRows.update(chunk);
          rows += countNewlines(chunk);
        } else if (bytes <= MAX_METADATA_BYTES) keep!.push(chunk);
      }
      if (keep !== null && bytes <= MAX_METADATA_BYTES) kept.set(path, Buffer.concat(keep));
      if (seen.some((s) => s.path === path)) problems.push(`${path}: appears more than once`);
      seen.push({ path, bytes, sha256: hash.digest('hex'), rows });
    }
  } catch (err) {
    problems.push(
      `not a complete tar archive (${(err as Error).message}): the transfer was cut or the file is damaged`,
    );
  }
  const report = (tenantId: string | null, tables = 0, rows = 0, verifiedFiles = 0) => ({
    ok: problems.length === 0,
    problems,
    tenantId,
    tables,
    rows,
    verifiedFiles,
  });

  if (seen.length === 0 && problems.length === 0) problems.push('the archive is empty');
  if (seen.length > 0 && seen[0]!.path !== ARCHIVE_FIRST_ENTRY)
    problems.push(`${ARCHIVE_FIRST_ENTRY}: not the first entry (found ${seen[0]!.path})`);
  const header = parseJson(kept.get(ARCHIVE_FIRST_ENTRY), headerSchema);
  if (seen.some((s) => s.path === ARCHIVE_FIRST_ENTRY) && header === null)
    problems.push(`${ARCHIVE_FIRST_ENTRY}: not a ${ARCHIVE_FORMAT} header`);
  if (seen.at(-1)?.path !== ARCHIVE_LAST_ENTRY) {
    problems.push(
      `${ARCHIVE_LAST_ENTRY}: missing at the end of the archive, so the export is incomplete (cut off, or it failed part-way)`,
    );
    return report(header?.tenantId ?? null);
  }
  const manifest = parseJson(kept.get(ARCHIVE_LAST_ENTRY), manifestSchema);
  if (manifest === null) {
    problems.push(`${ARCHIVE_LAST_ENTRY}: not a ${ARCHIVE_FORMAT} manifest`);
    return report(header?.tenantId ?? null);
  }
  if (header !== null && header.tenantId !== manifest.tenantId)
    problems.push(
      `${ARCHIVE_FIRST_ENTRY}: tenant ${header.tenantId}, manifest says ${manifest.tenantId}`,
    );

  // Every listed file, byte for byte; and nothing unlisted.
  const byPath = new Map(seen.map((s) => [s.path, s]));
  const listed = new Set(manifest.files.map((f) => f.path));
  let verifiedFiles = 0;
  for (const f of manifest.files) {
    const found = byPath.get(f.path);
    if (found === undefined) {
      problems.push(`${f.path}: listed in the manifest but not in the archive`);
      continue;
    }
    const before = problems.length;
    if (found.bytes !== f.bytes)
      problems.push(`${f.path}: ${found.bytes} bytes, the manifest says ${f.bytes}`);
    if (found.sha256 !== f.sha256)
      problems.push(`${f.path}: SHA-256 differs (manifest ${f.sha256}, file ${found.sha256})`);
    if (f.rows !== undefined && found.rows !== f.rows)
      problems.push(`${f.path}: ${found.rows} rows, the manifest says ${f.rows}`);
    if (problems.length === before) verifiedFiles++;
  }
  for (const s of seen)
    if (s.path !== ARCHIVE_LAST_ENTRY && !listed.has(s.path))
      problems.push(`${s.path}: in the archive but not listed in the manifest`);

  // Each table over its parts, in order; then the totals.
  let rows = 0;
  for (const t of manifest.tables) {
    const parts = tableOrder.get(t.name) ?? [];
    if (parts.join('\n') !== t.parts.join('\n'))
      problems.push(`table ${t.name}: parts in the archive differ from the manifest's list`);
    const digest = tableHashes.get(t.name)?.digest('hex') ?? createHash('sha256').digest('hex');
    if (digest !== t.sha256)
      problems.push(
        `table ${t.name}: SHA-256 over its parts differs (manifest ${t.sha256}, files ${digest})`,
      );
    const counted = parts.reduce((sum, p) => sum + (byPath.get(p)?.rows ?? 0), 0);
    if (counted !== t.rows)
      problems.push(`table ${t.name}: ${counted} rows in its files, the manifest says ${t.rows}`);
    rows += counted;
  }
  for (const table of tableOrder.keys())
    if (!manifest.tables.some((t) => t.name === table))
      problems.push(`table ${table}: in the archive but not in the manifest`);
  if (rows !== manifest.rows)
    problems.push(
      `${ARCHIVE_LAST_ENTRY}: says ${manifest.rows} rows in all, the files hold ${rows}`,
    );
  if (allRows.digest('hex') !== manifest.sha256)
    problems.push(`${ARCHIVE_LAST_ENTRY}: SHA-256 over all tables differs from the files`);

  // SHA256SUMS is for `sha256sum -c`; it must say what the manifest says.
  const sums = kept.get(ARCHIVE_SUMS_ENTRY)?.toString('utf8');
  if (sums === undefined) problems.push(`${ARCHIVE_SUMS_ENTRY}: missing`);
  else {
    const lines = sums.split('\n').filter((l) => l !== '');
    const fromManifest = manifest.files.filter((f) => f.path !== ARCHIVE_SUMS_ENTRY);
    const expected = fromManifest.map((f) => `${f.sha256}  ${f.path}`);
    if (lines.join('\n') !== expected.join('\n'))
      problems.push(`${ARCHIVE_SUMS_ENTRY}: does not match the manifest`);
  }
  return report(manifest.tenantId, manifest.tables.length, rows, verifiedFiles);
}

function parseJson<T>(bytes: Buffer | undefined, schema: z.ZodType<T>): T | null {
  if (bytes === undefined) return null;
  try {
    const parsed = schema.safeParse(JSON.parse(bytes.toString('utf8')));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

export function countNewlines(chunk: Uint8Array): number {
  let n = 0;
  for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) n++;
  return n;
}
