/**
 * Summarises a V8 `.cpuprofile` (from `node --cpu-prof`, e.g. `npm run bench:gateway -- --cpu-prof
 * <dir>`, which profiles the Bulkhead child): self time by function and by where the code lives
 * (a package in node_modules, a folder of src/, Node's internals), and inclusive time of the
 * functions that matter most.
 *
 *   node --import tsx bench/cpu-profile-top.ts <file.cpuprofile> [--top 25] [--match <substring>]
 *                                              [--without <url substring>]...
 *
 * `--without` leaves out every sample with a frame from a matching file anywhere on its stack
 * (e.g. `--without pglite --without kysely`): what the process would spend if that were free.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

function place(url: string): string {
  if (url === '') return '(native / V8)';
  if (url.startsWith('node:')) return 'node internals';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg !== null) return pkg[1]!;
  const src = /\/(src|bench|bin)\/([^/]+)/.exec(url);
  if (src !== null) return `${src[1]}/${src[2]}`;
  return url;
}

function label(frame: CallFrame): string {
  const file = frame.url
    .replace(/^.*node_modules\//, '')
    .replace(/^file:\/\/.*?\/(src|bench)\//, '$1/');
  return `${frame.functionName || '(anonymous)'}  ${file}${file === '' ? '' : `:${frame.lineNumber + 1}`}`;
}

function main(): void {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      top: { type: 'string', default: '25' },
      match: { type: 'string' },
      without: { type: 'string', multiple: true, default: [] },
    },
  });
  const file = positionals[0];
  if (file === undefined) throw new Error('usage: cpu-profile-top.ts <file.cpuprofile>');
  const top = Number(values.top);
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;

  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const excluded = (id: number) => {
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const url = byId.get(at)!.callFrame.url;
      if (values.without.some((w) => url.includes(w))) return true;
    }
    return false;
  };

  const self = new Map<number, number>();
  let total = 0;
  let left = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    total += dt;
    if (values.without.length > 0 && excluded(id)) {
      left += dt;
      return;
    }
    self.set(id, (self.get(id) ?? 0) + dt);
  });

  // Idle time is not work: report shares of the busy time.
  const idle = [...self].reduce(
    (sum, [id, t]) => (byId.get(id)?.callFrame.functionName === '(idle)' ? sum + t : sum),
    0,
  );
  const busy = total - idle - left;
  const ms = (us: number) => (us / 1000).toFixed(0).padStart(7);
  const pct = (us: number) => `${((100 * us) / busy).toFixed(1).padStart(5)}%`;

  const selfByFunction = new Map<string, number>();
  const selfByPlace = new Map<string, number>();
  for (const [id, t] of self) {
    const frame = byId.get(id)!.callFrame;
    if (frame.functionName === '(idle)') continue;
    selfByFunction.set(label(frame), (selfByFunction.get(label(frame)) ?? 0) + t);
    selfByPlace.set(place(frame.url), (selfByPlace.get(place(frame.url)) ?? 0) + t);
  }

  // Inclusive time: each node's self time plus its descendants', counted once per function even
  // when it recurses.
  const inclusive = new Map<string, number>();
  for (const [id, t] of self) {
    if (byId.get(id)!.callFrame.functionName === '(idle)') continue;
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const key = label(byId.get(at)!.callFrame);
      if (seen.has(key)) continue;
      seen.add(key);
      inclusive.set(key, (inclusive.get(key) ?? 0) + t);
    }
  }

  const print = (title: string, entries: Map<string, number>, filter?: string) => {
    process.stdout.write(`\n${title}\n`);
    [...entries]
      .filter(([k]) => filter === undefined || k.includes(filter))
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .forEach(([k, t]) => process.stdout.write(`${ms(t)} ms ${pct(t)}  ${k}\n`));
  };

  process.stdout.write(
    `${file}\nsampled ${(total / 1e6).toFixed(1)} s, busy ${(busy / 1e6).toFixed(1)} s (percentages are of busy time)` +
      (values.without.length === 0
        ? '\n'
        : `; left out ${(left / 1e6).toFixed(1)} s of stacks through ${values.without.join(', ')}\n`),
  );
  print('Self time by place', selfByPlace);
  print('Self time by function', selfByFunction);
  print(
    `Inclusive time by function${values.match === undefined ? '' : ` matching '${values.match}'`}`,
    inclusive,
    values.match,
  );
}

main();
