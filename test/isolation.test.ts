import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBulkhead, type RunningBulkhead, type TestTenant } from './support/bulkhead-server.ts';
import { startFakeOpenAI } from './support/fake-openai-upstream.ts';
import { createSilo, type Silo } from './support/silo-database.ts';

/**
 * Tenant B attacks everything tenant A owns, with B's own valid credentials: A's ids, A's names,
 * A's models. Every attempt must look exactly like a request for something that does not exist,
 * and afterwards A's objects and counters must be as they were. Later features add rows here.
 */
interface Owned {
  tenant: TestTenant;
  keyId: string;
  userId: string;
  providerId: string;
  grantId: string;
  approvalId: string;
}

let server: RunningBulkhead;
let upstream: Awaited<ReturnType<typeof startFakeOpenAI>>;
let a: Owned;
let b: Owned;

async function populate(
  tenant: TestTenant,
  secret: string,
  privateProvider: string,
): Promise<Owned> {
  const t = tenant.apiKey;
  const user = await server.request('POST', '/v1/users', {
    token: t,
    body: { email: `owner@${tenant.name}.test`, role: 'admin' },
  });
  const key = await server.request('POST', '/v1/keys', {
    token: t,
    body: { name: 'worker', role: 'member' },
  });
  const provider = await server.request('POST', '/v1/providers', {
    token: t,
    body: {
      name: 'shared',
      kind: 'openai',
      baseUrl: upstream.url,
      apiKey: secret,
      models: ['gpt-x'],
    },
  });
  await server.request('POST', '/v1/providers', {
    token: t,
    body: {
      name: privateProvider,
      kind: 'openai',
      baseUrl: upstream.url,
      apiKey: secret,
      models: ['only-mine'],
    },
  });
  const grant = await server.request('POST', '/v1/access-grants', {
    token: t,
    body: {
      scope: 'audit:payloads',
      reason: 'support',
      expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
    },
  });
  for (const r of [user, key, provider, grant]) expect(r.status).toBe(201);
  await server.openai(t).chat.completions.create({
    model: 'shared/gpt-x',
    messages: [{ role: 'user', content: `hello from ${tenant.name}` }],
  });
  const policy = await server.request('PUT', '/v1/policy', {
    token: t,
    body: {
      pii: { input: { email: 'redact' } },
      approvals: { models: ['local/extractive'] },
    },
  });
  expect(policy.status).toBe(200);
  const held = await server.request('POST', '/v1/chat/completions', {
    token: t,
    body: {
      model: 'local/extractive',
      messages: [{ role: 'user', content: `the plan of ${tenant.name}` }],
    },
  });
  expect(held.status).toBe(202);
  return {
    tenant,
    keyId: key.body.id,
    userId: user.body.id,
    providerId: provider.body.id,
    grantId: grant.body.id,
    approvalId: held.body.id,
  };
}

beforeAll(async () => {
  upstream = await startFakeOpenAI();
  server = await startBulkhead();
  a = await populate(await server.createTenant('alpha'), 'sk-alpha-secret', 'alpha-private');
  b = await populate(await server.createTenant('bravo'), 'sk-bravo-secret', 'bravo-private');
});
afterAll(async () => {
  await server.close();
  await upstream.close();
});

type Attack = [
  name: string,
  method: string,
  path: (o: Owned) => string,
  body?: (o: Owned) => unknown,
];

const byIdAttacks: Attack[] = [
  ['read an API key', 'GET', (o) => `/v1/keys/${o.keyId}`],
  ['revoke an API key', 'DELETE', (o) => `/v1/keys/${o.keyId}`],
  ['read a provider', 'GET', (o) => `/v1/providers/${o.providerId}`],
  [
    'change a provider',
    'PATCH',
    (o) => `/v1/providers/${o.providerId}`,
    () => ({ baseUrl: 'http://127.0.0.1:1/v1' }),
  ],
  ['delete a provider', 'DELETE', (o) => `/v1/providers/${o.providerId}`],
  ['read a user', 'GET', (o) => `/v1/users/${o.userId}`],
  ['change a user', 'PATCH', (o) => `/v1/users/${o.userId}`, () => ({ role: 'viewer' })],
  ['delete a user', 'DELETE', (o) => `/v1/users/${o.userId}`],
  ['revoke an access grant', 'DELETE', (o) => `/v1/access-grants/${o.grantId}`],
  ['read an approval', 'GET', (o) => `/v1/approvals/${o.approvalId}`],
  ['approve a held request', 'POST', (o) => `/v1/approvals/${o.approvalId}/approve`, () => ({})],
  ['deny a held request', 'POST', (o) => `/v1/approvals/${o.approvalId}/deny`, () => ({})],
];

/** The same id shape, but for nothing at all: what B sees must not differ. */
function ghost(o: Owned): Owned {
  const swap = (id: string) => id.slice(0, -6) + 'zzzzzz';
  return {
    ...o,
    keyId: swap(o.keyId),
    userId: swap(o.userId),
    providerId: swap(o.providerId),
    grantId: swap(o.grantId),
    approvalId: swap(o.approvalId),
  };
}

/** B asks for A's object: the answer must be exactly the one for an id that does not exist. */
async function expectLikeMissing(
  method: string,
  path: (o: Owned) => string,
  body?: (o: Owned) => unknown,
): Promise<void> {
  const attack = await server.request(method, path(a), { token: b.tenant.apiKey, body: body?.(a) });
  const missing = await server.request(method, path(ghost(a)), {
    token: b.tenant.apiKey,
    body: body?.(a),
  });
  expect(attack.status).toBe(404);
  expect(missing.status).toBe(404);
  const normalise = (message: string) => message.replace(/'[a-z]+_[0-9a-z]{26}'/, "'<id>'");
  expect(normalise(attack.body.error.message)).toBe(normalise(missing.body.error.message));
  expect(attack.body.error.code).toBe(missing.body.error.code);
}

