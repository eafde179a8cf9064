import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startBulkhead, type RunningBulkhead, type TestTenant } from './support/bulkhead-server.ts';
import { json, startFakeOpenAI, streamPieces } from './support/fake-openai-upstream.ts';

let server: RunningBulkhead;
let upstream: Awaited<ReturnType<typeof startFakeOpenAI>>;
let tenant: TestTenant;
let client: OpenAI;

const until = async (check: () => boolean, ms = 3000) => {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 20));
  }
};

async function usageRows(tenantId: string) {
  await server.bulkhead.app.inject({ method: 'GET', url: '/healthz' });
  return server.database.ownerQuery<Record<string, any>>(
    `select * from usage_records where tenant_id = $1 order by created_at, usage_id`,
    [tenantId],
  );
}

beforeAll(async () => {
  upstream = await startFakeOpenAI();
  // These tests fail one endpoint on purpose, many times: the circuit breaker (test/routing.test.ts)
  // would rightly stop calling it, which is not what is tested here.
  server = await startBulkhead({
    BULKHEAD_UPSTREAM_TIMEOUT_MS: '700',
    BULKHEAD_CIRCUIT_FAILURE_THRESHOLD: '1000',
  });
  tenant = await server.createTenant('upstream');
  const created = await server.request('POST', '/v1/providers', {
    token: tenant.apiKey,
    body: {
      name: 'openai',
      kind: 'openai',
      baseUrl: upstream.url,
      apiKey: 'sk-tenant-secret',
      models: ['gpt-4o-mini', 'text-embedding-3-small'],
    },
  });
  expect(created.status).toBe(201);
  expect(JSON.stringify(created.body)).not.toContain('sk-tenant-secret');
  client = server.openai(tenant.apiKey);
});
beforeEach(() => upstream.reset());
afterAll(async () => {
  await server.close();
  await upstream.close();
});

describe('routing to an OpenAI-compatible upstream', () => {
  it('routes provider/model to the tenant provider, with the upstream model name and the tenant key', async () => {
    const completion = await client.chat.completions.create({
      model: 'openai/gpt-4o-mini',
      messages: [{ role: 'user', content: 'ping' }],
      temperature: 0.2,
      // An OpenAI parameter Bulkhead does not know passes through untouched.
      ...({ reasoning_effort: 'low' } as object),
    });
    expect(completion.choices[0]?.message.content).toBe('echo: ping');
    expect(completion.model).toBe('openai/gpt-4o-mini');
    expect(upstream.seen).toHaveLength(1);
    const seen = upstream.seen[0]!;
    expect(seen.path).toBe('/v1/chat/completions');
    expect(seen.headers.authorization).toBe('Bearer sk-tenant-secret');
    expect(seen.body.model).toBe('gpt-4o-mini');
    expect(seen.body.temperature).toBe(0.2);
    expect(seen.body.reasoning_effort).toBe('low');
  });

  it('uses a rotated or removed provider key from the very next request', async () => {
    const providers = await server.request('GET', '/v1/providers', { token: tenant.apiKey });
    const id = providers.body.data.find((p: { name: string }) => p.name === 'openai').id;
    const call = () =>
      client.chat.completions.create({
        model: 'openai/gpt-4o-mini',
        messages: [{ role: 'user', content: 'k' }],
      });
    await call();
    const rotated = await server.request('PATCH', `/v1/providers/${id}`, {
      token: tenant.apiKey,
      body: { apiKey: 'sk-rotated' },
    });
    expect(rotated.status).toBe(200);
    await call();
    const removed = await server.request('PATCH', `/v1/providers/${id}`, {
      token: tenant.apiKey,
      body: { apiKey: null },
    });
    expect(removed.body.hasApiKey).toBe(false);
    await call();
    await server.request('PATCH', `/v1/providers/${id}`, {
      token: tenant.apiKey,
      body: { apiKey: 'sk-tenant-secret' },
    });
    expect(upstream.seen.map((r) => r.headers.authorization)).toEqual([
      'Bearer sk-tenant-secret',
      'Bearer sk-rotated',
      undefined,
    ]);
  });

  it('says which provider served the request', async () => {
    const raw = await client.chat.completions
      .create({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] })
      .withResponse();
    expect(raw.response.headers.get('x-bulkhead-provider')).toBe('openai');
  });

  it('refuses a model the provider does not list', async () => {
    const error = await client.chat.completions
      .create({ model: 'openai/gpt-5-secret', messages: [{ role: 'user', content: 'x' }] })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.NotFoundError);
    expect(upstream.seen).toHaveLength(0);
  });

  it('passes a stream through chunk by chunk, asking the upstream for usage', async () => {
    upstream.respondWith((req, res) => streamPieces(req, res, ['one ', 'two ', 'three'], 30));
    const stream = await client.chat.completions.create({
      model: 'openai/gpt-4o-mini',
      messages: [{ role: 'user', content: 'count' }],
      stream: true,
    });
    const pieces: string[] = [];
    for await (const chunk of stream) {
      if (chunk.choices[0]?.delta.content) pieces.push(chunk.choices[0].delta.content);
      expect(chunk.usage ?? null).toBeNull();
    }
    expect(pieces).toEqual(['one ', 'two ', 'three']);
    expect(upstream.seen[0]!.body.stream_options).toEqual({ include_usage: true });
    const last = (await usageRows(tenant.id)).at(-1)!;
    expect(last).toMatchObject({
      stream: true,
      status: 'ok',
      input_tokens: 11,
      output_tokens: 3,
      tokens_counted_by: 'provider',
    });
  });

  it('embeds through the upstream and re-encodes base64 for the SDK', async () => {
    const result = await client.embeddings.create({
      model: 'openai/text-embedding-3-small',
      input: ['a', 'b'],
    });
    expect(result.data.map((d) => d.embedding)).toEqual([
      [0.5, -0.25, 0.125],
      [0.5, -0.25, 0.125],
    ]);
    expect(upstream.seen[0]!.body.encoding_format).toBe('float');
  });
});

