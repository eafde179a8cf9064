/**
 * Tenant export throughput: one tenant with ~100k rows (usage records, written in bulk as the schema
 * owner with one `insert … select generate_series`), exported over HTTP from a real `bulkhead
 * serve` child process, as the tar archive (`bulkhead-export/2`) and as the JSONL stream
 * (`bulkhead-export/1`). Per run: rows/s, MB/s, the server's CPU time, and the server's peak RSS
 * above its RSS just before the export (Linux: the peak is reset through /proc/<pid>/clear_refs
 * and read from VmHWM, so short peaks between samples are not missed).
 *
 *   nice -n 10 node --import tsx bench/export-throughput.ts [--db postgres|pglite] [--rows 100000]
 *     [--rounds 2] [--part-bytes 8388608] [--database-url postgres://postgres@127.0.0.1:5432/postgres]
 *     [--results bench/RESULTS.md] [--no-results]
 *
 * `--db postgres` (the default) gives the server a fresh database on that PostgreSQL server, so the
 * server process holds only Node's memory; `--db pglite` uses the embedded database, which runs in
 * the server process, so its RSS includes the database's buffers. The client reads as fast as it
 * can and keeps nothing but a count and the last bytes (to check the export completed).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { openDatabase } from '../src/db/database.ts';
import { migrate } from '../src/db/migrate.ts';
import { APP_ROLE } from '../src/db/roles.ts';
import {
  type Child,
  cpuTimeMs,
  freePort,
  startChild,
  stopAllChildren,
  waitForHttp,
} from './support/children.ts';
import { writeResultsSection } from './support/results-file.ts';
import { gitDescription, machineDescription } from './support/run-info.ts';

const benchDir = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(benchDir, '..');
const HEADING = 'Tenant export throughput';

const { values: flags } = parseArgs({
  args: process.argv.slice(2),
  options: {
    db: { type: 'string', default: 'postgres' },
    rows: { type: 'string', default: '100000' },
    rounds: { type: 'string', default: '2' },
    'part-bytes': { type: 'string', default: String(8 * 1024 * 1024) },
    'database-url': { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/postgres' },
    results: { type: 'string', default: join(benchDir, 'RESULTS.md') },
    'no-results': { type: 'boolean', default: false },
  },
});
const options = {
  db: flags.db,
  rows: Number(flags.rows),
  rounds: Number(flags.rounds),
  partBytes: Number(flags['part-bytes']),
  databaseUrl: flags['database-url'],
  resultsFile: flags['no-results'] ? null : resolve(flags.results),
};
if (options.db !== 'postgres' && options.db !== 'pglite') throw new Error('--db: postgres|pglite');
for (const [name, value] of [
  ['rows', options.rows],
  ['rounds', options.rounds],
  ['part-bytes', options.partBytes],
] as const) {
  if (!Number.isInteger(value) || value <= 0) throw new Error(`--${name}: a positive integer`);
}

const log = (line = '') => process.stdout.write(`${line}\n`);
const tempDirs: string[] = [];
const adminToken = `bench-admin-${randomBytes(24).toString('hex')}`;
const masterKey = randomBytes(32).toString('base64');

// ---------------------------------------------------------------------------------------------
// The database and the server

interface Store {
  /** The server's DATABASE_URL, or null for the embedded database in `dataDir`. */
  appUrl: string | null;
  dataDir: string;
  /** Runs SQL as the schema owner (with the server stopped, for the embedded database). */
  ownerQuery(text: string, params?: unknown[]): Promise<void>;
  close(): Promise<void>;
}