describe("tenant B against tenant A's objects", () => {
  it.each(byIdAttacks)(
    'cannot %s of A: 404, exactly as for an id that does not exist',
    (_name, method, path, body) => expectLikeMissing(method, path, body),
  );

  it("cannot bind a new key to A's user", async () => {
    const response = await server.request('POST', '/v1/keys', {
      token: b.tenant.apiKey,
      body: { name: 'x', userId: a.userId },
    });
    expect(response.status).toBe(400);
    expect(response.body.error.message).toContain('No user');
  });

  it.each([
    ['keys', '/v1/keys', (o: Owned) => [o.keyId, o.tenant.apiKeyId]],
    ['providers', '/v1/providers', (o: Owned) => [o.providerId]],
    ['users', '/v1/users', (o: Owned) => [o.userId]],
    ['access grants', '/v1/access-grants', (o: Owned) => [o.grantId]],
  ])('lists none of A’s %s', async (_name, path, ids) => {
    const listed = await server.request('GET', `${path}?limit=100`, { token: b.tenant.apiKey });
    expect(listed.status).toBe(200);
    const seen = listed.body.data.map((item: { id: string }) => item.id);
    for (const id of ids(a)) expect(seen).not.toContain(id);
    for (const id of ids(b)) expect(seen).toContain(id);
  });

  it("does not see A's models, nor call them", async () => {
    const models = await server.openai(b.tenant.apiKey).models.list();
    const ids = models.data.map((m) => m.id);
    expect(ids).toContain('bravo-private/only-mine');
    expect(ids).not.toContain('alpha-private/only-mine');
    const call = await server.request('POST', '/v1/chat/completions', {
      token: b.tenant.apiKey,
      body: { model: 'alpha-private/only-mine', messages: [{ role: 'user', content: 'hi' }] },
    });
    expect(call.status).toBe(404);
    expect(call.body.error.code).toBe('BK_MODEL_NOT_FOUND');
    const retrieve = await server.request('GET', '/v1/models/alpha-private/only-mine', {
      token: b.tenant.apiKey,
    });
    expect(retrieve.status).toBe(404);
  });

  it("sends each tenant's requests with that tenant's own provider key, never the other's", async () => {
    upstream.reset();
    await Promise.all(
      Array.from({ length: 10 }, (_, i) => {
        const owner = i % 2 === 0 ? a : b;
        return server.openai(owner.tenant.apiKey).chat.completions.create({
          model: 'shared/gpt-x',
          messages: [{ role: 'user', content: `from ${owner.tenant.name}` }],
        });
      }),
    );
    expect(upstream.seen).toHaveLength(10);
    for (const seen of upstream.seen) {
      const from = (seen.body.messages as { content: string }[])[0]!.content;
      expect(seen.headers.authorization).toBe(
        from === 'from alpha' ? 'Bearer sk-alpha-secret' : 'Bearer sk-bravo-secret',
      );
    }
  });

  it("counts B's usage in B's report only", async () => {
    const before = await server.request('GET', '/v1/usage', { token: a.tenant.apiKey });
    await server
      .openai(b.tenant.apiKey)
      .embeddings.create({ model: 'local/hash-embed', input: ['one', 'two'] });
    const after = await server.request('GET', '/v1/usage', { token: a.tenant.apiKey });
    expect(after.body.totals).toEqual(before.body.totals);
    expect(after.body.tenantId).toBe(a.tenant.id);
    const bravo = await server.request('GET', '/v1/usage', { token: b.tenant.apiKey });
    expect(bravo.body.byModel.map((m: { model: string }) => m.model)).toContain('hash-embed');
    expect(bravo.body.tenantId).toBe(b.tenant.id);
  });

  it('cannot reach the operator API with a tenant key', async () => {
    for (const [method, path] of [
      ['GET', '/v1/admin/tenants'],
      ['GET', `/v1/admin/tenants/${a.tenant.id}`],
      ['POST', `/v1/admin/tenants/${a.tenant.id}/suspend`],
      ['GET', '/v1/admin/usage'],
    ] as const) {
      const response = await server.request(method, path, { token: b.tenant.apiKey });
      expect({ path, status: response.status }).toEqual({ path, status: 401 });
    }
  });

  it("cannot use A's key with B's tenant id, nor B's secret with A's tenant id", async () => {
    const secretOf = (key: string) => key.slice(key.lastIndexOf('_', key.length - 44) + 1);
    const forged = [
      `bk_${b.tenant.id}_${secretOf(a.tenant.apiKey)}`,
      `bk_${a.tenant.id}_${secretOf(b.tenant.apiKey)}`,
    ];
    for (const key of forged) {
      const response = await server.request('GET', '/v1/models', { token: key });
      expect(response.status).toBe(401);
    }
  });

  it("leaves all of A's objects as they were", async () => {
    const t = a.tenant.apiKey;
    const key = await server.request('GET', `/v1/keys/${a.keyId}`, { token: t });
    expect(key.body.revokedAt).toBeNull();
    const provider = await server.request('GET', `/v1/providers/${a.providerId}`, { token: t });
    expect(provider.body.baseUrl).toBe(upstream.url);
    const user = await server.request('GET', `/v1/users/${a.userId}`, { token: t });
    expect(user.body.role).toBe('admin');
    const grants = await server.request('GET', '/v1/access-grants', { token: t });
    expect(grants.body.data.find((g: { id: string }) => g.id === a.grantId)).toMatchObject({
      active: true,
    });
    const chat = await server.openai(t).chat.completions.create({
      model: 'shared/gpt-x',
      messages: [{ role: 'user', content: 'still here' }],
    });
    expect(chat.choices[0]?.message.content).toBe('echo: still here');
    const approval = await server.request('GET', `/v1/approvals/${a.approvalId}`, { token: t });
    expect(approval.body.status).toBe('pending');
    expect(approval.body.request.messages[0].content).toBe('the plan of alpha');
  });
});