describe('upstream failures become clean errors', () => {
  it.each([
    [401, 502, 'BK_UPSTREAM_AUTH_FAILED'],
    [403, 502, 'BK_UPSTREAM_AUTH_FAILED'],
    [400, 400, 'BK_UPSTREAM_BAD_REQUEST'],
    [429, 429, 'BK_UPSTREAM_RATE_LIMITED'],
    [500, 502, 'BK_UPSTREAM_ERROR'],
    [503, 502, 'BK_UPSTREAM_ERROR'],
  ])('upstream %i → %i %s', async (upstreamStatus, status, code) => {
    upstream.respondWith((_req, res) =>
      json(
        res,
        upstreamStatus,
        { error: { message: `upstream says ${upstreamStatus}`, type: 'x' } },
        { 'retry-after': '7' },
      ),
    );
    const response = await server.request('POST', '/v1/chat/completions', {
      token: tenant.apiKey,
      body: { model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] },
    });
    expect(response.status).toBe(status);
    expect(response.body.error.code).toBe(code);
    expect(response.body.error.message).toContain(`upstream says ${upstreamStatus}`);
    expect(JSON.stringify(response.body)).not.toContain('sk-tenant-secret');
    if (status === 429) expect(response.headers.get('retry-after')).toBe('7');
    const last = (await usageRows(tenant.id)).at(-1)!;
    expect(last).toMatchObject({ status: 'error', http_status: status, error_code: code });
  });

  it('maps an upstream that never answers to a 504', async () => {
    upstream.respondWith(() => undefined);
    const started = Date.now();
    const response = await server.request('POST', '/v1/chat/completions', {
      token: tenant.apiKey,
      body: { model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] },
    });
    expect(response.status).toBe(504);
    expect(response.body.error.code).toBe('BK_UPSTREAM_TIMEOUT');
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('maps an unreachable upstream to a 502', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    await server.request('POST', '/v1/providers', {
      token: tenant.apiKey,
      body: { name: 'gone', kind: 'openai', baseUrl: `http://127.0.0.1:${port}/v1`, models: ['m'] },
    });
    const response = await server.request('POST', '/v1/chat/completions', {
      token: tenant.apiKey,
      body: { model: 'gone/m', messages: [{ role: 'user', content: 'x' }] },
    });
    expect(response.status).toBe(502);
    expect(response.body.error.code).toBe('BK_UPSTREAM_UNREACHABLE');
  });

  it('answers a stream refused up front with an HTTP error, not a 200 stream', async () => {
    upstream.respondWith((_req, res) => json(res, 401, { error: { message: 'bad key' } }));
    const error = await client.chat.completions
      .create({
        model: 'openai/gpt-4o-mini',
        messages: [{ role: 'user', content: 'x' }],
        stream: true,
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect((error as InstanceType<typeof OpenAI.APIError>).status).toBe(502);
  });

  it('ends a stream that fails midway with an error event', async () => {
    upstream.respondWith((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(
        `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o-mini', choices: [{ index: 0, delta: { content: 'partial' }, finish_reason: null }] })}\n\n`,
      );
      setTimeout(() => res.destroy(), 50);
    });
    const response = await server.request('POST', '/v1/chat/completions', {
      token: tenant.apiKey,
      body: {
        model: 'openai/gpt-4o-mini',
        messages: [{ role: 'user', content: 'x' }],
        stream: true,
      },
    });
    expect(response.status).toBe(200);
    expect(response.body).toContain('partial');
    expect(response.body).toMatch(
      /data: \{"error":\{"message":"[^"]+","type":"api_error","code":"BK_UPSTREAM_[A-Z_]+"/,
    );
    expect(response.body).not.toContain('[DONE]');
  });
});

describe('client disconnect', () => {
  it('cancels the upstream stream when the client goes away, and records the request as cancelled', async () => {
    upstream.respondWith((req, res) =>
      streamPieces(
        req,
        res,
        Array.from({ length: 200 }, (_, i) => `w${i} `),
        25,
      ),
    );
    const controller = new AbortController();
    const response = await fetch(`${server.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tenant.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'openai/gpt-4o-mini',
        messages: [{ role: 'user', content: 'long' }],
        stream: true,
      }),
      signal: controller.signal,
    });
    const reader = response.body!.getReader();
    await reader.read();
    await reader.read();
    controller.abort();
    await until(() => upstream.closedEarly.length === 1);
    await until(() => false, 300).catch(() => undefined);
    const last = (await usageRows(tenant.id)).at(-1)!;
    expect(last).toMatchObject({
      status: 'cancelled',
      stream: true,
      error_code: 'BK_CLIENT_CLOSED',
    });
    expect(last.output_tokens).toBeGreaterThan(0);
  });

  it('cancels a non-streaming upstream call when the client goes away', async () => {
    upstream.respondWith(() => undefined);
    const controller = new AbortController();
    const pending = fetch(`${server.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tenant.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'openai/gpt-4o-mini',
        messages: [{ role: 'user', content: 'wait' }],
      }),
      signal: controller.signal,
    }).catch(() => null);
    await until(() => upstream.seen.length === 1);
    controller.abort();
    await pending;
    await until(() => upstream.closedEarly.length === 1);
  });
});

