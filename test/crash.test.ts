import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, startServerProcess } from './support/processes.ts';

/**
 * Kill -9 in the middle of a burst of audited requests, start again on the same database: the audit
 * chain verifies, and usage and audit agree (they commit together or not at all).
 */
const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function crashAndCheck(env: Record<string, string>, adminToken: string) {
  let server = await startServerProcess(env);
  const admin = { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' };
  const tenant: any = await (
    await fetch(`${server.url}/v1/admin/tenants`, {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({ name: 'crash' }),
    })
  ).json();
  const headers = { authorization: `Bearer ${tenant.apiKey}`, 'content-type': 'application/json' };
  const fire = () =>
    fetch(`${server.url}/v1/chat/completions`, {
      method: 'POST',
      headers,
      body: JSON.stringify({
        model: 'local/extractive',
        messages: [{ role: 'user', content: 'burst' }],
      }),
    }).then(
      (r) => r.status,
      () => 0,
    );
  const inFlight: Promise<number>[] = [];
  const stopFiring = Date.now() + 1500;
  let killed = false;
  const loops = Array.from({ length: 16 }, async () => {
    while (!killed && Date.now() < stopFiring) {
      inFlight.push(fire());
      await new Promise((r) => setImmediate(r));
    }
  });
  await new Promise((r) => setTimeout(r, 700));
  server.child.kill('SIGKILL');
  killed = true;
  await Promise.all(loops);
  const statuses = await Promise.all(inFlight);
  const acknowledged = statuses.filter((s) => s === 200).length;
  expect(acknowledged).toBeGreaterThan(0);
  expect(statuses.some((s) => s === 0)).toBe(true);
  await server.exited;

  server = await startServerProcess(env);
  cleanups.push(() => {
    if (server.child.exitCode === null) server.child.kill('SIGKILL');
  });
  const verify = await (await fetch(`${server.url}/v1/audit/verify`, { headers })).json();
  expect(verify).toMatchObject({ ok: true });
  const usage: any = await (await fetch(`${server.url}/v1/usage`, { headers })).json();
  const chats = await (
    await fetch(`${server.url}/v1/audit?action=chat.completion&limit=1000&format=jsonl`, {
      headers,
    })
  ).text();
  const audited = chats.trim() === '' ? 0 : chats.trim().split('\n').length;
  expect(audited).toBe(usage.totals.requests);
  // Every acknowledged response was committed; some committed ones may not have reached the client.
  expect(usage.totals.requests).toBeGreaterThanOrEqual(acknowledged);
  server.child.kill('SIGTERM');
  await server.exited;
}

describe('a crash during audit appends', () => {
  it('leaves a chain that verifies on the embedded database', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'bk-crash-'));
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const first = await startServerProcess({ BULKHEAD_DATA_DIR: dataDir, DATABASE_URL: '' });
    first.child.kill('SIGTERM');
    await first.exited;
    const token = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
    await crashAndCheck({ BULKHEAD_DATA_DIR: dataDir, DATABASE_URL: '' }, token);
  }, 90_000);

  it.runIf(process.env.DATABASE_URL)(
    'leaves a chain that verifies on PostgreSQL',
    async () => {
      const name = `bk_crash_${randomBytes(5).toString('hex')}`;
      const admin = new pg.Client({ connectionString: process.env.DATABASE_URL });
      await admin.connect();
      await admin.query(`create database ${name}`);
      cleanups.push(async () => {
        await admin.query(`drop database if exists ${name} with (force)`);
        await admin.end();
      });
      const ownerUrl = new URL(process.env.DATABASE_URL!);
      ownerUrl.pathname = `/${name}`;
      const migrated = await runCli(['migrate'], {
        BULKHEAD_MIGRATION_DATABASE_URL: ownerUrl.toString(),
      });
      expect(migrated.code, migrated.stderr).toBe(0);
      const appUrl = new URL(ownerUrl);
      appUrl.username = 'bulkhead_app';
      const token = 'c'.repeat(40);
      await crashAndCheck(
        {
          DATABASE_URL: appUrl.toString(),
          BULKHEAD_MASTER_KEY: randomBytes(32).toString('base64'),
          BULKHEAD_ADMIN_TOKEN: token,
        },
        token,
      );
    },
    90_000,
  );
});