describe("tenant B against tenant A's policy, approvals and cache", () => {
  it("reads and writes only B's own policy", async () => {
    await server.request('PUT', '/v1/policy', {
      token: b.tenant.apiKey,
      body: { pii: { input: { email: 'block' } }, cache: { enabled: true } },
    });
    const mine = await server.request('GET', '/v1/policy', { token: a.tenant.apiKey });
    expect(mine.body.version).toBe(1);
    expect(mine.body.document.pii.input).toEqual({ email: 'redact' });
    const theirs = await server.request('GET', '/v1/policy/versions/2', {
      token: a.tenant.apiKey,
    });
    expect(theirs.status).toBe(404);
    // A's policy still redacts A's requests while B's blocks B's, at the same time.
    const [ra, rb] = await Promise.all(
      [a, b].map((o) =>
        server.request('POST', '/v1/chat/completions', {
          token: o.tenant.apiKey,
          body: {
            model: 'shared/gpt-x',
            messages: [{ role: 'user', content: 'mail x@y.example' }],
          },
        }),
      ),
    );
    expect(ra!.body.choices[0].message.content).toBe('echo: mail [EMAIL_1]');
    expect(rb!.status).toBe(400);
    await server.request('POST', '/v1/policy/rollback', {
      token: b.tenant.apiKey,
      body: { version: 1 },
    });
  });

  it("does not list A's held requests to B", async () => {
    const listed = await server.request('GET', '/v1/approvals', { token: b.tenant.apiKey });
    expect(listed.body.data.map((x: { id: string }) => x.id)).toEqual([b.approvalId]);
  });

  it('never serves B a completion A cached, and does not tell B that A asked', async () => {
    for (const o of [a, b]) {
      const cached = await server.request('PUT', '/v1/policy', {
        token: o.tenant.apiKey,
        body: { cache: { enabled: true } },
      });
      expect(cached.status).toBe(200);
    }
    upstream.respondWith((request, res) => {
      const who = String(request.headers.authorization).includes('alpha') ? 'alpha' : 'bravo';
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          id: 'chatcmpl-x',
          object: 'chat.completion',
          created: 1,
          model: request.body.model,
          choices: [
            {
              index: 0,
              message: { role: 'assistant', content: `answer for ${who}` },
              finish_reason: 'stop',
            },
          ],
          usage: { prompt_tokens: 5, completion_tokens: 3, total_tokens: 8 },
        }),
      );
    });
    try {
      const ask = (o: Owned) =>
        server.request('POST', '/v1/chat/completions', {
          token: o.tenant.apiKey,
          body: {
            model: 'shared/gpt-x',
            messages: [{ role: 'user', content: 'the cached question' }],
          },
        });
      const calls = () => upstream.seen.length;
      const before = calls();
      const first = await ask(a);
      const second = await ask(a);
      expect(first.headers.get('x-bulkhead-cache')).toBe('miss');
      expect(second.headers.get('x-bulkhead-cache')).toBe('hit');
      expect(second.body.choices[0].message.content).toBe('answer for alpha');
      expect(calls()).toBe(before + 1);
      const fromB = await ask(b);
      expect(fromB.headers.get('x-bulkhead-cache')).toBe('miss');
      expect(fromB.body.choices[0].message.content).toBe('answer for bravo');
      expect(calls()).toBe(before + 2);
      // B's headers for A's cached question match B's headers for a question nobody asked.
      const fresh = await server.request('POST', '/v1/chat/completions', {
        token: b.tenant.apiKey,
        body: { model: 'shared/gpt-x', messages: [{ role: 'user', content: 'never asked' }] },
      });
      const shape = (h: Headers) =>
        [...h.keys()]
          .filter((k) => k.startsWith('x-bulkhead') || k.startsWith('x-ratelimit'))
          .sort();
      expect(shape(fromB.headers)).toEqual(shape(fresh.headers));
    } finally {
      upstream.reset();
    }
  });

  it("does not let A's spending or request rate limit B", async () => {
    const pair = [await server.createTenant('budget-a'), await server.createTenant('budget-b')];
    for (const t of pair) {
      await server.request('POST', '/v1/providers', {
        token: t.apiKey,
        body: {
          name: 'priced',
          kind: 'openai',
          baseUrl: upstream.url,
          apiKey: 'sk-p',
          models: ['gpt-4o'],
        },
      });
      await server.request('PUT', '/v1/policy', {
        token: t.apiKey,
        body: {
          budgets: { tenant: { daily: { hardUsd: 0.0002 } } },
          limits: { tenant: { requestsPerMinute: 2 } },
        },
      });
    }
    const call = (t: TestTenant) =>
      server.request('POST', '/v1/chat/completions', {
        token: t.apiKey,
        body: {
          model: 'priced/gpt-4o',
          max_tokens: 10,
          messages: [{ role: 'user', content: 'hi' }],
        },
      });
    expect((await call(pair[0]!)).status).toBe(200);
    expect((await call(pair[0]!)).status).toBe(429);
    expect((await call(pair[1]!)).status).toBe(200);
  });
});

describe("tenant B against tenant A's audit trail", () => {
  const wholeTrail = async (token: string): Promise<any[]> => {
    const listed = await server.request('GET', '/v1/audit?limit=1000', { token });
    expect(listed.status).toBe(200);
    expect(listed.body.has_more).toBe(false);
    return listed.body.data;
  };

  it("shows B none of A's events, requests, objects or content", async () => {
    const mine = await wholeTrail(b.tenant.apiKey);
    const theirs = await wholeTrail(a.tenant.apiKey);
    expect(mine.length).toBeGreaterThan(0);
    expect(theirs.length).toBeGreaterThan(0);
    const seen = JSON.stringify(mine);
    for (const event of theirs) {
      expect(seen).not.toContain(event.id);
      if (event.requestId !== null) expect(seen).not.toContain(event.requestId);
      // Model names are shared by design ('shared/gpt-x'); every other resource id is A's own.
      if (!['model', 'policy'].includes(event.resource.type) && event.resource.id !== null)
        expect(seen).not.toContain(event.resource.id);
    }
    for (const id of [a.tenant.id, a.tenant.apiKeyId, a.keyId, a.userId, a.providerId])
      expect(seen).not.toContain(id);
    for (const content of ['from alpha', 'alpha.test', 'sk-alpha-secret'])
      expect(seen).not.toContain(content);
    expect(seen).toContain('hello from bravo');
  });

  it("scopes every event B reads to B, by B's own principals", async () => {
    const mine = await wholeTrail(b.tenant.apiKey);
    const stored = await server.database.ownerQuery<{ tenant_id: string; n: string | number }>(
      `select tenant_id, count(*) as n from audit_events where event_id = any($1::text[])
        group by tenant_id`,
      [mine.map((e) => e.id)],
    );
    expect(stored.map((r) => [r.tenant_id, Number(r.n)])).toEqual([[b.tenant.id, mine.length]]);
    expect(mine[0]).toMatchObject({
      seq: 1,
      action: 'tenant.create',
      resource: { type: 'tenant', id: b.tenant.id },
    });
    const keys = await server.request('GET', '/v1/keys?limit=100', { token: b.tenant.apiKey });
    const bKeys = new Set(keys.body.data.map((k: { id: string }) => k.id));
    for (const event of mine) {
      expect(
        event.actor.kind === 'operator' || bKeys.has(event.actor.id),
        `actor of ${event.action}`,
      ).toBe(true);
    }
    // And the other way round: nothing B did landed in A's trail.
    for (const event of await wholeTrail(a.tenant.apiKey)) {
      expect(bKeys.has(event.actor.id)).toBe(false);
      expect(JSON.stringify(event)).not.toContain(b.tenant.id);
    }
  });

  it("does not page from A's event ids: a foreign cursor is an unknown cursor", async () => {
    const theirs = await wholeTrail(a.tenant.apiKey);
    const mine = await wholeTrail(b.tenant.apiKey);
    const mineIds = new Set(mine.map((e) => e.id));
    const cursor = theirs[Math.floor(theirs.length / 2)].id as string;
    const ghostCursor = cursor.slice(0, -6) + 'zzzzzz';
    for (const format of ['json', 'jsonl']) {
      const foreign = await server.request('GET', `/v1/audit?format=${format}&after=${cursor}`, {
        token: b.tenant.apiKey,
      });
      const unknown = await server.request(
        'GET',
        `/v1/audit?format=${format}&after=${ghostCursor}`,
        { token: b.tenant.apiKey },
      );
      expect([200, 400]).toContain(foreign.status);
      expect(foreign.status).toBe(unknown.status);
      const text = typeof foreign.body === 'string' ? foreign.body : JSON.stringify(foreign.body);
      for (const event of theirs) expect(text).not.toContain(event.id);
      expect(text).not.toContain(a.tenant.id);
      if (foreign.status === 200) {
        const listed: { id: string }[] =
          format === 'json'
            ? foreign.body.data
            : typeof foreign.body === 'string'
              ? foreign.body
                  .split('\n')
                  .filter((line: string) => line !== '')
                  .map((line: string) => JSON.parse(line))
              : [foreign.body];
        for (const event of listed) expect(mineIds.has(event.id)).toBe(true);
        // Whatever B gets says nothing about where A's cursor sits: same as for no such event.
        expect(format === 'json' ? foreign.body.data : foreign.body).toEqual(
          format === 'json' ? unknown.body.data : unknown.body,
        );
      }
    }
  });

  it("verifies B's chain over B's events only", async () => {
    const mine = await wholeTrail(b.tenant.apiKey);
    const theirs = await wholeTrail(a.tenant.apiKey);
    const counts = await server.database.ownerQuery<{ tenant_id: string; n: string | number }>(
      `select tenant_id, count(*) as n from audit_events where tenant_id in ($1, $2)
        group by tenant_id`,
      [a.tenant.id, b.tenant.id],
    );
    const count = new Map(counts.map((r) => [r.tenant_id, Number(r.n)]));
    const verified = await server.request('GET', '/v1/audit/verify', { token: b.tenant.apiKey });
    expect(verified.status).toBe(200);
    expect(verified.body).toMatchObject({ ok: true, tenantId: b.tenant.id, events: mine.length });
    expect(verified.body.events).toBe(count.get(b.tenant.id));
    const other = await server.request('GET', '/v1/audit/verify', { token: a.tenant.apiKey });
    expect(other.body).toMatchObject({ ok: true, tenantId: a.tenant.id, events: theirs.length });
    expect(other.body.events).toBe(count.get(a.tenant.id));
  });

  it('cannot use the operator verify endpoint with a tenant key', async () => {
    for (const tenantId of [a.tenant.id, b.tenant.id]) {
      const response = await server.request('GET', `/v1/admin/tenants/${tenantId}/audit/verify`, {
        token: b.tenant.apiKey,
      });
      expect({ tenantId, status: response.status }).toEqual({ tenantId, status: 401 });
      expect(JSON.stringify(response.body)).not.toContain('audit_verification');
    }
  });
});

