/**
 * How long promoting a tenant to its own database pauses it, and whether anyone else notices.
 * On the machine's PostgreSQL: a pool database with a tenant of N usage records (written in bulk as
 * the schema owner) and a quiet neighbour, both sending chat requests one after another during the
 * move; then the tenant is promoted into a fresh silo database and demoted back. Reported per size:
 * the pause (from marking the tenant as moving to the hand-over), the whole move, rows copied per
 * second, and the slowest request of the tenant and of the neighbour during each move.
 *
 *   node --import tsx bench/promote-pause.ts [--rows 10000,100000] [--results bench/RESULTS.md]
 *     [--no-results]
 */
import { parseArgs } from 'node:util';
import {
  startBulkhead,
  type RunningBulkhead,
  type TestTenant,
} from '../test/support/bulkhead-server.ts';
import { createSilo } from '../test/support/silo-database.ts';
import { writeResultsSection } from './support/results-file.ts';
import { gitDescription, machineDescription } from './support/run-info.ts';

const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '10000,100000' },
    results: { type: 'string', default: 'bench/RESULTS.md' },
    'no-results': { type: 'boolean', default: false },
  },
});
process.env.DATABASE_URL ||= 'postgres://postgres@127.0.0.1:5432/postgres';

async function seedUsage(server: RunningBulkhead, tenantId: string, rows: number): Promise<void> {
  for (let done = 0; done < rows; done += 50_000) {
    await server.database.ownerQuery(
      `insert into usage_records (tenant_id, usage_id, request_id, principal_kind, principal_id,
         provider, model, operation, input_tokens, output_tokens, tokens_counted_by, latency_ms,
         status, http_status, cost_nano_usd, price_version)
       select $1, 'use_' || lpad(g::text, 26, '0'), 'req_' || g, 'api_key', 'key_x', 'local',
         'local/extractive', 'chat', 10, 20, 'bulkhead', 5, 'ok', 200, 0, 'v1'
       from generate_series($2::int, $3::int) g`,
      [tenantId, done + 1, Math.min(done + 50_000, rows)],
    );
  }
}

/** Requests one after another until `stop` settles; returns the slowest, in ms, and the count. */
async function steadyTraffic(server: RunningBulkhead, t: TestTenant, stop: Promise<unknown>) {
  let done = false;
  void stop.finally(() => (done = true));
  let slowest = 0;
  let count = 0;
  let failed = 0;
  while (!done) {
    const started = performance.now();
    const response = await server.request('POST', '/v1/chat/completions', {
      token: t.apiKey,
      body: { model: 'local/extractive', messages: [{ role: 'user', content: 'ping' }] },
    });
    if (response.status !== 200) failed++;
    slowest = Math.max(slowest, performance.now() - started);
    count++;
  }
  return { slowest, count, failed };
}

interface Row {
  rows: number;
  direction: string;
  pausedMs: number;
  durationMs: number;
  copied: number;
  tenantSlowest: number;
  neighbourSlowest: number;
  failed: number;
}

async function measure(size: number): Promise<Row[]> {
  const server = await startBulkhead({ LOG_LEVEL: 'warn' });
  const silo = await createSilo();
  try {
    const tenant = await server.createTenant('big');
    const neighbour = await server.createTenant('neighbour');
    await seedUsage(server, tenant.id, size);
    const results: Row[] = [];
    for (const direction of ['promote', 'demote'] as const) {
      const move = server.request('POST', `/v1/admin/tenants/${tenant.id}/${direction}`, {
        token: server.adminToken,
        ...(direction === 'promote' && { body: { databaseUrl: silo.url } }),
      });
      const [mine, theirs, response] = await Promise.all([
        steadyTraffic(server, tenant, move),
        steadyTraffic(server, neighbour, move),
        move,
      ]);
      if (response.status !== 200) throw new Error(JSON.stringify(response.body));
      results.push({
        rows: size,
        direction,
        pausedMs: response.body.pausedMs as number,
        durationMs: response.body.durationMs as number,
        copied: response.body.rows as number,
        tenantSlowest: mine.slowest,
        neighbourSlowest: theirs.slowest,
        failed: mine.failed + theirs.failed,
      });
    }
    return results;
  } finally {
    await server.close();
    await silo.drop();
  }
}

const rows: Row[] = [];
for (const size of args.rows.split(',').map(Number)) rows.push(...(await measure(size)));

const table = [
  '| usage rows | move | rows copied | paused | whole move | copied rows/s | slowest request, moved tenant | slowest request, neighbour | failed requests |',
  '|--:|---|--:|--:|--:|--:|--:|--:|--:|',
  ...rows.map(
    (r) =>
      `| ${r.rows} | ${r.direction} | ${r.copied} | ${r.pausedMs} ms | ${r.durationMs} ms | ${Math.round(r.copied / (r.pausedMs / 1000))} | ${Math.round(r.tenantSlowest)} ms | ${Math.round(r.neighbourSlowest)} ms | ${r.failed} |`,
  ),
].join('\n');
const body = `Command: \`node --import tsx bench/promote-pause.ts --rows ${args.rows}\` — ${machineDescription()}, ${gitDescription()}.
Pool and silo are two databases on the machine's PostgreSQL 15; the server runs in the same process
as the load (one request at a time for each of the two tenants).

${table}
`;
process.stdout.write(`${table}\n`);
if (!args['no-results']) await writeResultsSection(args.results, 'Promoting a tenant: pause', body);
