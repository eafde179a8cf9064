import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBulkhead, type RunningBulkhead, type TestTenant } from './support/bulkhead-server.ts';
import { json, startFakeOpenAI } from './support/fake-openai-upstream.ts';

let server: RunningBulkhead;
let upstream: Awaited<ReturnType<typeof startFakeOpenAI>>;
let tenant: TestTenant;

const records = (tenantId: string) =>
  server.database.ownerQuery<Record<string, any>>(
    `select * from usage_records where tenant_id = $1 order by usage_id`,
    [tenantId],
  );

beforeAll(async () => {
  upstream = await startFakeOpenAI();
  server = await startBulkhead();
  tenant = await server.createTenant('metered');
  await server.request('POST', '/v1/providers', {
    token: tenant.apiKey,
    body: {
      name: 'openai',
      kind: 'openai',
      baseUrl: upstream.url,
      apiKey: 'sk-m',
      models: ['gpt-4o-mini', 'house-model'],
    },
  });
});
afterAll(async () => {
  await server.close();
  await upstream.close();
});

describe('usage metering', () => {
  it('writes one record per request, with the principal, the tokens the provider reported and the priced cost', async () => {
    const before = (await records(tenant.id)).length;
    const raw = await server
      .openai(tenant.apiKey)
      .chat.completions.create({
        model: 'openai/gpt-4o-mini',
        messages: [{ role: 'user', content: 'hi' }],
      })
      .withResponse();
    const rows = await records(tenant.id);
    expect(rows).toHaveLength(before + 1);
    const row = rows.at(-1)!;
    expect(row).toMatchObject({
      request_id: raw.response.headers.get('x-request-id'),
      principal_kind: 'api_key',
      principal_id: tenant.apiKeyId,
      api_key_id: tenant.apiKeyId,
      provider: 'openai',
      model: 'gpt-4o-mini',
      operation: 'chat',
      input_tokens: 11,
      output_tokens: 7,
      tokens_counted_by: 'provider',
      status: 'ok',
      http_status: 200,
      price_version: '2026-11-01',
    });
    // gpt-4o-mini: $0.15 / $0.60 per million tokens → 11 × 150 + 7 × 600 nano-USD.
    expect(Number(row.cost_nano_usd)).toBe(11 * 150 + 7 * 600);
    expect(row.latency_ms).toBeGreaterThanOrEqual(0);
  });

  it('counts tokens itself when the provider reports none, and says so', async () => {
    upstream.respondWith((req, res) =>
      json(res, 200, {
        id: 'x',
        object: 'chat.completion',
        created: 1,
        model: req.body.model,
        choices: [
          {
            index: 0,
            message: { role: 'assistant', content: 'four words right here' },
            finish_reason: 'stop',
          },
        ],
      }),
    );
    const completion = await server.openai(tenant.apiKey).chat.completions.create({
      model: 'openai/house-model',
      messages: [{ role: 'user', content: 'hello world' }],
    });
    upstream.reset();
    const row = (await records(tenant.id)).at(-1)!;
    expect(row.tokens_counted_by).toBe('bulkhead');
    expect(row.output_tokens).toBe(4);
    expect(row.input_tokens).toBeGreaterThan(2);
    expect(completion.usage).toMatchObject({
      prompt_tokens: row.input_tokens,
      completion_tokens: 4,
    });
    expect(row.price_version).toBe('unpriced');
    expect(Number(row.cost_nano_usd)).toBe(0);
  });

  it('records failed requests too, with their status and error code', async () => {
    await server.request('POST', '/v1/chat/completions', {
      token: tenant.apiKey,
      body: { model: 'openai/not-listed', messages: [{ role: 'user', content: 'x' }] },
    });
    expect((await records(tenant.id)).at(-1)).toMatchObject({
      status: 'error',
      http_status: 404,
      error_code: 'BK_MODEL_NOT_FOUND',
    });
  });

  it('loses no record in a burst of parallel requests (group commit)', async () => {
    const fresh = await server.createTenant('burst');
    const client = server.openai(fresh.apiKey);
    const results = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        i % 2 === 0
          ? client.embeddings.create({ model: 'local/hash-embed', input: `burst ${i}` })
          : client.chat.completions.create({
              model: 'local/extractive',
              messages: [{ role: 'user', content: `burst ${i}` }],
            }),
      ),
    );
    expect(results).toHaveLength(60);
    // Each response was sent only after its record committed: no waiting needed here.
    const rows = await records(fresh.id);
    expect(rows).toHaveLength(60);
    expect(new Set(rows.map((r) => r.request_id)).size).toBe(60);
  });

  it('reports totals, a breakdown by model and by day', async () => {
    const fresh = await server.createTenant('report');
    const client = server.openai(fresh.apiKey);
    await client.embeddings.create({ model: 'local/hash-embed', input: 'one two three' });
    await client.embeddings.create({ model: 'local/hash-embed', input: 'four five' });
    await client.chat.completions.create({
      model: 'local/extractive',
      messages: [{ role: 'user', content: 'six' }],
    });
    const rows = await records(fresh.id);
    const report = await server.request('GET', '/v1/usage', { token: fresh.apiKey });
    expect(report.status).toBe(200);
    const sum = (key: string) => rows.reduce((s, r) => s + Number(r[key]), 0);
    expect(report.body.totals).toEqual({
      requests: 3,
      errors: 0,
      inputTokens: sum('input_tokens'),
      outputTokens: sum('output_tokens'),
      costUsd: 0,
    });
    expect(report.body.byModel.map((m: any) => [m.model, m.requests])).toEqual([
      ['extractive', 1],
      ['hash-embed', 2],
    ]);
    const today = new Date().toISOString().slice(0, 10);
    expect(report.body.byDay).toEqual([expect.objectContaining({ day: today, requests: 3 })]);

    const future = await server.request(
      'GET',
      `/v1/usage?from=${encodeURIComponent(new Date(Date.now() + 86_400_000).toISOString())}&to=${encodeURIComponent(new Date(Date.now() + 2 * 86_400_000).toISOString())}`,
      {
        token: fresh.apiKey,
      },
    );
    expect(future.body.totals.requests).toBe(0);
    const backwards = await server.request(
      'GET',
      `/v1/usage?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z`,
      { token: fresh.apiKey },
    );
    expect(backwards.status).toBe(400);
  });

  it('shows operators every tenant, and one tenant in detail', async () => {
    const all = await server.request('GET', '/v1/admin/usage', { token: server.adminToken });
    expect(all.status).toBe(200);
    const mine = all.body.tenants.find((t: any) => t.tenantId === tenant.id);
    expect(mine.requests).toBe((await records(tenant.id)).length);
    const one = await server.request('GET', `/v1/admin/tenants/${tenant.id}/usage`, {
      token: server.adminToken,
    });
    expect(one.body.totals.requests).toBe(mine.requests);
    const reasons = await server.database.ownerQuery<{ reason: string }>(
      `select reason from operator_actions order by at`,
    );
    expect(reasons.map((r) => r.reason)).toEqual(
      expect.arrayContaining(['usage summary', 'tenant usage report']),
    );
  });

  it('records who acted when a viewer only reads', async () => {
    const viewer = await server.request('POST', '/v1/keys', {
      token: tenant.apiKey,
      body: { name: 'reader', role: 'viewer' },
    });
    const report = await server.request('GET', '/v1/usage', { token: viewer.body.key });
    expect(report.status).toBe(200);
    const denied = await server.request('POST', '/v1/chat/completions', {
      token: viewer.body.key,
      body: { model: 'local/extractive', messages: [{ role: 'user', content: 'x' }] },
    });
    expect(denied.status).toBe(403);
  });
});