describe("tenant B against tenant A's threads", () => {
  let thread: string;
  const ghostThread = () => thread.slice(0, -6) + 'zzzzzz';

  beforeAll(async () => {
    const created = await server.request('POST', '/v1/threads', {
      token: a.tenant.apiKey,
      body: { title: 'alpha roadmap', metadata: { team: 'alpha' } },
    });
    expect(created.status).toBe(201);
    thread = created.body.id;
    const said = await server.request('POST', `/v1/threads/${thread}/messages`, {
      token: a.tenant.apiKey,
      body: { role: 'user', content: 'alpha ships on Friday' },
    });
    expect(said.status).toBe(201);
  });

  it.each<[string, string, (id: string) => string, unknown?]>([
    ['read a thread', 'GET', (id) => `/v1/threads/${id}`],
    ['read the messages of a thread', 'GET', (id) => `/v1/threads/${id}/messages`],
    [
      'append to a thread',
      'POST',
      (id) => `/v1/threads/${id}/messages`,
      { role: 'user', content: 'from bravo' },
    ],
    ['rename a thread', 'PATCH', (id) => `/v1/threads/${id}`, { title: 'bravo was here' }],
    ['delete a thread', 'DELETE', (id) => `/v1/threads/${id}`],
  ])(
    'cannot %s of A: 404, exactly as for an id that does not exist',
    async (_n, method, path, body) => {
      const attack = await server.request(method, path(thread), { token: b.tenant.apiKey, body });
      const missing = await server.request(method, path(ghostThread()), {
        token: b.tenant.apiKey,
        body,
      });
      expect(attack.status).toBe(404);
      expect(missing.status).toBe(404);
      expect(attack.body.error.code).toBe(missing.body.error.code);
      expect(attack.body.error.message.replace(thread, '<id>')).toBe(
        missing.body.error.message.replace(ghostThread(), '<id>'),
      );
    },
  );

  it("lists none of A's threads to B, even to B's owner", async () => {
    await server.request('POST', '/v1/threads', { token: b.tenant.apiKey, body: {} });
    const listed = await server.request('GET', '/v1/threads?limit=100', {
      token: b.tenant.apiKey,
    });
    expect(listed.status).toBe(200);
    expect(listed.body.data.length).toBeGreaterThan(0);
    expect(JSON.stringify(listed.body)).not.toContain(thread);
    expect(JSON.stringify(listed.body)).not.toContain('alpha');
  });

  it("leaves A's thread and its messages as they were", async () => {
    const read = await server.request('GET', `/v1/threads/${thread}`, { token: a.tenant.apiKey });
    expect(read.status).toBe(200);
    expect(read.body).toMatchObject({
      title: 'alpha roadmap',
      metadata: { team: 'alpha' },
      messageCount: 1,
    });
    const messages = await server.request('GET', `/v1/threads/${thread}/messages`, {
      token: a.tenant.apiKey,
    });
    expect(messages.body.data.map((m: { content: string }) => m.content)).toEqual([
      'alpha ships on Friday',
    ]);
  });
});

