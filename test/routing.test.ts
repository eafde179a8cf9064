import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  setPolicy as putPolicy,
  startBulkhead,
  type RunningBulkhead,
  type TestTenant,
} from './support/bulkhead-server.ts';
import { json, startFakeOpenAI, streamPieces } from './support/fake-openai-upstream.ts';

/**
 * Per-tenant routing over real HTTP upstreams: fallbacks on failures worth retrying, none on the
 * others, the circuit breaker, and the strategies. Two providers of one tenant point at the same
 * fake server with different keys, so the fake can tell them apart and fail one of them.
 */
let server: RunningBulkhead;
let fake: Awaited<ReturnType<typeof startFakeOpenAI>>;

beforeAll(async () => {
  fake = await startFakeOpenAI();
  server = await startBulkhead({
    BULKHEAD_CIRCUIT_FAILURE_THRESHOLD: '2',
    BULKHEAD_CIRCUIT_OPEN_MS: '60000',
  });
});
afterAll(async () => {
  await server.close();
  await fake.close();
});
beforeEach(() => fake.reset());

async function tenantWithTwoProviders(name: string): Promise<TestTenant> {
  const tenant = await server.createTenant(name);
  for (const provider of ['primary', 'secondary']) {
    const created = await server.request('POST', '/v1/providers', {
      token: tenant.apiKey,
      body: {
        name: provider,
        kind: 'openai',
        baseUrl: fake.url,
        apiKey: `sk-${provider}`,
        models: ['gpt-4o', 'gpt-4o-mini'],
      },
    });
    expect(created.status).toBe(201);
  }
  return tenant;
}

const setPolicy = (tenant: TestTenant, document: unknown) => putPolicy(server, tenant, document);

const fromPrimary = (s: { headers: Record<string, unknown> }) =>
  s.headers.authorization === 'Bearer sk-primary';

/** The primary answers `status`; the secondary answers normally. */
function failPrimary(status: number, headers: Record<string, string> = {}) {
  fake.respondWith((request, res) => {
    if (fromPrimary(request)) {
      return json(res, status, { error: { message: `primary says ${status}` } }, headers);
    }
    if (request.body.stream === true) return streamPieces(request, res, ['from ', 'secondary']);
    json(res, 200, {
      id: 'chatcmpl-2',
      object: 'chat.completion',
      created: 1,
      model: request.body.model,
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: 'from secondary' },
          finish_reason: 'stop',
        },
      ],
      usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 },
    });
  });
}

function chat(tenant: TestTenant, model: string, extra: Record<string, unknown> = {}) {
  return server.request('POST', '/v1/chat/completions', {
    token: tenant.apiKey,
    body: { model, messages: [{ role: 'user', content: 'route me' }], ...extra },
  });
}

describe('fallbacks', () => {
  it.each([500, 503, 429])(
    'moves on to the fallback when the primary answers %i',
    async (status) => {
      const t = await tenantWithTwoProviders(`fallback-${status}`);
      await setPolicy(t, {
        routing: { fallbacks: { 'primary/gpt-4o': ['secondary/gpt-4o'] }, retryBackoffMs: 0 },
      });
      failPrimary(status, status === 429 ? { 'retry-after': '0' } : {});
      const answer = await chat(t, 'primary/gpt-4o');
      expect(answer.status).toBe(200);
      expect(answer.body.choices[0].message.content).toBe('from secondary');
      expect(answer.headers.get('x-bulkhead-provider')).toBe('secondary');
      expect(answer.body.model).toBe('secondary/gpt-4o');
      expect(fake.seen.map((s) => fromPrimary(s))).toEqual([true, false]);
    },
  );

  it('does not retry a request the upstream refused as bad', async () => {
    const t = await tenantWithTwoProviders('no-fallback-400');
    await setPolicy(t, { routing: { fallbacks: { 'primary/gpt-4o': ['secondary/gpt-4o'] } } });
    failPrimary(400);
    const answer = await chat(t, 'primary/gpt-4o');
    expect(answer.status).toBe(400);
    expect(answer.body.error.code).toBe('BK_UPSTREAM_BAD_REQUEST');
    expect(fake.seen).toHaveLength(1);
  });

  it('falls back before the first byte of a stream', async () => {
    const t = await tenantWithTwoProviders('stream-fallback');
    await setPolicy(t, {
      routing: { fallbacks: { 'primary/gpt-4o': ['secondary/gpt-4o'] }, retryBackoffMs: 0 },
    });
    failPrimary(502);
    const stream = await server.openai(t.apiKey).chat.completions.create({
      model: 'primary/gpt-4o',
      messages: [{ role: 'user', content: 'stream me' }],
      stream: true,
    });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expect(text).toBe('from secondary');
  });

  it('gives up after maxAttempts with the last error', async () => {
    const t = await tenantWithTwoProviders('attempts');
    await setPolicy(t, { routing: { maxAttempts: 2, retryBackoffMs: 0 } });
    failPrimary(500);
    const answer = await chat(t, 'primary/gpt-4o-mini');
    expect(answer.status).toBe(502);
    // No fallback listed: the one candidate is tried twice.
    expect(fake.seen).toHaveLength(2);
  });
});