describe('the Anthropic provider through the gateway', () => {
  it('translates an OpenAI request to the Messages API and back', async () => {
    const seen: { path?: string; headers?: Record<string, unknown>; body?: any } = {};
    const anthropic = createServer((req, res) => {
      let text = '';
      req.on('data', (c: Buffer) => (text += c.toString()));
      req.on('end', () => {
        Object.assign(seen, { path: req.url, headers: req.headers, body: JSON.parse(text) });
        json(res, 200, {
          id: 'msg_1',
          type: 'message',
          role: 'assistant',
          model: 'claude-sonnet-4-0',
          content: [{ type: 'text', text: 'Bonjour' }],
          stop_reason: 'end_turn',
          usage: { input_tokens: 9, output_tokens: 2 },
        });
      });
    });
    await new Promise<void>((r) => anthropic.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(anthropic.address() as AddressInfo).port}`;
    await server.request('POST', '/v1/providers', {
      token: tenant.apiKey,
      body: {
        name: 'claude',
        kind: 'anthropic',
        baseUrl: base,
        apiKey: 'sk-ant-tenant',
        models: ['claude-sonnet-4-0'],
      },
    });
    const completion = await client.chat.completions.create({
      model: 'claude/claude-sonnet-4-0',
      messages: [
        { role: 'system', content: 'Answer in French.' },
        { role: 'user', content: 'Hello' },
      ],
    });
    anthropic.close();
    expect(completion.choices[0]?.message.content).toBe('Bonjour');
    expect(completion.model).toBe('claude/claude-sonnet-4-0');
    expect(completion.usage).toMatchObject({ prompt_tokens: 9, completion_tokens: 2 });
    expect(seen.path).toBe('/v1/messages');
    expect(seen.headers?.['x-api-key']).toBe('sk-ant-tenant');
    expect(seen.body.system).toBe('Answer in French.');
    expect(seen.body.messages).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'Hello' }] },
    ]);
  });
});