describe("tenant B against tenant A's knowledge", () => {
  const canaries = ['CANARY-ALPHA-7731', 'CANARY-ALPHA-9902', 'CANARY-ALPHA-4415'];
  const aDocs = [
    `Project Nightjar budget review. The secret launch code is ${canaries[0]}. Nightjar ships in April.`,
    `# Payroll\n\nSalaries of the Nightjar team are confidential. Reference ${canaries[1]}.`,
    `<h1>Board notes</h1><p>The acquisition of Contoso is approved. Ticket ${canaries[2]}.</p>`,
  ];
  let aCollection: string;
  let aDocument: string;
  let bCollection: string;
  let aJob: string;
  const vectorAvailable = async () =>
    (await server.database.ownerQuery(`select 1 from pg_extension where extname = 'vector'`))
      .length > 0;

  beforeAll(async () => {
    if (!(await vectorAvailable())) return;
    const make = async (o: Owned, name: string) => {
      const created = await server.request('POST', '/v1/collections', {
        token: o.tenant.apiKey,
        body: { name },
      });
      expect(created.status).toBe(201);
      return created.body.id as string;
    };
    aCollection = await make(a, 'shared-name');
    bCollection = await make(b, 'shared-name');
    const job = await server.request(
      'POST',
      `/v1/collections/${aCollection}/documents?async=true`,
      {
        token: a.tenant.apiKey,
        body: { content: 'A background ingest of alpha.' },
      },
    );
    expect(job.status).toBe(202);
    aJob = job.body.id;
    for (const [i, content] of aDocs.entries()) {
      const doc = await server.request('POST', `/v1/collections/${aCollection}/documents`, {
        token: a.tenant.apiKey,
        body: { content, type: i === 2 ? 'html' : 'markdown', externalId: `a-${i}` },
      });
      expect(doc.status).toBe(201);
      aDocument ??= doc.body.id;
    }
    // B holds similar documents of its own, so its searches have something to rank.
    for (const content of [
      'Project Nightjar is our bird-watching club. We meet in April.',
      'Payroll runs on the 25th of each month.',
      'The board approved a new coffee machine.',
    ]) {
      await server.request('POST', `/v1/collections/${bCollection}/documents`, {
        token: b.tenant.apiKey,
        body: { content },
      });
    }
  });

  it("never returns A's chunks to B's searches or RAG answers, over queries built to match them", async (context) => {
    if (!(await vectorAvailable())) context.skip();
    const queries = [
      ...aDocs,
      ...canaries,
      'secret launch code Nightjar',
      'salaries confidential Nightjar team',
      'acquisition of Contoso approved',
      'what is the launch code?',
    ];
    const seen: string[] = [];
    for (const query of queries) {
      for (const mode of ['vector', 'keyword', 'hybrid']) {
        const found = await server.request('POST', `/v1/collections/${bCollection}/search`, {
          token: b.tenant.apiKey,
          body: { query: query.slice(0, 8000), mode, topK: 50 },
        });
        expect(found.status).toBe(200);
        seen.push(JSON.stringify(found.body));
      }
      const answer = await server.request('POST', '/v1/chat/completions', {
        token: b.tenant.apiKey,
        body: {
          model: 'local/extractive',
          messages: [{ role: 'user', content: query }],
          bulkhead: { collections: [bCollection], topK: 20 },
        },
      });
      expect(answer.status).toBe(200);
      seen.push(JSON.stringify(answer.body));
    }
    const everything = seen.join('\n');
    for (const canary of canaries) expect(everything).not.toContain(canary);
    expect(everything).not.toContain('Contoso');
    expect(everything).not.toContain(aCollection);
  });

  it("cannot read, delete, list, search or ingest into A's collection: 404 as for a missing one", async (context) => {
    if (!(await vectorAvailable())) context.skip();
    const ghost = 'col_0000000000000000000000zzzz';
    const attacks: [string, (c: string) => string, unknown][] = [
      ['GET', (c) => `/v1/collections/${c}`, undefined],
      ['DELETE', (c) => `/v1/collections/${c}`, undefined],
      ['GET', (c) => `/v1/collections/${c}/documents`, undefined],
      ['POST', (c) => `/v1/collections/${c}/search`, { query: 'Nightjar' }],
      ['POST', (c) => `/v1/collections/${c}/documents`, { content: 'planted by B' }],
    ];
    for (const [method, path, body] of attacks) {
      const attack = await server.request(method, path(aCollection), {
        token: b.tenant.apiKey,
        body,
      });
      const missing = await server.request(method, path(ghost), { token: b.tenant.apiKey, body });
      expect(attack.status, `${method} ${path('<id>')}`).toBe(404);
      expect(missing.status).toBe(404);
      expect(attack.body.error.message.replace(aCollection, '<id>')).toBe(
        missing.body.error.message.replace(ghost, '<id>'),
      );
    }
  });

  it("cannot read or delete A's document by id, nor name A's collection in a chat", async (context) => {
    if (!(await vectorAvailable())) context.skip();
    for (const method of ['GET', 'DELETE']) {
      const attack = await server.request(
        method,
        `/v1/collections/${aCollection}/documents/${aDocument}`,
        { token: b.tenant.apiKey },
      );
      expect(attack.status).toBe(404);
    }
    const job = await server.request('GET', `/v1/collections/${aCollection}/jobs/${aJob}`, {
      token: b.tenant.apiKey,
    });
    expect(job.status).toBe(404);
    const jobs = await server.request('GET', `/v1/collections/${aCollection}/jobs`, {
      token: b.tenant.apiKey,
    });
    expect(jobs.body.data ?? []).toEqual([]);
    const chat = await server.request('POST', '/v1/chat/completions', {
      token: b.tenant.apiKey,
      body: {
        model: 'local/extractive',
        messages: [{ role: 'user', content: 'launch code?' }],
        bulkhead: { collections: [aCollection] },
      },
    });
    expect(chat.status).toBe(404);
    expect(JSON.stringify(chat.body)).not.toContain('CANARY');
  });

  it("leaves A's knowledge as it was", async (context) => {
    if (!(await vectorAvailable())) context.skip();
    const docs = await server.request('GET', `/v1/collections/${aCollection}/documents`, {
      token: a.tenant.apiKey,
    });
    expect(docs.body.data.length).toBeGreaterThanOrEqual(3);
    const found = await server.request('POST', `/v1/collections/${aCollection}/search`, {
      token: a.tenant.apiKey,
      body: { query: 'secret launch code', mode: 'keyword' },
    });
    expect(JSON.stringify(found.body)).toContain(canaries[0]);
  });
});

