/**
 * Gateway overhead on the non-streaming chat path: the same load against a fast local fake OpenAI
 * upstream directly; through a bare pass-through proxy (bench/bare-proxy.ts: node:http plus an
 * undici keep-alive pool, nothing else), the ceiling any Node gateway can reach on this machine,
 * where the load generator, the upstream and the gateway share the cores; through Bulkhead (full
 * pipeline: key auth, routing, sealed BYOK key, metering committed to the embedded database before
 * answering); through Bulkhead again for a tenant whose policy turns on every stage (PII on input and
 * output, injection scoring, rate limits and budgets in the in-process store), which is the cost of
 * the policy pipeline; and through Portkey's open-source gateway as the peer. All five run in the same
 * rounds, the same way. Reports requests/s and p50/p99 latency of each, what each gateway adds,
 * Bulkhead as a fraction of direct and of the bare proxy, and checks that Bulkhead metered every
 * request it acknowledged.
 *
 *   npm run bench:gateway -- [--connections 32] [--duration 10] [--warmup 3] [--rounds 2]
 *                            [--verify-requests 2000] [--results bench/RESULTS.md] [--no-results]
 *                            [--quiet-wait 120] [--cpu-prof <dir>]
 *
 * Every server is a child process; only loopback is used. See bench/RESULTS.md for the numbers.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { FAKE_ANSWER, FAKE_MODEL, STATS_PATH } from './fake-upstream.ts';
import {
  type Child,
  cpuTimeMs,
  freePort,
  machineBusyMs,
  ownCpuTimeMs,
  startChild,
  stopAllChildren,
  waitForHttp,
} from './support/children.ts';
import { type LoadResult, type LoadTarget, median, runLoad } from './support/load.ts';
import { writeResultsSection } from './support/results-file.ts';

const benchDir = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(benchDir, '..');
const HEADING = 'Gateway overhead (non-streaming)';

// ---------------------------------------------------------------------------------------------
// Options

function positiveNumber(name: string, raw: string, allowZero = false): number {
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) {
    throw new Error(`--${name} must be a ${allowZero ? 'non-negative' : 'positive'} number`);
  }
  return value;
}

const cliArgs = process.argv.slice(2);
const { values: flags } = parseArgs({
  args: cliArgs,
  options: {
    connections: { type: 'string', default: '32' },
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '2' },
    'verify-requests': { type: 'string', default: '2000' },
    results: { type: 'string', default: join(benchDir, 'RESULTS.md') },
    'no-results': { type: 'boolean', default: false },
    'cpu-prof': { type: 'string' },
    'quiet-wait': { type: 'string', default: '120' },
  },
});
const options = {
  connections: Math.round(positiveNumber('connections', flags.connections)),
  durationS: positiveNumber('duration', flags.duration),
  warmupS: positiveNumber('warmup', flags.warmup, true),
  rounds: Math.round(positiveNumber('rounds', flags.rounds)),
  verifyRequests: Math.round(positiveNumber('verify-requests', flags['verify-requests'], true)),
  resultsFile: flags['no-results'] ? null : resolve(flags.results),
  cpuProfDir: flags['cpu-prof'] === undefined ? null : resolve(flags['cpu-prof']),
  quietWaitS: positiveNumber('quiet-wait', flags['quiet-wait'], true),
};
if (options.verifyRequests > 0 && options.verifyRequests < options.connections) {
  throw new Error('--verify-requests must be 0 or at least --connections');
}

const log = (line = '') => process.stdout.write(`${line}\n`);
/** Removed when the benchmark ends, however it ends. */
const tempDirs: string[] = [];

// ---------------------------------------------------------------------------------------------
// Servers

function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  // Nothing from the caller's shell may change what is measured: no DATABASE_URL (which would
  // replace the embedded database), no stray BULKHEAD_* setting, no NODE_OPTIONS.
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (key.startsWith('BULKHEAD_') || key === 'DATABASE_URL' || key === 'NODE_OPTIONS') continue;
    if (key === 'PORT' || key === 'HOST' || key === 'LOG_LEVEL') continue;
    env[key] = value;
  }
  return { ...env, ...extra };
}