async function createStore(): Promise<Store> {
  const dataDir = mkdtempSync(join(os.tmpdir(), 'bulkhead-export-bench-'));
  tempDirs.push(dataDir);
  if (options.db === 'pglite') {
    return {
      appUrl: null,
      dataDir,
      async ownerQuery(text, params = []) {
        const db = await openDatabase({ dataDir });
        try {
          const session = await db.backend.acquire();
          try {
            await session.query(text, params);
          } finally {
            session.release();
          }
        } finally {
          await db.close();
        }
      },
      close: () => Promise.resolve(),
    };
  }
  const name = `bk_bench_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: options.databaseUrl });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const ownerUrl = new URL(options.databaseUrl);
  ownerUrl.pathname = `/${name}`;
  const owner = await openDatabase({ url: ownerUrl.toString(), dataDir: null });
  await migrate(owner.backend);
  const run = async (text: string, params: unknown[] = []) => {
    const session = await owner.backend.acquire();
    try {
      await session.query(text, params);
    } finally {
      session.release();
    }
  };
  await run(`alter role ${APP_ROLE} login`);
  const appUrl = new URL(ownerUrl);
  appUrl.username = APP_ROLE;
  appUrl.password = '';
  return {
    appUrl: appUrl.toString(),
    dataDir,
    ownerQuery: run,
    async close() {
      await owner.close();
      const dropper = new pg.Client({ connectionString: options.databaseUrl });
      await dropper.connect();
      await dropper.query(`drop database if exists ${name} with (force)`);
      await dropper.end();
    },
  };
}

async function startServer(store: Store): Promise<{ child: Child; url: string }> {
  const port = await freePort();
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (key.startsWith('BULKHEAD_') || key === 'DATABASE_URL' || key === 'NODE_OPTIONS') continue;
    if (key === 'PORT' || key === 'HOST' || key === 'LOG_LEVEL') continue;
    env[key] = value;
  }
  const child = startChild('bulkhead', [join(repoRoot, 'bin/bulkhead.js'), 'serve'], {
    cwd: repoRoot,
    env: {
      ...env,
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      BULKHEAD_DATA_DIR: store.dataDir,
      BULKHEAD_ADMIN_TOKEN: adminToken,
      BULKHEAD_MASTER_KEY: masterKey,
      BULKHEAD_EXPORT_PART_BYTES: String(options.partBytes),
      ...(store.appUrl !== null && { DATABASE_URL: store.appUrl }),
    },
  });
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(child, `${url}/readyz`, 120_000);
  return { child, url };
}

/** `rows` usage records in one statement, shaped like real ones (about 450 bytes per row line). */
function bulkInsertSql(rows: number): string {
  return `insert into usage_records (tenant_id, usage_id, request_id, principal_kind, principal_id,
      api_key_id, provider, model, operation, stream, input_tokens, output_tokens,
      tokens_counted_by, latency_ms, status, http_status, cost_nano_usd, price_version, created_at)
    select $1, 'use_' || lpad(g::text, 26, '0'), 'req_' || lpad(g::text, 26, '0'), 'api_key',
      $2, $2, 'openai', 'gpt-4o-mini', case when g % 5 = 0 then 'embeddings' else 'chat' end,
      g % 3 = 0, 100 + g % 900, 20 + g % 300, 'provider', 50 + g % 400, 'ok', 200,
      (g % 10000) * 1000, '2026-11', now() - make_interval(secs => g)
    from generate_series(1, ${rows}) g`;
}

// ---------------------------------------------------------------------------------------------
// Measuring

function rssKiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
  return match === null ? Number.NaN : Number(match[1]);
}

/** Resets VmHWM to the current RSS (Linux ≥ 4.0, as root or the owner); false where it cannot. */
function resetPeak(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

interface Run {
  format: 'tar' | 'jsonl';
  round: number;
  rows: number;
  bytes: number;
  seconds: number;
  cpuMs: number;
  baselineMiB: number;
  peakDeltaMiB: number;
  complete: boolean;
}

async function exportOnce(
  server: { child: Child; url: string },
  apiKey: string,
  format: 'tar' | 'jsonl',
  round: number,
): Promise<Run> {
  const pid = server.child.process.pid!;
  // Let the last run's garbage go before the baseline.
  await new Promise((r) => setTimeout(r, 1500));
  const baseline = rssKiB(pid, 'VmRSS');
  const hwm = resetPeak(pid);
  let sampledPeak = baseline;
  const sampler = setInterval(() => {
    sampledPeak = Math.max(sampledPeak, rssKiB(pid, 'VmRSS'));
  }, 20);
  const cpuBefore = cpuTimeMs(pid) ?? Number.NaN;
  const started = performance.now();
  const response = await fetch(`${server.url}/v1/export?format=${format}`, {
    headers: { authorization: `Bearer ${apiKey}` },
  });
  if (response.status !== 200) throw new Error(`export: HTTP ${response.status}`);
  const expected = Number(response.headers.get('x-bulkhead-export-rows'));
  let bytes = 0;
  let tail = Buffer.alloc(0);
  for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
    bytes += chunk.length;
    tail = Buffer.concat([tail, chunk]).subarray(-4096);
  }
  const seconds = (performance.now() - started) / 1000;
  clearInterval(sampler);
  const cpuMs = (cpuTimeMs(pid) ?? Number.NaN) - cpuBefore;
  const peak = Math.max(sampledPeak, hwm ? rssKiB(pid, 'VmHWM') : 0);
  const text = tail.toString('utf8');
  const complete =
    format === 'tar' ? text.includes('"checksums"') : /"type":"end","rows":\d+/.test(text);
  return {
    format,
    round,
    rows: expected,
    bytes,
    seconds,
    cpuMs,
    baselineMiB: baseline / 1024,
    peakDeltaMiB: (peak - baseline) / 1024,
    complete,
  };
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const startedAt = new Date();
  log(`export throughput: ${options.db}, ${options.rows} usage records, ${options.rounds} rounds`);
  const store = await createStore();
  let server = await startServer(store);
  const created = await fetch(`${server.url}/v1/admin/tenants`, {
    method: 'POST',
    headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'export-bench' }),
  });
  const tenant = (await created.json()) as { id: string; apiKey: string; apiKeyId: string };
  if (created.status !== 201) throw new Error(`tenant: ${JSON.stringify(tenant)}`);

  const loadStarted = performance.now();
  if (options.db === 'pglite') {
    // One process at a time opens the embedded database: stop the server to load it.
    await server.child.stop();
    await store.ownerQuery(bulkInsertSql(options.rows), [tenant.id, tenant.apiKeyId]);
  } else {
    await store.ownerQuery(bulkInsertSql(options.rows), [tenant.id, tenant.apiKeyId]);
  }
  const loadSeconds = (performance.now() - loadStarted) / 1000;
  if (options.db === 'pglite') server = await startServer(store);
  log(`loaded in ${loadSeconds.toFixed(1)} s`);

  const runs: Run[] = [];
  try {
    // One warm-up of each (discarded): module loading and the first connections.
    for (const format of ['tar', 'jsonl'] as const)
      await exportOnce(server, tenant.apiKey, format, 0);
    for (let round = 1; round <= options.rounds; round++) {
      for (const format of ['tar', 'jsonl'] as const) {
        const run = await exportOnce(server, tenant.apiKey, format, round);
        runs.push(run);
        log(
          `${format} round ${round}: ${run.rows} rows, ${(run.bytes / 1024 / 1024).toFixed(1)} MiB in ${run.seconds.toFixed(2)} s = ${Math.round(run.rows / run.seconds)} rows/s; server CPU ${Math.round(run.cpuMs)} ms; RSS ${run.baselineMiB.toFixed(0)} MiB + peak ${run.peakDeltaMiB.toFixed(1)} MiB${run.complete ? '' : ' INCOMPLETE'}`,
        );
      }
    }
  } finally {
    await server.child.stop();
    await store.close();
  }

  const median = (values: number[]) => {
    const sorted = [...values].sort((x, y) => x - y);
    const mid = Math.floor(sorted.length / 2);
    return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  };
  const table = [
    '| format | rows | MiB | s (median) | rows/s | MiB/s | server CPU s | RSS before MiB | peak RSS delta MiB (max) | rows/s per round | complete |',
    '| ------ | ---: | --: | ---------: | -----: | ----: | -----------: | -------------: | -----------------------: | ---------------- | -------- |',
    ...(['tar', 'jsonl'] as const).map((format) => {
      const mine = runs.filter((r) => r.format === format);
      const s = median(mine.map((r) => r.seconds));
      const rows = mine[0]!.rows;
      const mib = mine[0]!.bytes / 1024 / 1024;
      return `| ${format} | ${rows} | ${mib.toFixed(1)} | ${s.toFixed(2)} | ${Math.round(rows / s)} | ${(mib / s).toFixed(1)} | ${(median(mine.map((r) => r.cpuMs)) / 1000).toFixed(2)} | ${median(mine.map((r) => r.baselineMiB)).toFixed(0)} | ${Math.max(...mine.map((r) => r.peakDeltaMiB)).toFixed(1)} | ${mine.map((r) => Math.round(r.rows / r.seconds)).join(', ')} | ${mine.every((r) => r.complete) ? 'yes' : 'NO'} |`;
    }),
  ].join('\n');
  log();
  log(table);

  if (options.resultsFile !== null) {
    const command = `nice -n 10 node --import tsx bench/export-throughput.ts --db ${options.db} --rows ${options.rows} --rounds ${options.rounds}`;
    const body = `\`\`\`sh
${command}
\`\`\`

- Date: ${startedAt.toISOString()}; Bulkhead ${gitDescription()}
- Machine: ${machineDescription()}; the client, the server and ${options.db === 'postgres' ? 'PostgreSQL' : 'nothing else (the database is in the server process)'} share it
- Database: ${options.db === 'postgres' ? `PostgreSQL at ${new URL(options.databaseUrl).host}, a fresh database, the server connected as \`${APP_ROLE}\`` : 'embedded PGlite in the server process (its memory is in the RSS figures)'}
- Data: one tenant; ${options.rows} usage records inserted by the schema owner in one \`insert … select generate_series\` (${loadSeconds.toFixed(1)} s), plus the tenant's own few rows. Parts of ${options.partBytes} bytes.
- Runs: \`GET /v1/export?format=tar|jsonl\` with the owner key, read by the client as fast as it can (nothing kept); one warm-up each, then ${options.rounds} rounds of tar then JSONL. Seconds are from the request to the last byte. Peak RSS delta: the \`bulkhead serve\` process's peak RSS during the export (VmHWM after a reset through /proc/<pid>/clear_refs, and RSS sampled every 20 ms) minus its RSS just before.

${table}
`;
    await writeResultsSection(options.resultsFile, `${HEADING} (${options.db})`, body);
    log(`\nwritten to ${options.resultsFile}`);
  }
}

main()
  .catch(async (err: unknown) => {
    process.exitCode = 1;
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    await stopAllChildren();
  })
  .finally(() => {
    for (const dir of tempDirs) if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
  });