describe("operator reads of B's content under A's grants", () => {
  const bCanary = 'BRAVO-CANARY-3141';
  const reason = 'isolation check';
  const contentScopes = ['documents:content', 'threads:content', 'approvals:content'];
  let aGrants: string[];
  let aThread: string;
  let bThread: string;
  let bCollection: string | undefined;
  let bDocument: string | undefined;

  const operatorGet = (tenant: TestTenant, path: string) =>
    server.request('GET', `/v1/admin/tenants/${tenant.id}${path}`, {
      token: server.adminToken,
      headers: { 'x-bulkhead-reason': reason },
    });
  const contentReads = (tenant: TestTenant) =>
    server.database.ownerQuery<{ n: string | number }>(
      `select count(*) as n from audit_events where tenant_id = $1 and action in
        ('operator.read_documents', 'operator.read_threads', 'operator.read_approvals')`,
      [tenant.id],
    );

  beforeAll(async () => {
    aGrants = [];
    for (const scope of contentScopes) {
      const granted = await server.request('POST', '/v1/access-grants', {
        token: a.tenant.apiKey,
        body: {
          scope,
          reason: 'support',
          expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
        },
      });
      expect(granted.status).toBe(201);
      aGrants.push(granted.body.id);
    }
    const thread = async (o: Owned, content: string) => {
      const t = await server.request('POST', '/v1/threads', { token: o.tenant.apiKey, body: {} });
      await server.request('POST', `/v1/threads/${t.body.id}/messages`, {
        token: o.tenant.apiKey,
        body: { role: 'user', content },
      });
      return t.body.id as string;
    };
    aThread = await thread(a, 'alpha thread for the operator');
    bThread = await thread(b, `${bCanary} bravo's private turn`);
    const col = await server.request('POST', '/v1/collections', {
      token: b.tenant.apiKey,
      body: { name: 'bravo-private-kb', description: `${bCanary} description` },
    });
    if (col.status === 201) {
      bCollection = col.body.id;
      const doc = await server.request('POST', `/v1/collections/${bCollection}/documents`, {
        token: b.tenant.apiKey,
        body: { content: `Bravo's vault: ${bCanary}.`, metadata: { tag: bCanary } },
      });
      expect(doc.status).toBe(201);
      bDocument = doc.body.id;
    }
  });

  it("keeps B's content redacted while A's grants are in force (and A's open A's)", async () => {
    const own = await operatorGet(a.tenant, `/approvals/${a.approvalId}`);
    expect(own.body.access).toBe('granted');
    expect(JSON.stringify(own.body.request)).toContain('the plan of alpha');
    const ownMessages = await operatorGet(a.tenant, `/threads/${aThread}/messages`);
    expect(ownMessages.body.access).toBe('granted');

    const paths = [
      '/threads?limit=100',
      `/threads/${bThread}/messages`,
      '/approvals',
      `/approvals/${b.approvalId}`,
      ...(bCollection === undefined
        ? []
        : ['/collections', `/collections/${bCollection}/documents`, `/documents/${bDocument}`]),
    ];
    for (const path of paths) {
      const read = await operatorGet(b.tenant, path);
      expect({ path, status: read.status }).toEqual({ path, status: 200 });
      expect(read.body.access ?? 'redacted').toBe('redacted');
      const text = JSON.stringify(read.body);
      expect(text).not.toContain(bCanary);
      expect(text).not.toContain('the plan of bravo');
    }
    expect(Number((await contentReads(b.tenant))[0]!.n)).toBe(0);
    expect(Number((await contentReads(a.tenant))[0]!.n)).toBe(2);
  });

  it("does not reach B's objects through A's tenant path: 404 as for a missing id", async () => {
    const ghost = (id: string) => id.slice(0, -6) + 'zzzzzz';
    const pairs = [
      [`/threads/${bThread}/messages`, `/threads/${ghost(bThread)}/messages`],
      [`/approvals/${b.approvalId}`, `/approvals/${ghost(b.approvalId)}`],
      ...(bDocument === undefined
        ? []
        : [[`/documents/${bDocument}`, `/documents/${ghost(bDocument)}`]]),
    ] as [string, string][];
    for (const [foreign, missing] of pairs) {
      const attack = await operatorGet(a.tenant, foreign);
      const none = await operatorGet(a.tenant, missing);
      expect(attack.status).toBe(404);
      expect(none.status).toBe(404);
      const normalise = (m: string) => m.replace(/'[a-z]+_[0-9a-z]{26}'/, "'<id>'");
      expect(normalise(attack.body.error.message)).toBe(normalise(none.body.error.message));
      expect(JSON.stringify(attack.body)).not.toContain(bCanary);
    }
  });

  it("does not let B's admin list or revoke A's content grants", async () => {
    const listed = await server.request('GET', '/v1/access-grants?limit=100', {
      token: b.tenant.apiKey,
    });
    const seen = listed.body.data.map((g: { id: string }) => g.id);
    for (const id of aGrants) {
      expect(seen).not.toContain(id);
      const revoke = await server.request('DELETE', `/v1/access-grants/${id}`, {
        token: b.tenant.apiKey,
      });
      expect(revoke.status).toBe(404);
    }
    const still = await operatorGet(a.tenant, `/threads/${aThread}/messages`);
    expect(still.body.access).toBe('granted');
    const mine = await server.request('GET', '/v1/access-grants?limit=100', {
      token: a.tenant.apiKey,
    });
    for (const id of aGrants)
      expect(mine.body.data.find((g: { id: string }) => g.id === id)?.active).toBe(true);
  });
});

describe("tenant B's data-key rotation against tenant A", () => {
  /** A tenant's key versions and every sealed value it holds, straight from the database. */
  async function keysAndSealed(tenantId: string) {
    const versions = await server.database.ownerQuery<{ key_version: number }>(
      `select key_version from tenant_data_keys where tenant_id = $1 order by 1`,
      [tenantId],
    );
    const sealed = await server.database.ownerQuery<{ v: string }>(
      `select encode(sealed_api_key, 'hex') as v from providers where tenant_id = $1 and sealed_api_key is not null
       union all select encode(sealed_content, 'hex') from thread_messages where tenant_id = $1
       union all select encode(sealed_request, 'hex') from approvals where tenant_id = $1
       union all select encode(sealed_payload, 'hex') from audit_events
                  where tenant_id = $1 and sealed_payload is not null
       order by 1`,
      [tenantId],
    );
    return { versions: versions.map((r) => r.key_version), sealed: sealed.map((r) => r.v) };
  }

  it("rotates only B's key when B's owner asks, and only A's when the operator names A", async () => {
    const aBefore = await keysAndSealed(a.tenant.id);
    const bBefore = await keysAndSealed(b.tenant.id);
    expect(aBefore.sealed.length).toBeGreaterThan(0);

    const own = await server.request('POST', '/v1/data-key/rotate', { token: b.tenant.apiKey });
    expect(own.status).toBe(200);
    expect(own.body.tenantId).toBe(b.tenant.id);
    expect(JSON.stringify(own.body)).not.toContain(a.tenant.id);
    const bRotated = await keysAndSealed(b.tenant.id);
    expect(bRotated.versions).toEqual([Math.max(...bBefore.versions) + 1]);
    expect(bRotated.sealed).not.toEqual(bBefore.sealed);
    expect(await keysAndSealed(a.tenant.id)).toEqual(aBefore);

    const operator = await server.request(
      'POST',
      `/v1/admin/tenants/${a.tenant.id}/data-key/rotate`,
      { token: server.adminToken, headers: { 'x-bulkhead-reason': 'isolation test' } },
    );
    expect(operator.status).toBe(200);
    expect(operator.body.tenantId).toBe(a.tenant.id);
    expect((await keysAndSealed(a.tenant.id)).versions).toEqual([
      Math.max(...aBefore.versions) + 1,
    ]);
    expect(await keysAndSealed(b.tenant.id)).toEqual(bRotated);

    // Each still calls its provider with its own key, and its chain still verifies.
    for (const [owned, secret] of [
      [a, 'sk-alpha-secret'],
      [b, 'sk-bravo-secret'],
    ] as const) {
      upstream.reset();
      await server.openai(owned.tenant.apiKey).chat.completions.create({
        model: 'shared/gpt-x',
        messages: [{ role: 'user', content: 'after the rotations' }],
      });
      expect(upstream.seen.at(-1)!.headers.authorization).toBe(`Bearer ${secret}`);
      const verified = await server.request('GET', '/v1/audit/verify', {
        token: owned.tenant.apiKey,
      });
      expect(verified.body.ok).toBe(true);
    }
  });
});

