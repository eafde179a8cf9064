import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** "AMD EPYC, 2 cores, 24 GiB memory; Node v20 on Linux 6.x" */
export function machineDescription(): string {
  const cpus = os.cpus();
  return `${cpus[0]?.model.trim() ?? 'unknown CPU'}, ${cpus.length} cores, ${(os.totalmem() / 1024 ** 3).toFixed(0)} GiB memory; Node ${process.version} on ${os.type()} ${os.release()}`;
}

/** The commit measured, and whether src/ had uncommitted changes at the time. */
export function gitDescription(): string {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot })
      .toString()
      .trim();
    const dirty =
      execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd: repoRoot })
        .toString()
        .trim() !== '';
    return `${commit}${dirty ? ' (with uncommitted changes in src/)' : ''}`;
  } catch {
    return 'unknown';
  }
}

/** Seconds with one decimal, from milliseconds. */
export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}
