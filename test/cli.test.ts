import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAI, streamPieces } from './support/fake-openai-upstream.ts';
import { runCli, startServerProcess, type ServerProcess } from './support/processes.ts';

let dataDir: string;
let server: ServerProcess;
let upstream: Awaited<ReturnType<typeof startFakeOpenAI>>;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'bk-cli-'));
  upstream = await startFakeOpenAI();
  server = await startServerProcess({
    BULKHEAD_DATA_DIR: dataDir,
    BULKHEAD_ALLOW_PRIVATE_UPSTREAMS: 'true',
    DATABASE_URL: '',
  });
}, 60_000);
afterAll(async () => {
  if (server.child.exitCode === null) server.child.kill('SIGKILL');
  await upstream.close();
  rmSync(dataDir, { recursive: true, force: true });
});

const cli = (args: string[]) =>
  runCli([...args, '--url', server.url], { BULKHEAD_DATA_DIR: dataDir });

describe('bulkhead serve and the CLI, as a user runs them', () => {
  let tenantId: string;
  let ownerKey: string;

  it('generates and prints an operator token and a master key on first start, readable only by the owner', () => {
    const tokenFile = join(dataDir, 'admin-token');
    expect(existsSync(tokenFile)).toBe(true);
    const token = readFileSync(tokenFile, 'utf8').trim();
    expect(server.output()).toContain(token);
    expect(statSync(tokenFile).mode & 0o077).toBe(0);
    expect(statSync(join(dataDir, 'master.key')).mode & 0o077).toBe(0);
    expect(existsSync(join(dataDir, 'pgdata'))).toBe(true);
  });

  it('creates and lists tenants', async () => {
    const created = await cli(['tenants', 'create', '--name', 'cli-co']);
    expect(created.code, created.stderr).toBe(0);
    const tenant = JSON.parse(created.stdout);
    expect(tenant).toMatchObject({ name: 'cli-co', status: 'active' });
    expect(tenant.apiKey).toMatch(/^bk_tn_/);
    tenantId = tenant.id;
    ownerKey = tenant.apiKey;
    const listed = await cli(['tenants', 'list']);
    expect(JSON.parse(listed.stdout).data.map((t: { id: string }) => t.id)).toContain(tenantId);
  });

  it('creates and revokes keys; a revoked key stops working at once', async () => {
    const created = await cli([
      'keys',
      'create',
      '--tenant',
      tenantId,
      '--name',
      'ci',
      '--role',
      'member',
    ]);
    expect(created.code, created.stderr).toBe(0);
    const key = JSON.parse(created.stdout);
    const models = () =>
      fetch(`${server.url}/v1/models`, { headers: { authorization: `Bearer ${key.key}` } });
    expect((await models()).status).toBe(200);
    const revoked = await cli(['keys', 'revoke', '--tenant', tenantId, key.id]);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(JSON.parse(revoked.stdout).revokedAt).not.toBeNull();
    expect((await models()).status).toBe(401);
  });

  it('verifies audit chains of every tenant or one, and fails on an unknown tenant', async () => {
    const ok = await cli(['audit', 'verify']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(new RegExp(`${tenantId}: ok \\(\\d+ events\\)`));
    const one = await cli(['audit', 'verify', '--tenant', tenantId]);
    expect(one.stdout.trim().split('\n')).toHaveLength(1);
    const unknown = await cli(['audit', 'verify', '--tenant', 'tn_00000000000000000000000000']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('HTTP 404');
  });

  it("reads and writes a tenant's policy as YAML, with history and rollback", async () => {
    const file = join(dataDir, 'policy.yaml');
    writeFileSync(
      file,
      ['pii:', '  input:', '    email: redact', 'injection:', '  action: block', ''].join('\n'),
    );
    const asTenant = (args: string[]) =>
      runCli([...args, '--url', server.url], {
        BULKHEAD_DATA_DIR: dataDir,
        BULKHEAD_API_KEY: ownerKey,
      });
    const set = await asTenant(['policy', 'set', file]);
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toContain('saved as version 1');
    const got = await asTenant(['policy', 'get']);
    expect(got.stdout).toContain('# policy version 1');
    expect(got.stdout).toMatch(/pii:\n\s+input:\n\s+email: redact/);
    expect(got.stdout).toMatch(/injection:\n\s+action: block\n\s+threshold: 0.5/);

    writeFileSync(file, 'cache:\n  enabled: true\n');
    const stale = await asTenant(['policy', 'set', file, '--if-version', '0']);
    expect(stale.code).toBe(1);
    expect(stale.stderr).toContain('HTTP 409');
    expect((await asTenant(['policy', 'set', file, '--if-version', '1'])).code).toBe(0);
    const history = await asTenant(['policy', 'history']);
    expect(
      history.stdout
        .trim()
        .split('\n')
        .map((l) => l.split('\t')[0]),
    ).toEqual(['2', '1']);
    const rolledBack = await asTenant(['policy', 'rollback', '1']);
    expect(rolledBack.stdout).toContain('version 1 restored as version 3');

    writeFileSync(file, 'pii:\n  input:\n    mail: redact\n');
    const invalid = await asTenant(['policy', 'set', file]);
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toContain('HTTP 400');
    const missingKey = await cli(['policy', 'get']);
    expect(missingKey.code).toBe(1);
    expect(missingKey.stderr).toContain('BULKHEAD_API_KEY');
  }, 120_000);

  it("ingests the project's docs folder and answers a question about it, with citations", async () => {
    const docs = new URL('../docs', import.meta.url).pathname;
    const asTenant = (args: string[]) =>
      runCli([...args, '--url', server.url], {
        BULKHEAD_DATA_DIR: dataDir,
        BULKHEAD_API_KEY: ownerKey,
      });
    const ingested = await asTenant(['ingest', docs, '--collection', 'docs', '--create']);
    expect(ingested.code, ingested.stderr).toBe(0);
    const report = JSON.parse(ingested.stdout);
    expect(report.files).toBeGreaterThan(5);
    expect(report.failed).toEqual([]);
    expect(ingested.stderr).toContain(`${report.files}/${report.files} done`);
    // Running it again replaces every document instead of adding copies.
    const again = await asTenant(['ingest', docs, '--collection', 'docs']);
    expect(JSON.parse(again.stdout).chunks).toBe(report.chunks);

    const client = new OpenAI({ apiKey: ownerKey, baseURL: `${server.url}/v1`, maxRetries: 0 });
    const answer = (await client.chat.completions.create({
      model: 'local/extractive',
      messages: [
        {
          role: 'user',
          content: 'Which environment variable sets the Redis URL for shared rate limits?',
        },
      ],
      bulkhead: { collections: [report.collection], topK: 5 },
    } as never)) as unknown as {
      choices: { message: { content: string } }[];
      bulkhead: { citations: { title: string | null; externalId: string }[] };
    };
    expect(answer.choices[0]!.message.content).toContain('REDIS_URL');
    expect(answer.bulkhead.citations.length).toBeGreaterThan(0);
    expect(answer.bulkhead.citations.map((c) => c.externalId)).toContain('quotas.md');
  }, 120_000);

  it('explains a CLI error instead of crashing', async () => {
    const result = await cli(['keys', 'revoke', '--tenant', tenantId, 'key_nope']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('HTTP 404');
    const badRole = await cli([
      'keys',
      'create',
      '--tenant',
      tenantId,
      '--name',
      'x',
      '--role',
      'god',
    ]);
    expect(badRole.code).not.toBe(0);
    expect(badRole.stderr).toContain('god');
  });

  it('finishes an in-flight stream on SIGTERM, then exits 0, and keeps the data for the next start', async () => {
    const provider = await fetch(`${server.url}/v1/providers`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ownerKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'slow', kind: 'openai', baseUrl: upstream.url, models: ['m'] }),
    });
    expect(provider.status).toBe(201);
    upstream.respondWith((req, res) =>
      streamPieces(
        req,
        res,
        Array.from({ length: 10 }, (_, i) => `p${i} `),
        80,
      ),
    );
    const response = await fetch(`${server.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ownerKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'slow/m',
        messages: [{ role: 'user', content: 'x' }],
        stream: true,
      }),
    });
    const reader = response.body!.getReader();
    await reader.read();
    server.child.kill('SIGTERM');
    let text = '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    expect(text).toContain('p9 ');
    expect(text).toContain('data: [DONE]');
    expect(await server.exited).toBe(0);

    server = await startServerProcess({ BULKHEAD_DATA_DIR: dataDir, DATABASE_URL: '' });
    expect(server.output()).not.toContain('generated an operator token');
    const usage = await fetch(`${server.url}/v1/usage`, {
      headers: { authorization: `Bearer ${ownerKey}` },
    });
    const report: any = await usage.json();
    expect(report.byModel).toEqual(
      expect.arrayContaining([expect.objectContaining({ model: 'm', requests: 1 })]),
    );
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
  }, 60_000);

  it('refuses to start on invalid configuration, naming the variable', async () => {
    const result = await runCli(['serve'], { PORT: 'eighty', BULKHEAD_DATA_DIR: dataDir });
    expect(result.code).toBe(78);
    expect(result.stderr).toContain('PORT');
    const noKey = await runCli(['serve'], {
      DATABASE_URL: 'postgres://127.0.0.1:1/x',
      BULKHEAD_MASTER_KEY: '',
    });
    expect(noKey.code).toBe(78);
    expect(noKey.stderr).toContain('BULKHEAD_MASTER_KEY');
  });

  it('lists its configuration and prints the OpenAPI document', async () => {
    const config = await runCli(['config'], {});
    expect(config.stdout).toContain('BULKHEAD_ADMIN_TOKEN (or BULKHEAD_ADMIN_TOKEN_FILE)');
    const openapi = await runCli(['openapi'], {});
    const document = JSON.parse(openapi.stdout);
    expect(document.openapi).toMatch(/^3\./);
    expect(Object.keys(document.paths)).toEqual(
      expect.arrayContaining(['/v1/chat/completions', '/v1/embeddings', '/v1/admin/tenants']),
    );
    expect(document.paths['/v1/chat/completions'].post.requestBody).toBeDefined();
  }, 30_000);
});

describe.runIf(process.env.DATABASE_URL)('on a PostgreSQL server', () => {
  it('migrates as the owner, then serves as the bulkhead_app login role', async () => {
    const name = `bk_cli_${randomBytes(5).toString('hex')}`;
    const admin = new pg.Client({ connectionString: process.env.DATABASE_URL });
    await admin.connect();
    await admin.query(`create database ${name}`);
    try {
      const ownerUrl = new URL(process.env.DATABASE_URL!);
      ownerUrl.pathname = `/${name}`;
      const password = randomBytes(12).toString('hex');
      const migrated = await runCli(['migrate'], {
        BULKHEAD_MIGRATION_DATABASE_URL: ownerUrl.toString(),
        BULKHEAD_APP_DB_PASSWORD: password,
      });
      expect(migrated.code, migrated.stderr).toBe(0);
      expect(migrated.stdout).toContain('0001-foundation');
      const again = await runCli(['migrate'], {
        BULKHEAD_MIGRATION_DATABASE_URL: ownerUrl.toString(),
      });
      expect(again.stdout).toContain('up to date');

      const appUrl = new URL(ownerUrl);
      appUrl.username = 'bulkhead_app';
      appUrl.password = password;
      const node = await startServerProcess({
        DATABASE_URL: appUrl.toString(),
        BULKHEAD_MASTER_KEY: randomBytes(32).toString('base64'),
        BULKHEAD_ADMIN_TOKEN: 'o'.repeat(40),
      });
      expect(node.output()).toContain('pgvector');
      const created = await fetch(`${node.url}/v1/admin/tenants`, {
        method: 'POST',
        headers: { authorization: `Bearer ${'o'.repeat(40)}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'server' }),
      });
      expect(created.status).toBe(201);
      node.child.kill('SIGTERM');
      expect(await node.exited).toBe(0);
    } finally {
      await admin.query(`drop database if exists ${name} with (force)`);
      await admin.end();
    }
  }, 60_000);
});