describe("tenant B against tenant A's audit checkpoints", () => {
  let anchored: RunningBulkhead;
  let alpha: TestTenant;
  let bravo: TestTenant;

  beforeAll(async () => {
    anchored = await startBulkhead({
      BULKHEAD_AUDIT_ANCHOR_KEY: Buffer.alloc(32, 7).toString('base64'),
    });
    alpha = await anchored.createTenant('alpha');
    bravo = await anchored.createTenant('bravo');
  });
  afterAll(() => anchored.close());

  const checkpoint = async (t: TestTenant) =>
    (await anchored.request('GET', '/v1/audit/checkpoint', { token: t.apiKey })).body;

  it("signs B's checkpoint over B's own chain only", async () => {
    const mine = await checkpoint(bravo);
    expect(mine.checkpoint.tenantId).toBe(bravo.id);
    expect(JSON.stringify(mine)).not.toContain(alpha.id);
  });

  it("refuses A's checkpoint from B like something that does not exist, and says nothing of A's chain", async () => {
    const theirs = await checkpoint(alpha);
    const mine = await checkpoint(bravo);
    const attempts = async () => [
      await anchored.request('POST', '/v1/audit/verify-checkpoint', {
        token: bravo.apiKey,
        body: theirs,
      }),
      await anchored.request('POST', '/v1/audit/verify-checkpoints', {
        token: bravo.apiKey,
        body: { checkpoints: [mine, theirs] },
      }),
      // The operator route checks the checkpoint against the tenant in the path.
      await anchored.request('POST', `/v1/admin/tenants/${bravo.id}/audit/verify-checkpoint`, {
        token: anchored.adminToken,
        body: theirs,
      }),
    ];
    const before = await attempts();
    for (const response of before) {
      expect(response.status).toBe(404);
      expect(JSON.stringify(response.body)).not.toContain('audit_checkpoint_verification');
    }
    // Cutting A's chain changes nothing B can see.
    await anchored.database.ownerQuery(
      `delete from audit_events where tenant_id = $1 and seq = 2`,
      [alpha.id],
    );
    expect((await attempts()).map((r) => [r.status, r.body])).toEqual(
      before.map((r) => [r.status, r.body]),
    );
    const own = await anchored.request('POST', '/v1/audit/verify-checkpoint', {
      token: bravo.apiKey,
      body: mine,
    });
    expect(own.body).toMatchObject({ ok: true, tenantId: bravo.id });
  });
});

describe.runIf(Boolean(process.env.DATABASE_URL))(
  'tenant B against tenant A once A has a database of its own',
  () => {
    let silo: Silo;

    beforeAll(async () => {
      silo = await createSilo();
      const promoted = await server.request('POST', `/v1/admin/tenants/${a.tenant.id}/promote`, {
        token: server.adminToken,
        body: { databaseUrl: silo.url },
      });
      expect(promoted.status).toBe(200);
    });
    afterAll(async () => {
      // Later blocks find A back in the pool, as they would after any demotion.
      await server.request('POST', `/v1/admin/tenants/${a.tenant.id}/demote`, {
        token: server.adminToken,
      });
      await silo?.drop();
    });

    it.each(byIdAttacks)(
      'cannot %s of A in its silo: 404, exactly as for an id that does not exist',
      (_name, method, path, body) => expectLikeMissing(method, path, body),
    );

    it("refuses B's secret under A's tenant id: the silo has no such key either", async () => {
      const forged = `bk_${a.tenant.id}_${b.tenant.apiKey.slice(-43)}`;
      const response = await server.request('GET', '/v1/models', { token: forged });
      expect(response.status).toBe(401);
    });

    it('keeps every row of A in the silo and every row of B in the pool', async () => {
      const tables = (
        await silo.query<{ table_name: string }>(
          `select distinct table_name from information_schema.columns
           where table_schema = 'public' and column_name = 'tenant_id'`,
        )
      ).map((r) => r.table_name);
      for (const table of tables) {
        const [inSilo] = await silo.query<{ n: number }>(
          `select count(*)::int as n from ${table} where tenant_id <> $1`,
          [a.tenant.id],
        );
        expect({ table, others: inSilo!.n }).toEqual({ table, others: 0 });
        const [inPool] = await server.database.ownerQuery<{ n: number }>(
          `select count(*)::int as n from ${table} where tenant_id = $1`,
          [a.tenant.id],
        );
        const registry = table === 'tenants' || table === 'tenant_placements' ? 1 : 0;
        expect({ table, a: inPool!.n }).toEqual({ table, a: registry });
      }
      const keys = await server.request('GET', '/v1/keys?limit=100', { token: b.tenant.apiKey });
      expect(JSON.stringify(keys.body)).not.toContain(a.keyId);
    });

    it('serves A from its silo and B from the pool, each its own chain', async () => {
      for (const owned of [a, b]) {
        const chat = await server.request('POST', '/v1/chat/completions', {
          token: owned.tenant.apiKey,
          body: { model: 'shared/gpt-x', messages: [{ role: 'user', content: 'still here' }] },
        });
        expect(chat.status).toBe(200);
        const verify = await server.request('GET', '/v1/audit/verify', {
          token: owned.tenant.apiKey,
        });
        expect(verify.body.ok).toBe(true);
      }
    });
  },
);

