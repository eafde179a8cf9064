import type { FastifyBaseLogger } from 'fastify';
import { describe, expect, it } from 'vitest';
import type { Database } from '../db/scope.ts';
import { RetentionSweeper } from './retention-sweep.ts';

/** A database that is down: every sweep fails at its first step. */
function unreachable(): Database & { attempts: number } {
  const db = {
    attempts: 0,
    backend: {
      acquire: () => {
        db.attempts++;
        return Promise.reject(new Error('database down'));
      },
    },
  };
  return db as unknown as Database & { attempts: number };
}

function recordingLog() {
  const lines: { level: string; msg: string }[] = [];
  const log = {
    info: (_obj: unknown, msg: string) => lines.push({ level: 'info', msg }),
    error: (_obj: unknown, msg: string) => lines.push({ level: 'error', msg }),
  };
  return { log: log as unknown as FastifyBaseLogger, lines };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('RetentionSweeper scheduling', () => {
  it('logs a failed sweep and tries again at the next interval, until stopped', async () => {
    const db = unreachable();
    const { log, lines } = recordingLog();
    const sweeper = new RetentionSweeper({ db, intervalMs: 5, log });
    sweeper.start();
    sweeper.start(); // idempotent: still one timer
    await sleep(80);
    await sweeper.stop();
    const attempts = db.attempts;
    expect(attempts).toBeGreaterThanOrEqual(2);
    expect(lines.every((l) => l.level === 'error' && l.msg.includes('retrying'))).toBe(true);
    await sleep(30);
    expect(db.attempts).toBe(attempts);
  });

  it('does nothing with an interval of 0', async () => {
    const db = unreachable();
    const sweeper = new RetentionSweeper({ db, intervalMs: 0, log: recordingLog().log });
    sweeper.start();
    await sleep(20);
    await sweeper.stop();
    expect(db.attempts).toBe(0);
  });

  it('refuses a negative or fractional interval', () => {
    for (const intervalMs of [-1, 1.5, Number.NaN]) {
      expect(
        () => new RetentionSweeper({ db: unreachable(), intervalMs, log: recordingLog().log }),
      ).toThrow('interval');
    }
  });
});
