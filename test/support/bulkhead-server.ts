import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import OpenAI from 'openai';
import { loadConfig } from '../../src/core/config.ts';
import { buildApp, redactedPaths, type Bulkhead } from '../../src/http/build-app.ts';
import { createTestDatabase, type TestDatabase } from './test-database.ts';

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

/** A real Bulkhead on a loopback port, with its own fresh database, configured like production. */
export async function startBulkhead(env: Record<string, string> = {}): Promise<RunningBulkhead> {
  const adminToken = `test-admin-${randomBytes(24).toString('hex')}`;
  const config = loadConfig({
    LOG_LEVEL: 'info',
    BULKHEAD_ADMIN_TOKEN: adminToken,
    BULKHEAD_ALLOW_PRIVATE_UPSTREAMS: 'true',
    BULKHEAD_UPSTREAM_TIMEOUT_MS: '2000',
    ...env,
  });
  const database = await createTestDatabase();
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
      masterKey: randomBytes(32),
      logger: {
        level: config.logLevel,
        stream,
        redact: { paths: redactedPaths, censor: '[redacted]' },
      },
    });
    await bulkhead.app.listen({ port: 0, host: '127.0.0.1' });
  } catch (err) {
    await database.close();
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
      await database.close();
    },
  };
}