describe("tenant B against tenant A's export", () => {
  // Fresh canaries only A ever writes (B types A's knowledge canaries into its own searches, so
  // those are in B's own trail), and everything of A's that could leak: ids, secret, prompts.
  const planted = `EXPORT-CANARY-ALPHA-${Date.now().toString(36)}`;
  const aCanaries = () => [
    planted,
    a.tenant.id,
    a.keyId,
    a.userId,
    a.providerId,
    a.grantId,
    a.approvalId,
    'sk-alpha-secret',
    // Not 'alpha-private': B's own trail records the model name B tried (`alpha-private/only-mine`).
    'hello from alpha',
    'the plan of alpha',
    'alpha ships on Friday',
  ];
  let archive: Buffer;
  let entries: { name: string; body: string }[];

  beforeAll(async () => {
    const thread = await server.request('POST', '/v1/threads', {
      token: a.tenant.apiKey,
      body: { title: `${planted} thread` },
    });
    expect(thread.status).toBe(201);
    const said = await server.request('POST', `/v1/threads/${thread.body.id}/messages`, {
      token: a.tenant.apiKey,
      body: { role: 'user', content: `${planted} message` },
    });
    expect(said.status).toBe(201);
    const user = await server.request('POST', '/v1/users', {
      token: a.tenant.apiKey,
      body: { email: `${planted.toLowerCase()}@alpha.test`, role: 'viewer' },
    });
    expect(user.status).toBe(201);
    const response = await fetch(`${server.url}/v1/export`, {
      headers: { authorization: `Bearer ${b.tenant.apiKey}` },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/x-tar');
    archive = Buffer.from(await response.arrayBuffer());
    const { extract } = await import('tar-stream');
    const reader = extract();
    entries = [];
    const reading = (async () => {
      for await (const entry of reader) {
        const chunks: Buffer[] = [];
        for await (const chunk of entry) chunks.push(chunk as Buffer);
        entries.push({ name: entry.header.name, body: Buffer.concat(chunks).toString('utf8') });
      }
    })();
    reader.end(archive);
    await reading;
  });

  it("B's archive holds none of A's canaries, in any byte, and only B's rows", () => {
    expect(entries.at(-1)!.name).toBe('manifest.json');
    expect(JSON.parse(entries.at(-1)!.body).tenantId).toBe(b.tenant.id);
    const text = archive.toString('utf8');
    expect(text).toContain('the plan of bravo');
    for (const canary of aCanaries()) expect(text, canary).not.toContain(canary);
    expect(text.toLowerCase()).not.toContain(planted.toLowerCase());
    const rows = entries
      .filter((e) => e.name.startsWith('tables/'))
      .flatMap((e) => e.body.split('\n').slice(0, -1))
      .map((l) => JSON.parse(l));
    expect(rows.length).toBeGreaterThan(10);
    for (const r of rows) expect(r.row.tenant_id).toBe(b.tenant.id);
  });

  it("A's own export does carry the planted canary (so its absence from B's means something)", async () => {
    const own = await fetch(`${server.url}/v1/export?format=jsonl`, {
      headers: { authorization: `Bearer ${a.tenant.apiKey}` },
    });
    expect(own.status).toBe(200);
    const text = await own.text();
    expect(text).toContain(`${planted} message`);
    expect(text).toContain(`${planted} thread`);
  });

  it("B's key cannot fetch A's export: 401 on the operator route, 400 naming a tenant", async () => {
    for (const format of ['tar', 'jsonl']) {
      const attack = await server.request(
        'GET',
        `/v1/admin/tenants/${a.tenant.id}/export?format=${format}`,
        { token: b.tenant.apiKey, headers: { 'x-bulkhead-reason': 'mine now' } },
      );
      expect(attack.status).toBe(401);
      expect(JSON.stringify(attack.body)).not.toContain('bulkhead-export');
    }
    const named = await server.request('GET', `/v1/export?tenantId=${a.tenant.id}`, {
      token: b.tenant.apiKey,
    });
    expect(named.status).toBe(400);
    expect(JSON.stringify(named.body)).not.toContain('bulkhead-export');
  });
});

describe("tenant B's key-encryption key against tenant A's data key", () => {
  let threadOfA: string;
  let threadOfB: string;
  let ownKeyOfB: Uint8Array;
  let versionOfB: number;

  beforeAll(async () => {
    for (const [owned, which] of [
      [a, 'A'],
      [b, 'B'],
    ] as const) {
      const thread = await server.request('POST', '/v1/threads', {
        token: owned.tenant.apiKey,
        body: {},
      });
      const message = await server.request('POST', `/v1/threads/${thread.body.id}/messages`, {
        token: owned.tenant.apiKey,
        body: { role: 'user', content: `kek canary of ${owned.tenant.name}` },
      });
      expect(message.status).toBe(201);
      if (which === 'A') threadOfA = thread.body.id;
      else threadOfB = thread.body.id;
    }
    // B's newest data key (an earlier block may have rotated it).
    const [keyOfB] = await server.database.ownerQuery<{
      key_version: number;
      wrapped_key: Uint8Array;
    }>(
      'select key_version, wrapped_key from tenant_data_keys where tenant_id = $1 order by key_version desc limit 1',
      [b.tenant.id],
    );
    ownKeyOfB = keyOfB!.wrapped_key;
    versionOfB = keyOfB!.key_version;
    // As the database owner: A's newest wrapped data key, copied into B's row.
    await server.database.ownerQuery(
      `update tenant_data_keys set wrapped_key =
         (select wrapped_key from tenant_data_keys where tenant_id = $1 order by key_version desc limit 1)
       where tenant_id = $2 and key_version = $3`,
      [a.tenant.id, b.tenant.id, versionOfB],
    );
  });
  afterAll(async () => {
    await server.database.ownerQuery(
      'update tenant_data_keys set wrapped_key = $1 where tenant_id = $2 and key_version = $3',
      [ownKeyOfB, b.tenant.id, versionOfB],
    );
  });

  it("B's requests cannot open it, and nothing of A's comes back", async () => {
    const messages = await server.request('GET', `/v1/threads/${threadOfB}/messages`, {
      token: b.tenant.apiKey,
    });
    expect(messages.status).toBeGreaterThanOrEqual(500);
    const chat = await server.request('POST', '/v1/chat/completions', {
      token: b.tenant.apiKey,
      body: { model: 'local/extractive', messages: [{ role: 'user', content: 'hi' }] },
    });
    expect(chat.status).toBeGreaterThanOrEqual(500);
    const verify = await server.request('GET', '/v1/audit/verify', { token: b.tenant.apiKey });
    expect(verify.body).toMatchObject({ ok: false });
    for (const answer of [messages, chat, verify]) {
      expect(JSON.stringify(answer.body)).not.toContain('alpha');
    }
  });

  it("A's own data still opens with A's key (the copy took nothing from A)", async () => {
    const messages = await server.request('GET', `/v1/threads/${threadOfA}/messages`, {
      token: a.tenant.apiKey,
    });
    expect(messages.status).toBe(200);
    expect(JSON.stringify(messages.body)).toContain('kek canary of alpha');
  });
});
