import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/**
 * The servers under test run as child processes, so the load generator (this process) never shares
 * a thread with them. Every child is registered here and ended when the benchmark ends, however it
 * ends: normally, on an error, or on Ctrl-C.
 */
export interface Child {
  name: string;
  process: ChildProcess;
  /** The last lines the child wrote (stdout and stderr), for error messages. */
  tail(): string;
  /** Resolves with the exit code once the child has exited. */
  exited: Promise<number | null>;
  /** SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

const running = new Set<Child>();

export function startChild(
  name: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; onLine?: (line: string) => void } = {},
): Child {
  const child = spawn(process.execPath, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const collect = (stream: NodeJS.ReadableStream) => {
    let partial = '';
    stream.setEncoding('utf8');
    stream.on('data', (text: string) => {
      const parts = (partial + text).split('\n');
      partial = parts.pop() ?? '';
      for (const line of parts) {
        options.onLine?.(line);
        lines.push(line);
        if (lines.length > 40) lines.shift();
      }
    });
  };
  collect(child.stdout);
  collect(child.stderr);

  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      running.delete(handle);
      resolve(code);
    });
  });
  const handle: Child = {
    name,
    process: child,
    tail: () => lines.join('\n'),
    exited,
    async stop(graceMs = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
  running.add(handle);
  return handle;
}

export async function stopAllChildren(): Promise<void> {
  await Promise.all([...running].map((c) => c.stop()));
}

// Last resort when the process is leaving without having stopped its children (an uncaught error
// or process.exit): 'exit' handlers must be synchronous, so no grace period here.
process.on('exit', () => {
  for (const c of running) c.process.kill('SIGKILL');
});

/** A port that was free a moment ago on 127.0.0.1 (servers that cannot report their own port). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address !== null
          ? resolve(address.port)
          : reject(new Error('no port')),
      );
    });
  });
}

/** Polls `url` until it answers 2xx; fails early if the child exits, and after `timeoutMs`. */
export async function waitForHttp(child: Child, url: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exitCode: number | null | undefined;
  void child.exited.then((code) => (exitCode = code));
  for (;;) {
    if (exitCode !== undefined) {
      throw new Error(
        `${child.name} exited (code ${exitCode}) before it was ready:\n${child.tail()}`,
      );
    }
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      await response.arrayBuffer();
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      throw new Error(
        `${child.name} was not ready at ${url} after ${timeoutMs} ms:\n${child.tail()}`,
      );
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

const clockTicksPerSecond = 100; // USER_HZ: 100 on every mainstream Linux build

/**
 * CPU time (user + system, ms) a process has used so far, from /proc; null where there is no /proc.
 * Children of the process (none here) are not included.
 */
export function cpuTimeMs(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces; fields after it are space separated.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    return ((utime + stime) * 1000) / clockTicksPerSecond;
  } catch {
    return null;
  }
}

/** CPU time (ms) of this process and every child still running. */
export function ownCpuTimeMs(): number | null {
  let sum = cpuTimeMs(process.pid);
  for (const c of running) {
    const t = cpuTimeMs(c.process.pid);
    sum = sum === null || t === null ? null : sum + t;
  }
  return sum;
}

/** CPU time (ms) the whole machine has been busy, all cores, from /proc/stat; null without it. */
export function machineBusyMs(): number | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
    // cpu user nice system idle ...: interrupt time is left out, as the kernel does not charge it
    // to the process it serves, and neither is time the hypervisor gave to other machines (steal).
    const [user, nice, system] = line.trim().split(/\s+/).slice(1).map(Number);
    return (((user ?? 0) + (nice ?? 0) + (system ?? 0)) * 1000) / clockTicksPerSecond;
  } catch {
    return null;
  }
}