/** Starts one of bench/'s own servers, which prints `{"port":<n>}` once it listens. */
async function startBenchServer(
  name: string,
  script: string,
  args: string[] = [],
): Promise<{ child: Child; url: string }> {
  let announce: (port: number) => void = () => undefined;
  const announced = new Promise<number>((r) => (announce = r));
  const child = startChild(name, ['--import', 'tsx', join(benchDir, script), ...args], {
    cwd: repoRoot,
    env: childEnv({}),
    onLine: (line) => {
      if (line.startsWith('{"port":')) announce((JSON.parse(line) as { port: number }).port);
    },
  });
  const port = await Promise.race([
    announced,
    child.exited.then((code) => {
      throw new Error(`${name} exited (code ${code}):\n${child.tail()}`);
    }),
  ]);
  return { child, url: `http://127.0.0.1:${port}` };
}

function startUpstream(): Promise<{ child: Child; url: string }> {
  return startBenchServer('fake upstream', 'fake-upstream.ts');
}

/** The ceiling: a pass-through proxy with nothing but forwarding (bench/bare-proxy.ts). */
function startBareProxy(upstreamUrl: string): Promise<{ child: Child; url: string }> {
  return startBenchServer('bare proxy', 'bare-proxy.ts', ['--upstream', upstreamUrl]);
}

async function upstreamServed(upstreamUrl: string): Promise<number> {
  const response = await fetch(`${upstreamUrl}${STATS_PATH}`);
  return ((await response.json()) as { chatCompletions: number }).chatCompletions;
}

interface BulkheadUnderTest {
  child: Child;
  url: string;
  dataDir: string;
  tenantKey: string;
  /** A second tenant whose policy turns every stage on: PII both ways, injection, limits, budgets. */
  policyTenantKey: string;
}

/** Every stage of the policy pipeline on, with limits and budgets too high to refuse anything. */
const FULL_POLICY = {
  pii: {
    input: {
      email: 'redact',
      phone: 'redact',
      payment_card: 'block',
      iban: 'redact',
      us_ssn: 'redact',
      ip_address: 'redact',
      secret: 'block',
    },
    output: { email: 'redact', phone: 'redact', payment_card: 'redact', secret: 'block' },
  },
  injection: { action: 'block', threshold: 0.9 },
  models: { allow: ['openai/*'], maxTokensPerRequest: 4096 },
  limits: {
    tenant: { requestsPerMinute: 1_000_000, tokensPerMinute: 1_000_000_000, concurrent: 10_000 },
    perKey: { requestsPerMinute: 1_000_000 },
  },
  budgets: { tenant: { daily: { softUsd: 999_999, hardUsd: 1_000_000 } } },
};

