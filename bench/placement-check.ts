/**
 * What the placement check costs each tenant transaction. Every `withTenant` transaction starts
 * with one script: BEGIN, the role, and — since tenants can live in silos — `select
 * bulkhead_enter_tenant(…)`, which sets the tenant and checks that it is served here. Without
 * silos the same script would set the tenant with `set_config` alone. This times the script plus
 * COMMIT both ways, alternating in rounds in one process, on the embedded database and on the
 * machine's PostgreSQL (the application connects as `bulkhead_app`, as in production).
 *
 *   node --import tsx bench/placement-check.ts [--transactions 4000] [--rounds 5]
 *     [--results bench/RESULTS.md] [--no-results]
 */
import { parseArgs } from 'node:util';
import { APP_ROLE } from '../src/db/roles.ts';
import { createTestDatabase, type TestDatabase } from '../test/support/test-database.ts';
import { median } from './support/load.ts';
import { writeResultsSection } from './support/results-file.ts';
import { gitDescription, machineDescription } from './support/run-info.ts';

const { values: args } = parseArgs({
  options: {
    transactions: { type: 'string', default: '4000' },
    rounds: { type: 'string', default: '5' },
    results: { type: 'string', default: 'bench/RESULTS.md' },
    'no-results': { type: 'boolean', default: false },
  },
});
const transactions = Number(args.transactions);
const rounds = Number(args.rounds);
const tenantId = 'tn_benchplacementcheck00000000'.slice(0, 29);

async function timeScript(database: TestDatabase, script: string): Promise<number> {
  const session = await database.db.backend.acquire();
  try {
    const started = performance.now();
    for (let i = 0; i < transactions; i++) {
      await session.script(script);
      await session.script('commit');
    }
    return ((performance.now() - started) * 1000) / transactions;
  } finally {
    session.release();
  }
}

async function measure(kind: 'pglite' | 'postgres') {
  if (kind === 'postgres')
    process.env.DATABASE_URL ||= 'postgres://postgres@127.0.0.1:5432/postgres';
  else delete process.env.DATABASE_URL;
  const database = await createTestDatabase();
  try {
    const base = `begin; set local role ${APP_ROLE}; select set_config('app.tenant_id', '${tenantId}', true);`;
    const checked = `begin; set local role ${APP_ROLE}; select bulkhead_enter_tenant('${tenantId}', true);`;
    const without: number[] = [];
    const withCheck: number[] = [];
    await timeScript(database, checked); // warm-up
    for (let r = 0; r < rounds; r++) {
      without.push(await timeScript(database, base));
      withCheck.push(await timeScript(database, checked));
    }
    return { kind, without: median(without), withCheck: median(withCheck) };
  } finally {
    await database.close();
  }
}

const results = [await measure('pglite'), await measure('postgres')];
const table = [
  '| database | transaction without the check | with the check | added per transaction |',
  '|---|--:|--:|--:|',
  ...results.map(
    (r) =>
      `| ${r.kind} | ${r.without.toFixed(0)} µs | ${r.withCheck.toFixed(0)} µs | +${(r.withCheck - r.without).toFixed(0)} µs (${(r.withCheck / r.without).toFixed(2)}×) |`,
  ),
].join('\n');
process.stdout.write(`${table}\n`);
if (!args['no-results']) {
  await writeResultsSection(
    args.results,
    'Placement check per tenant transaction',
    `Command: \`node --import tsx bench/placement-check.ts --transactions ${transactions} --rounds ${rounds}\` — ${machineDescription()}, ${gitDescription()}.
Each figure is the median over ${rounds} alternating rounds of ${transactions} empty tenant
transactions (the setup script and COMMIT) on one connection. A chat request runs about four such
transactions.

${table}
`,
  );
}