describe('the circuit breaker', () => {
  it('stops calling an endpoint after consecutive failures, and uses the fallback directly', async () => {
    const t = await tenantWithTwoProviders('breaker');
    await setPolicy(t, {
      routing: {
        fallbacks: { 'primary/gpt-4o': ['secondary/gpt-4o'] },
        retryBackoffMs: 0,
        maxAttempts: 2,
      },
    });
    failPrimary(500);
    for (let i = 0; i < 2; i++) expect((await chat(t, 'primary/gpt-4o')).status).toBe(200);
    expect(fake.seen.filter(fromPrimary)).toHaveLength(2);
    for (let i = 0; i < 3; i++) expect((await chat(t, 'primary/gpt-4o')).status).toBe(200);
    expect(fake.seen.filter(fromPrimary)).toHaveLength(2);

    // With nothing else to try, an open circuit answers 503 at once.
    const alone = await chat(t, 'primary/gpt-4o-mini');
    expect(alone.status).toBe(503);
    expect(alone.body.error.code).toBe('BK_UPSTREAM_CIRCUIT_OPEN');
    expect(fake.seen.filter(fromPrimary)).toHaveLength(2);
  });

  it("opens per tenant provider: another tenant's circuit on the same endpoint stays closed", async () => {
    const failing = await tenantWithTwoProviders('breaker-a');
    const healthy = await tenantWithTwoProviders('breaker-b');
    await setPolicy(failing, { routing: { maxAttempts: 1 } });
    fake.respondWith((request, res) =>
      String(request.body.messages[0].content) === 'fail'
        ? json(res, 500, { error: { message: 'boom' } })
        : json(res, 200, {
            id: 'x',
            object: 'chat.completion',
            created: 1,
            model: request.body.model,
            choices: [
              { index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' },
            ],
          }),
    );
    for (let i = 0; i < 3; i++) {
      await server.request('POST', '/v1/chat/completions', {
        token: failing.apiKey,
        body: { model: 'primary/gpt-4o', messages: [{ role: 'user', content: 'fail' }] },
      });
    }
    const other = await chat(healthy, 'primary/gpt-4o');
    expect(other.status).toBe(200);
  });
});

describe('strategies', () => {
  it('cheapest: serves from the cheaper model among the candidates', async () => {
    const t = await tenantWithTwoProviders('cheapest');
    await setPolicy(t, {
      routing: { strategy: 'cheapest', fallbacks: { 'primary/gpt-4o': ['secondary/gpt-4o-mini'] } },
    });
    const answer = await chat(t, 'primary/gpt-4o');
    expect(answer.status).toBe(200);
    expect(answer.headers.get('x-bulkhead-provider')).toBe('secondary');
    expect(fake.seen.map((s) => s.body.model)).toEqual(['gpt-4o-mini']);
  });

  it('latency: moves to the faster endpoint once both are measured', async () => {
    const t = await tenantWithTwoProviders('latency');
    await setPolicy(t, {
      routing: { strategy: 'latency', fallbacks: { 'primary/gpt-4o': ['secondary/gpt-4o'] } },
    });
    fake.respondWith(async (request, res) => {
      if (fromPrimary(request)) await new Promise((r) => setTimeout(r, 150));
      json(res, 200, {
        id: 'x',
        object: 'chat.completion',
        created: 1,
        model: request.body.model,
        choices: [
          { index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' },
        ],
      });
    });
    for (let i = 0; i < 2; i++) expect((await chat(t, 'primary/gpt-4o')).status).toBe(200);
    const served = [];
    for (let i = 0; i < 3; i++)
      served.push((await chat(t, 'primary/gpt-4o')).headers.get('x-bulkhead-provider'));
    expect(served).toEqual(['secondary', 'secondary', 'secondary']);
  });
});