async function startBulkhead(upstreamUrl: string): Promise<BulkheadUnderTest> {
  const port = await freePort();
  const dataDir = mkdtempSync(join(os.tmpdir(), 'bulkhead-bench-'));
  tempDirs.push(dataDir);
  const adminToken = `bench-admin-${randomBytes(24).toString('hex')}`;
  const nodeFlags =
    options.cpuProfDir === null ? [] : ['--cpu-prof', `--cpu-prof-dir=${options.cpuProfDir}`];
  const child = startChild('bulkhead', [...nodeFlags, join(repoRoot, 'bin/bulkhead.js'), 'serve'], {
    cwd: repoRoot,
    env: childEnv({
      PORT: String(port),
      HOST: '127.0.0.1',
      BULKHEAD_DATA_DIR: dataDir,
      LOG_LEVEL: 'warn',
      BULKHEAD_ALLOW_PRIVATE_UPSTREAMS: 'true',
      BULKHEAD_ADMIN_TOKEN: adminToken,
    }),
  });
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(child, `${url}/readyz`, 120_000);

  const tenant = await postJson(`${url}/v1/admin/tenants`, adminToken, { name: 'bench' });
  const tenantKey = tenant.apiKey as string;
  await postJson(`${url}/v1/providers`, tenantKey, {
    name: 'openai',
    kind: 'openai',
    baseUrl: `${upstreamUrl}/v1`,
    apiKey: 'sk-bench',
    models: [FAKE_MODEL],
  });
  const policyTenant = await postJson(`${url}/v1/admin/tenants`, adminToken, {
    name: 'bench-policy',
  });
  const policyTenantKey = policyTenant.apiKey as string;
  await postJson(`${url}/v1/providers`, policyTenantKey, {
    name: 'openai',
    kind: 'openai',
    baseUrl: `${upstreamUrl}/v1`,
    apiKey: 'sk-bench',
    models: [FAKE_MODEL],
  });
  const put = await fetch(`${url}/v1/policy`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${policyTenantKey}`, 'content-type': 'application/json' },
    body: JSON.stringify(FULL_POLICY),
  });
  if (put.status !== 200) throw new Error(`PUT /v1/policy answered ${put.status}`);
  return { child, url, dataDir, tenantKey, policyTenantKey };
}

async function postJson(url: string, token: string, body: unknown): Promise<any> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const payload = await response.json();
  if (response.status !== 201) {
    throw new Error(`POST ${url} answered ${response.status}: ${JSON.stringify(payload)}`);
  }
  return payload;
}

function portkeyPackage(): { entry: string; version: string } {
  const dir = join(repoRoot, 'node_modules/@portkey-ai/gateway');
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
    version: string;
    bin: string | Record<string, string>;
  };
  const bin = typeof pkg.bin === 'string' ? pkg.bin : Object.values(pkg.bin)[0];
  if (bin === undefined) throw new Error('@portkey-ai/gateway has no bin entry');
  return { entry: join(dir, bin), version: pkg.version };
}

async function startPortkey(): Promise<{ child: Child; url: string }> {
  const port = await freePort();
  // --headless: no log-viewer UI routes. The server binds every interface (it has no host option);
  // the benchmark only talks to it over loopback.
  const child = startChild('portkey', [portkeyPackage().entry, `--port=${port}`, '--headless'], {
    cwd: repoRoot,
    env: childEnv({}),
  });
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(child, `${url}/`, 60_000);
  return { child, url };
}

// ---------------------------------------------------------------------------------------------
// Measurement

interface Target extends LoadTarget {
  /** The process whose CPU time counts as "the gateway" (the upstream itself for direct). */
  server: Child;
}

interface Measured {
  load: LoadResult;
  /** CPU time per 2xx response, µs: the gateway process, and the upstream behind it. */
  gatewayCpuUs: number | null;
  upstreamCpuUs: number | null;
  /**
   * Cores' worth of CPU that processes other than this benchmark used during the run (another
   * test suite on the same machine, say): anything well above zero makes the run less trustworthy.
   */
  foreignCores: number | null;
}

function chatBody(model: string): string {
  return JSON.stringify({ model, messages: [{ role: 'user', content: 'hello' }] });
}

/** One request outside the load, to fail fast with a readable message if a target is miswired. */
async function smokeTest(target: LoadTarget): Promise<void> {
  const response = await fetch(target.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...target.headers },
    body: target.body,
  });
  const text = await response.text();
  let content: unknown;
  try {
    const parsed: any = JSON.parse(text);
    content = parsed.choices?.[0]?.message?.content;
  } catch {
    content = undefined;
  }
  if (response.status !== 200 || content !== FAKE_ANSWER) {
    throw new Error(`${target.name} smoke test failed: ${response.status} ${text.slice(0, 500)}`);
  }
}

/** Other processes' CPU (cores) over `ms` while this benchmark idles; null without /proc. */
async function foreignLoad(ms: number): Promise<number | null> {
  const machineBefore = machineBusyMs();
  const ownBefore = ownCpuTimeMs();
  await new Promise((r) => setTimeout(r, ms));
  const machineAfter = machineBusyMs();
  const ownAfter = ownCpuTimeMs();
  if (machineBefore === null || machineAfter === null || ownBefore === null || ownAfter === null) {
    return null;
  }
  return Math.max(0, machineAfter - machineBefore - (ownAfter - ownBefore)) / ms;
}

/**
 * On a shared machine (a test suite running beside the benchmark), waits until the other processes
 * have been nearly idle for two seconds, for at most --quiet-wait seconds; the run's "other
 * processes" figure shows what it had to put up with anyway.
 */
async function waitForQuietMachine(): Promise<void> {
  const deadline = Date.now() + options.quietWaitS * 1000;
  let announced = false;
  for (;;) {
    const load = await foreignLoad(1_000);
    if (load === null || (load < 0.15 && ((await foreignLoad(1_000)) ?? 0) < 0.15)) return;
    if (Date.now() > deadline) {
      log(`  (machine still busy: other processes use ${load.toFixed(2)} cores; going on)`);
      return;
    }
    if (!announced) {
      log(`  (other processes use ${load.toFixed(2)} cores: waiting for a quiet machine)`);
      announced = true;
    }
  }
}

async function measure(
  target: Target,
  upstream: Child,
  load: { durationS?: number; amount?: number },
): Promise<Measured> {
  const gatewayBefore = cpuTimeMs(target.server.process.pid);
  const upstreamBefore = cpuTimeMs(upstream.process.pid);
  const ownBefore = ownCpuTimeMs();
  const machineBefore = machineBusyMs();
  const startedAt = performance.now();
  const result = await runLoad(target, { connections: options.connections, ...load });
  const wallMs = performance.now() - startedAt;
  const machineAfter = machineBusyMs();
  const ownAfter = ownCpuTimeMs();
  const gatewayAfter = cpuTimeMs(target.server.process.pid);
  const upstreamAfter = cpuTimeMs(upstream.process.pid);
  const perRequest = (before: number | null, after: number | null) =>
    before === null || after === null || result.ok === 0
      ? null
      : ((after - before) * 1000) / result.ok;
  return {
    load: result,
    gatewayCpuUs: target.server === upstream ? null : perRequest(gatewayBefore, gatewayAfter),
    upstreamCpuUs: perRequest(upstreamBefore, upstreamAfter),
    foreignCores:
      machineBefore === null || machineAfter === null || ownBefore === null || ownAfter === null
        ? null
        : Math.max(0, machineAfter - machineBefore - (ownAfter - ownBefore)) / wallMs,
  };
}

function describeRun(label: string, m: Measured): string {
  const r = m.load;
  const problems =
    r.non2xx + r.errors > 0
      ? `  !! non-2xx ${r.non2xx} (${JSON.stringify(r.statusCodes)}), errors ${r.errors}`
      : '';
  const cpu = m.gatewayCpuUs === null ? '' : `, gateway CPU ${m.gatewayCpuUs.toFixed(0)} µs/req`;
  const foreign =
    m.foreignCores === null ? '' : `, other processes ${m.foreignCores.toFixed(2)} cores`;
  return `  ${label.padEnd(28)} ${r.rps.toFixed(0).padStart(6)} req/s  p50 ${r.p50.toFixed(2)} ms  p99 ${r.p99.toFixed(2)} ms  (${r.ok} ok${cpu}${foreign})${problems}`;
}

// ---------------------------------------------------------------------------------------------
// Metering check

interface UsageTotals {
  requests: number;
  errors: number;
}

async function usageTotals(bulkhead: BulkheadUnderTest): Promise<UsageTotals> {
  const response = await fetch(`${bulkhead.url}/v1/usage`, {
    headers: { authorization: `Bearer ${bulkhead.tenantKey}` },
  });
  const body = (await response.json()) as any;
  if (response.status !== 200) throw new Error(`GET /v1/usage: ${JSON.stringify(body)}`);
  return { requests: body.totals.requests as number, errors: body.totals.errors as number };
}

/**
 * Usage once it stops changing: requests cut off when a run stopped may still be finishing (and
 * being metered) in the gateway for a moment.
 */
async function settledUsage(bulkhead: BulkheadUnderTest): Promise<UsageTotals> {
  let previous = await usageTotals(bulkhead);
  for (;;) {
    await new Promise((r) => setTimeout(r, 500));
    const next = await usageTotals(bulkhead);
    if (next.requests === previous.requests && next.errors === previous.errors) return next;
    previous = next;
  }
}

// ---------------------------------------------------------------------------------------------
// Report

interface Row {
  name: string;
  rps: number;
  p50: number;
  p99: number;
  gatewayCpuUs: number | null;
  upstreamCpuUs: number | null;
  roundsRps: number[];
  /** The most CPU (cores) other processes used during one of this target's measured runs. */
  foreignCores: number | null;
  invalid: string[];
}

const fmt = (n: number | null, digits = 2) =>
  n === null || Number.isNaN(n) ? '—' : n.toFixed(digits);
const signed = (n: number) => `${n >= 0 ? '+' : ''}${n.toFixed(2)}`;

function tableOf(rows: Row[]): string {
  const direct = rows[0]!;
  const header =
    '| target | req/s | p50 ms | p99 ms | added p50 ms | added p99 ms | req/s vs direct | gateway CPU µs/req | upstream CPU µs/req | req/s per round | other processes (cores, max) | valid |\n' +
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | --- |';
  const lines = rows.map((row) => {
    const isDirect = row === direct;
    return [
      row.name,
      row.rps.toFixed(0),
      row.p50.toFixed(2),
      row.p99.toFixed(2),
      isDirect ? '—' : signed(row.p50 - direct.p50),
      isDirect ? '—' : signed(row.p99 - direct.p99),
      isDirect ? '1.00' : (row.rps / direct.rps).toFixed(2),
      fmt(row.gatewayCpuUs, 0),
      fmt(row.upstreamCpuUs, 0),
      row.roundsRps.map((r) => r.toFixed(0)).join(', '),
      fmt(row.foreignCores),
      row.invalid.length === 0 ? 'yes' : `**NO**: ${row.invalid.join('; ')}`,
    ].join(' | ');
  });
  return [header, ...lines.map((l) => `| ${l} |`)].join('\n');
}

function gitDescription(): string {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot })
      .toString()
      .trim();
    const dirty =
      execFileSync('git', ['status', '--porcelain', '--', 'src', 'bin'], { cwd: repoRoot })
        .toString()
        .trim() !== '';
    return `${commit}${dirty ? ' (with uncommitted changes in src/ or bin/)' : ''}`;
  } catch {
    return 'unknown';
  }
}

function packageVersion(name: string): string {
  try {
    const pkg = JSON.parse(
      readFileSync(join(repoRoot, 'node_modules', name, 'package.json'), 'utf8'),
    ) as { version: string };
    return pkg.version;
  } catch {
    return 'unknown';
  }
}

// ---------------------------------------------------------------------------------------------
// Main

async function main(): Promise<number> {
  const cpus = os.cpus();
  const machine = {
    node: process.version,
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memoryGiB: os.totalmem() / 1024 ** 3,
  };
  const command = `npm run bench:gateway${cliArgs.length > 0 ? ` -- ${cliArgs.join(' ')}` : ''}`;
  log(`Gateway overhead benchmark: ${command}`);
  log(
    `Node ${machine.node}, ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB.toFixed(0)} GiB`,
  );
  log(
    `${options.connections} connections, ${options.warmupS} s warm-up + ${options.durationS} s per run, ${options.rounds} rounds\n`,
  );

  const upstream = await startUpstream();
  log(`fake upstream   ${upstream.url}`);
  const bareProxy = await startBareProxy(upstream.url);
  log(`bare proxy      ${bareProxy.url}  (bench/bare-proxy.ts, the ceiling)`);
  const bulkhead = await startBulkhead(upstream.url);
  log(`bulkhead        ${bulkhead.url}  (embedded database in ${bulkhead.dataDir})`);
  const portkey = await startPortkey();
  log(`portkey gateway ${portkey.url}  (@portkey-ai/gateway ${portkeyPackage().version})\n`);

  const targets: Target[] = [
    {
      name: 'direct upstream',
      url: `${upstream.url}/v1/chat/completions`,
      headers: { authorization: 'Bearer sk-bench' },
      body: chatBody(FAKE_MODEL),
      server: upstream.child,
    },
    {
      name: 'bare proxy (ceiling)',
      url: `${bareProxy.url}/v1/chat/completions`,
      headers: { authorization: 'Bearer sk-bench' },
      body: chatBody(FAKE_MODEL),
      server: bareProxy.child,
    },
    {
      name: 'Bulkhead',
      url: `${bulkhead.url}/v1/chat/completions`,
      headers: { authorization: `Bearer ${bulkhead.tenantKey}` },
      body: chatBody(`openai/${FAKE_MODEL}`),
      server: bulkhead.child,
    },
    {
      name: 'Bulkhead, full policy',
      url: `${bulkhead.url}/v1/chat/completions`,
      headers: { authorization: `Bearer ${bulkhead.policyTenantKey}` },
      body: chatBody(`openai/${FAKE_MODEL}`),
      server: bulkhead.child,
    },
    {
      name: 'Portkey gateway',
      url: `${portkey.url}/v1/chat/completions`,
      headers: {
        'x-portkey-provider': 'openai',
        'x-portkey-custom-host': `${upstream.url}/v1`,
        authorization: 'Bearer sk-bench',
      },
      body: chatBody(FAKE_MODEL),
      server: portkey.child,
    },
  ];
  const bulkheadTarget = targets.find((t) => t.server === bulkhead.child)!;

  // Bulkhead's side of the metering check: every 2xx it sent that autocannon read, and every
  // request autocannon abandoned mid-flight when a timed run stopped.
  let bulkheadSeen = 0;
  let bulkheadCutOff = 0;
  for (const target of targets) {
    await smokeTest(target);
    if (target === bulkheadTarget) bulkheadSeen++;
  }

  const runs = new Map<Target, Measured[]>(targets.map((t) => [t, []]));
  const invalid = new Map<Target, string[]>(targets.map((t) => [t, []]));
  const check = (target: Target, label: string, m: Measured) => {
    if (m.load.non2xx + m.load.errors > 0) {
      invalid
        .get(target)!
        .push(
          `${label}: ${m.load.non2xx} non-2xx ${JSON.stringify(m.load.statusCodes)}, ${m.load.errors} errors`,
        );
    }
    if (target === bulkheadTarget) {
      bulkheadSeen += m.load.ok;
      bulkheadCutOff += m.load.cutOff;
    }
  };

  for (let round = 1; round <= options.rounds; round++) {
    log(`Round ${round}/${options.rounds}`);
    for (const target of targets) {
      if (options.warmupS > 0) {
        await waitForQuietMachine();
        const warm = await measure(target, upstream.child, { durationS: options.warmupS });
        check(target, `round ${round} warm-up`, warm);
        log(describeRun(`${target.name} (warm-up)`, warm));
      }
      await waitForQuietMachine();
      const measured = await measure(target, upstream.child, { durationS: options.durationS });
      check(target, `round ${round}`, measured);
      runs.get(target)!.push(measured);
      log(describeRun(target.name, measured));
    }
  }

  // Metering, part 1: the timed runs. autocannon abandons the requests in flight when a timed run
  // ends, so Bulkhead may have answered (and metered) up to that many more than autocannon read.
  log('\nMetering check (GET /v1/usage for the bench tenant)');
  const afterTimed = await settledUsage(bulkhead);
  const okTimed = afterTimed.requests - afterTimed.errors;
  const timedPass =
    okTimed >= bulkheadSeen &&
    okTimed <= bulkheadSeen + bulkheadCutOff &&
    afterTimed.requests <= bulkheadSeen + bulkheadCutOff;
  const meteringLines = [
    `Timed runs (smoke request, warm-ups and measurements): autocannon read ${bulkheadSeen} 2xx responses from Bulkhead and abandoned ${bulkheadCutOff} requests in flight when runs stopped. ` +
      `Usage counts ${afterTimed.requests} requests: ${okTimed} ok, ${afterTimed.errors} not ok (cancelled by the client going away). ` +
      `Expected ok between ${bulkheadSeen} and ${bulkheadSeen + bulkheadCutOff}: **${timedPass ? 'PASS' : 'FAIL'}**.`,
  ];

  // Metering, part 2: a run of an exact number of requests, which autocannon lets finish, so
  // the usage delta must equal what it read exactly; the upstream count shows there were no retries.
  let exactPass = true;
  if (options.verifyRequests > 0) {
    const upstreamBefore = await upstreamServed(upstream.url);
    const exact = await measure(bulkheadTarget, upstream.child, { amount: options.verifyRequests });
    check(bulkheadTarget, 'metering run', exact);
    log(describeRun(`Bulkhead (${options.verifyRequests} requests)`, exact));
    const upstreamDelta = (await upstreamServed(upstream.url)) - upstreamBefore;
    const afterExact = await settledUsage(bulkhead);
    const okDelta = afterExact.requests - afterExact.errors - okTimed;
    const notOkDelta = afterExact.errors - afterTimed.errors;
    exactPass =
      exact.load.ok === options.verifyRequests &&
      okDelta === exact.load.ok &&
      notOkDelta === 0 &&
      upstreamDelta === exact.load.ok;
    meteringLines.push(
      `Exact run of ${options.verifyRequests} requests at ${options.connections} connections (none abandoned): expected ${exact.load.ok} ok records, counted ${okDelta} ok and ${notOkDelta} not ok; the upstream served ${upstreamDelta}: **${exactPass ? 'PASS' : 'FAIL'}**.`,
    );
  }
  const meteringPass = timedPass && exactPass;
  for (const line of meteringLines) log(`  ${line.replaceAll('**', '')}`);
  if (!meteringPass) {
    log(
      '\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!',
    );
    log(
      '!!! METERING MISMATCH: usage records do not match the responses Bulkhead acknowledged !!!',
    );
    log(
      '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!',
    );
  }

  // Median of rounds per metric (with two rounds, the mean of the two).
  const rows: Row[] = targets.map((target) => {
    const measured = runs.get(target)!;
    const pick = (f: (m: Measured) => number | null) => {
      const values = measured.map(f).filter((v): v is number => v !== null);
      return values.length === 0 ? null : median(values);
    };
    return {
      name: target.name,
      rps: pick((m) => m.load.rps)!,
      p50: pick((m) => m.load.p50)!,
      p99: pick((m) => m.load.p99)!,
      gatewayCpuUs: pick((m) => m.gatewayCpuUs),
      upstreamCpuUs: pick((m) => m.upstreamCpuUs),
      roundsRps: measured.map((m) => m.load.rps),
      foreignCores: measured.some((m) => m.foreignCores !== null)
        ? Math.max(...measured.map((m) => m.foreignCores ?? 0))
        : null,
      invalid: invalid.get(target)!,
    };
  });
  const [direct, bare, bulk, governed, peer] = rows as [Row, Row, Row, Row, Row];
  const table = tableOf(rows);
  const ratio = bulk.rps / direct.rps;
  const targetMet = ratio >= 1 / 3;
  const summary = [
    `Bulkhead / Portkey: ${(bulk.rps / peer.rps).toFixed(2)}× the requests per second; added p50 ${signed(bulk.p50 - direct.p50)} ms vs ${signed(peer.p50 - direct.p50)} ms, added p99 ${signed(bulk.p99 - direct.p99)} ms vs ${signed(peer.p99 - direct.p99)} ms.`,
    `Target (full pipeline ≥ 1/3 of direct req/s): Bulkhead at ${ratio.toFixed(2)} of direct, **${targetMet ? 'met' : 'NOT met'}**.`,
    `Full policy pipeline (PII both ways, injection, rate limits, budget) / no policy: ${(governed.rps / bulk.rps).toFixed(2)}× the requests per second, ${signed(governed.p50 - bulk.p50)} ms p50, ${governed.gatewayCpuUs === null || bulk.gatewayCpuUs === null ? '—' : `${(governed.gatewayCpuUs - bulk.gatewayCpuUs).toFixed(0)} µs`} more gateway CPU per request.`,
    `Ceiling (bare pass-through proxy, no auth, no database): the bare proxy at ${(bare.rps / direct.rps).toFixed(2)} of direct req/s; Bulkhead at ${(bulk.rps / bare.rps).toFixed(2)} of the bare proxy's req/s.`,
  ];
  const allValid = rows.every((r) => r.invalid.length === 0);
  const foreign = [...runs.values()]
    .flat()
    .map((m) => m.foreignCores)
    .filter((v): v is number => v !== null);
  const foreignLine =
    foreign.length === 0
      ? 'Other processes on the machine: not measured (no /proc).'
      : `Other processes on the machine used ${(foreign.reduce((a, b) => a + b, 0) / foreign.length).toFixed(2)} cores on average during the measured runs (most: ${Math.max(...foreign).toFixed(2)}); well above zero means the numbers are disturbed.`;

  log('');
  log(table);
  log('');
  for (const line of summary) log(line.replaceAll('**', ''));
  log(foreignLine);
  if (!allValid) log('!!! Some runs had non-2xx responses or errors: the results are INVALID.');

  if (options.resultsFile !== null) {
    const body = [
      allValid ? '' : '> **INVALID RUN**: some requests failed; see the last column.\n',
      'Produced by:',
      '',
      '```sh',
      command,
      '```',
      '',
      `- Date: ${new Date().toISOString()}`,
      `- Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB.toFixed(0)} GiB memory; Node ${machine.node} on ${os.type()} ${os.release()}`,
      `- Bulkhead ${gitDescription()} (\`node bin/bulkhead.js serve\`, embedded PGlite database, LOG_LEVEL=warn); @portkey-ai/gateway ${packageVersion('@portkey-ai/gateway')} (\`build/start-server.js --headless\`); autocannon ${packageVersion('autocannon')}`,
      `- Load: ${options.connections} connections, no pipelining, the same chat body for every target (\`{"model": …, "messages":[{"role":"user","content":"hello"}]}\`, \`stream\` unset); per target and round ${options.warmupS} s warm-up (discarded) then ${options.durationS} s measured; ${options.rounds} rounds of direct → bare proxy → Bulkhead → Bulkhead with a full policy → Portkey. **Each figure is the median of the rounds** (with two rounds, their mean); the per-round req/s are in the table.`,
      '- Upstream: `bench/fake-upstream.ts`, a node:http server answering a fixed ~300-byte `chat.completion` with usage at once, keep-alive.',
      '- Bare proxy (ceiling): `bench/bare-proxy.ts`, a node:http server that reads the small request body, forwards it to the upstream through an undici keep-alive pool (`undici.stream()`) and streams the answer straight back; no authentication, no parsing, no database. What any Node gateway can at best reach here.',
      '- Latency is the client-side time of 2xx responses (p50/p99 over every response of the run); "added" is the gateway percentile minus the direct percentile. CPU µs/req is the process CPU time (user + system, from /proc) over the measured run divided by its 2xx responses; for Bulkhead it includes the embedded database, which runs in the same process.',
      `- ${foreignLine}`,
      `- **The load generator, the upstream, the gateway and its database all share the same ${machine.cores} cores**, so absolute numbers are pessimistic (the gateway competes with autocannon and the upstream for CPU); compare the ratios, not the absolute figures.`,
      '',
      table,
      '',
      ...summary.map((s) => `- ${s}`),
      '',
      '### Metering under load',
      '',
      ...meteringLines.map((s) => `- ${s}`),
    ].join('\n');
    await writeResultsSection(options.resultsFile, HEADING, body);
    log(`\nWrote ${relative(process.cwd(), options.resultsFile)}`);
  }
  return allValid && meteringPass ? 0 : 1;
}

async function cleanUp(): Promise<void> {
  await stopAllChildren();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
}

process.once('SIGINT', () => {
  log('\nInterrupted: stopping the servers');
  void cleanUp().finally(() => process.exit(130));
});

main()
  .then(async (code) => {
    await cleanUp();
    process.exitCode = code;
  })
  .catch(async (err: unknown) => {
    process.stderr.write(`\n${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    await cleanUp();
    process.exitCode = 1;
  });
