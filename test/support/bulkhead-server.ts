import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import OpenAI from 'openai';
import { loadConfig } from '../../src/core/config.ts';
import { buildApp, redactedPaths, type Bulkhead } from '../../src/http/build-app.ts';
import { createTestDatabase, type TestDatabase } from './test-database.ts';
import { publishAuditAnchors } from './audit-anchor.ts';

export interface TestTenant {
  id: string;
  name: string;
  apiKey: string;
  apiKeyId: string;
}

export interface RunningBulkhead {
  url: string;
  adminToken: string;
  bulkhead: Bulkhead;
  database: TestDatabase;
  /** Every log line the server wrote, parsed. */
  logs: Record<string, unknown>[];
  createTenant(name?: string): Promise<TestTenant>;
  /** An official OpenAI SDK client for a tenant key. */
  openai(apiKey: string, options?: { maxRetries?: number; timeout?: number }): OpenAI;
  request(
    method: string,
    path: string,
    options?: { token?: string; body?: unknown; headers?: Record<string, string> },
  ): Promise<{
    status: number;
    headers: Headers;
    body: any;
  }>;
  close(): Promise<void>;
}

export interface SharedCluster {
  database: TestDatabase;
  masterKey: Buffer;
  adminToken: string;
}

/** What several nodes of one deployment share: the database, the master key, the admin token. */
export async function createSharedCluster(): Promise<SharedCluster> {
  return {
    database: await createTestDatabase(),
    masterKey: randomBytes(32),
    adminToken: `test-admin-${randomBytes(24).toString('hex')}`,
  };
}

/**
 * A real Bulkhead on a loopback port, configured like production: with its own fresh database, or
 * as one node of a `cluster` (whose database outlives the node: close it yourself).
 */
export async function startBulkhead(
  env: Record<string, string> = {},
  cluster?: SharedCluster,
): Promise<RunningBulkhead> {
  const adminToken = cluster?.adminToken ?? `test-admin-${randomBytes(24).toString('hex')}`;
  const config = loadConfig({
    LOG_LEVEL: 'info',
    BULKHEAD_ADMIN_TOKEN: adminToken,
    BULKHEAD_ALLOW_PRIVATE_UPSTREAMS: 'true',
    BULKHEAD_UPSTREAM_TIMEOUT_MS: '2000',
    ...env,
  });
  const database = cluster?.database ?? (await createTestDatabase());
  const logs: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n'))
        if (line.trim() !== '') logs.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  let bulkhead: Bulkhead;
  try {
    bulkhead = await buildApp({
      config,
      db: database.db,
      masterKey: cluster?.masterKey ?? randomBytes(32),
      previousMasterKeys: config.previousMasterKeys ?? [],
      logger: {
        level: config.logLevel,
        stream,
        redact: { paths: redactedPaths, censor: '[redacted]' },
      },
    });
    await bulkhead.app.listen({ port: 0, host: '127.0.0.1' });
  } catch (err) {
    if (cluster === undefined) await database.close();
    throw err;
  }
  const url = `http://127.0.0.1:${(bulkhead.app.server.address() as AddressInfo).port}`;

  const request: RunningBulkhead['request'] = async (method, path, options = {}) => {
    const response = await fetch(`${url}${path}`, {
      method,
      headers: {
        ...(options.token !== undefined && { authorization: `Bearer ${options.token}` }),
        ...(options.body !== undefined && { 'content-type': 'application/json' }),
        ...options.headers,
      },
      ...(options.body !== undefined && {
        body: typeof options.body === 'string' ? options.body : JSON.stringify(options.body),
      }),
    });
    const text = await response.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON (an SSE stream): the raw text
    }
    return { status: response.status, headers: response.headers, body };
  };

  let counter = 0;
  return {
    url,
    adminToken,
    bulkhead,
    database,
    logs,
    request,
    async createTenant(name = `tenant-${++counter}`) {
      const created = await request('POST', '/v1/admin/tenants', {
        token: adminToken,
        body: { name },
      });
      if (created.status !== 201)
        throw new Error(`tenant creation failed: ${JSON.stringify(created.body)}`);
      return {
        id: created.body.id,
        name,
        apiKey: created.body.apiKey,
        apiKeyId: created.body.apiKeyId,
      };
    },
    openai(apiKey, options = {}) {
      return new OpenAI({
        apiKey,
        baseURL: `${url}/v1`,
        maxRetries: options.maxRetries ?? 0,
        timeout: options.timeout ?? 10_000,
      });
    },
    async close() {
      await bulkhead.close();
      if (cluster === undefined) await database.close();
    },
  };
}

/**
 * Gives a tenant a row in the knowledge and memory tables: a thread with a message, and a
 * collection with a document and its chunk. Through the API where it can be; on a database without
 * pgvector the knowledge API answers 503, so there (and only there) the rows are written directly
 * as the schema owner — the catalog-driven tests still need every table populated.
 */
export async function addKnowledgeAndMemory(
  server: RunningBulkhead,
  tenant: TestTenant,
): Promise<void> {
  // And a row in audit_anchors (a published checkpoint of its audit chain).
  await publishAuditAnchors(server);
  const thread = await server.request('POST', '/v1/threads', { token: tenant.apiKey, body: {} });
  const message = await server.request('POST', `/v1/threads/${thread.body.id}/messages`, {
    token: tenant.apiKey,
    body: { role: 'user', content: `remember ${tenant.name}` },
  });
  if (message.status !== 201) throw new Error(`thread message: ${JSON.stringify(message.body)}`);
  const collection = await server.request('POST', '/v1/collections', {
    token: tenant.apiKey,
    body: { name: 'kb' },
  });
  if (collection.status === 201) {
    const doc = await server.request('POST', `/v1/collections/${collection.body.id}/documents`, {
      token: tenant.apiKey,
      body: { content: `A document of ${tenant.name}.` },
    });
    if (doc.status !== 201) throw new Error(`document: ${JSON.stringify(doc.body)}`);
    const job = await server.request(
      'POST',
      `/v1/collections/${collection.body.id}/documents?async=true`,
      { token: tenant.apiKey, body: { content: `Another document of ${tenant.name}.` } },
    );
    if (job.status !== 202) throw new Error(`ingest job: ${JSON.stringify(job.body)}`);
    return;
  }
  if (collection.body?.error?.code !== 'BK_KNOWLEDGE_UNAVAILABLE')
    throw new Error(`collection: ${JSON.stringify(collection.body)}`);
  const suffix = tenant.id.slice(3);
  await server.database.ownerQuery(
    `insert into collections (tenant_id, collection_id, name, embedding_model, dimensions, chunk_tokens, chunk_overlap, updated_at)
     values ($1, $2, 'kb', 'local/hash-embed', 384, 300, 50, now())`,
    [tenant.id, `col_${suffix}`],
  );
  await server.database.ownerQuery(
    `insert into documents (tenant_id, document_id, collection_id, source_type, content_sha256, chars, chunk_count, created_by, updated_at)
     values ($1, $2, $3, 'text', 'x', 1, 1, 'test', now())`,
    [tenant.id, `doc_${suffix}`, `col_${suffix}`],
  );
  await server.database.ownerQuery(
    `insert into chunks (tenant_id, chunk_id, collection_id, document_id, position, content, start_char, end_char, tokens, dims)
     values ($1, $2, $3, $4, 0, 'x', 0, 1, 1, 384)`,
    [tenant.id, `chk_${suffix}`, `col_${suffix}`, `doc_${suffix}`],
  );
  await server.database.ownerQuery(
    `insert into ingest_jobs (tenant_id, job_id, collection_id, status, source_type, created_by)
     values ($1, $2, $3, 'succeeded', 'text', 'test')`,
    [tenant.id, `job_${suffix}`, `col_${suffix}`],
  );
}

/**
 * Gives a tenant rows in the governance tables through the API: policy versions, and one request
 * held for approval (the policy then goes back to the defaults, so later calls run unhindered).
 */
export async function holdOneRequest(server: RunningBulkhead, token: string): Promise<string> {
  const policy = (document: unknown) =>
    server.request('PUT', '/v1/policy', { token, body: document });
  if ((await policy({ approvals: { models: ['local/extractive'] } })).status !== 200)
    throw new Error('could not set a policy');
  const held = await server.request('POST', '/v1/chat/completions', {
    token,
    body: { model: 'local/extractive', messages: [{ role: 'user', content: 'held for approval' }] },
  });
  if (held.status !== 202) throw new Error(`expected a held request: ${JSON.stringify(held.body)}`);
  await policy({});
  return held.body.id as string;
}

/** A new tenant with one OpenAI-compatible provider (default name `fake`) at `baseUrl`. */
export async function tenantWithProvider(
  server: RunningBulkhead,
  name: string,
  provider: { baseUrl: string; name?: string; models?: string[]; region?: string; apiKey?: string },
): Promise<TestTenant> {
  const tenant = await server.createTenant(name);
  const created = await server.request('POST', '/v1/providers', {
    token: tenant.apiKey,
    body: {
      name: provider.name ?? 'fake',
      kind: 'openai',
      baseUrl: provider.baseUrl,
      apiKey: provider.apiKey ?? 'sk-upstream',
      models: provider.models ?? ['gpt-4o-mini', 'gpt-4o'],
      ...(provider.region !== undefined && { region: provider.region }),
    },
  });
  if (created.status !== 201) throw new Error(`provider: ${JSON.stringify(created.body)}`);
  return tenant;
}

/** Replaces a tenant's policy; throws if the server refuses it. */
export async function setPolicy(
  server: RunningBulkhead,
  tenant: TestTenant,
  document: unknown,
): Promise<{ version: number; document: any }> {
  const put = await server.request('PUT', '/v1/policy', { token: tenant.apiKey, body: document });
  if (put.status !== 200) throw new Error(`policy refused: ${JSON.stringify(put.body)}`);
  return put.body;
}

/**
 * Gives a tenant a row in every tenant table, through the API: users, keys, a provider, a grant,
 * a held request, knowledge and memory, a chat completion and an embedding.
 */
export async function populateTenant(server: RunningBulkhead, t: TestTenant): Promise<void> {
  await server.request('POST', '/v1/users', {
    token: t.apiKey,
    body: { email: `u@${t.name}.test`, role: 'member' },
  });
  await server.request('POST', '/v1/keys', {
    token: t.apiKey,
    body: { name: 'k', role: 'member' },
  });
  await server.request('POST', '/v1/providers', {
    token: t.apiKey,
    body: {
      name: 'p',
      kind: 'openai',
      baseUrl: 'https://api.example.com/v1',
      apiKey: `sk-${t.name}`,
      models: ['m'],
    },
  });
  await server.request('POST', '/v1/access-grants', {
    token: t.apiKey,
    body: {
      scope: 'audit:payloads',
      reason: 'r',
      expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
    },
  });
  await holdOneRequest(server, t.apiKey);
  await addKnowledgeAndMemory(server, t);
  await server.openai(t.apiKey).chat.completions.create({
    model: 'local/extractive',
    messages: [{ role: 'user', content: `secret of ${t.name}` }],
  });
  await server.openai(t.apiKey).embeddings.create({ model: 'local/hash-embed', input: 'x' });
}
