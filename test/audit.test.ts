import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBulkhead, type RunningBulkhead, type TestTenant } from './support/bulkhead-server.ts';

/**
 * The audit trail, end to end: every change and every AI call leaves one event in the tenant's own
 * hash chain, the trail can be read back (filtered, paged, exported) only by the tenant's admins,
 * and any edit made behind Bulkhead's back — straight in the database — is found by verification.
 */

let server: RunningBulkhead;

type Reply = Awaited<ReturnType<RunningBulkhead['request']>>;

const requestIdOf = (reply: Reply): string => {
  const id = reply.headers.get('x-request-id');
  expect(id).toEqual(expect.any(String));
  return id!;
};

/** The whole trail of a tenant, oldest first, in one page. */
async function trail(token: string, query = ''): Promise<any[]> {
  const listed = await server.request('GET', `/v1/audit?limit=1000${query}`, { token });
  expect(listed.status).toBe(200);
  expect(listed.body.object).toBe('list');
  expect(listed.body.has_more).toBe(false);
  return listed.body.data;
}

function onlyEventOf(events: any[], requestId: string): any {
  const matching = events.filter((e) => e.requestId === requestId);
  expect(matching, `events of request ${requestId}`).toHaveLength(1);
  return matching[0];
}

async function createTenantWithRequestId(name: string) {
  const created = await server.request('POST', '/v1/admin/tenants', {
    token: server.adminToken,
    body: { name },
  });
  expect(created.status).toBe(201);
  const tenant: TestTenant = {
    id: created.body.id,
    name,
    apiKey: created.body.apiKey,
    apiKeyId: created.body.apiKeyId,
  };
  return { tenant, requestId: requestIdOf(created) };
}

async function createKey(tenant: TestTenant, role = 'member', name = 'k') {
  const created = await server.request('POST', '/v1/keys', {
    token: tenant.apiKey,
    body: { name, role },
  });
  expect(created.status).toBe(201);
  return created;
}

/** A fresh tenant whose chain holds exactly five events: tenant.create, api_key.create ×4. */
async function seededTenant(name: string): Promise<TestTenant> {
  const tenant = await server.createTenant(name);
  for (let i = 0; i < 3; i++) await createKey(tenant, 'member', `seed-${i}`);
  const events = await trail(tenant.apiKey);
  expect(events.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
  return tenant;
}

/** Verification through the tenant's own endpoint and the operator's: both must agree. */
async function verifyBoth(tenant: TestTenant): Promise<any> {
  const own = await server.request('GET', '/v1/audit/verify', { token: tenant.apiKey });
  const operator = await server.request('GET', `/v1/admin/tenants/${tenant.id}/audit/verify`, {
    token: server.adminToken,
  });
  expect(own.status).toBe(200);
  expect(operator.status).toBe(200);
  expect(operator.body).toEqual(own.body);
  expect(own.body.tenantId).toBe(tenant.id);
  return own.body;
}

const tamper = (text: string, params: unknown[]) => server.database.ownerQuery(text, params);

async function rawExport(token: string, query: string) {
  const response = await fetch(`${server.url}/v1/audit?format=jsonl${query}`, {
    headers: { authorization: `Bearer ${token}` },
    signal: AbortSignal.timeout(10_000),
  });
  return { status: response.status, headers: response.headers, text: await response.text() };
}

beforeAll(async () => {
  server = await startBulkhead();
});
afterAll(async () => {
  await server.close();
});

describe('every state change is an audit event', () => {
  let tenant: TestTenant;
  let creationRequestId: string;

  beforeAll(async () => {
    ({ tenant, requestId: creationRequestId } = await createTenantWithRequestId('changes'));
  });

  it('records tenant.create and the initial api_key.create, by the operator', async () => {
    const events = await trail(tenant.apiKey);
    expect(events.slice(0, 2)).toEqual([
      expect.objectContaining({
        seq: 1,
        actor: { kind: 'operator', id: expect.any(String) },
        action: 'tenant.create',
        resource: { type: 'tenant', id: tenant.id },
        decision: 'allowed',
        requestId: creationRequestId,
      }),
      expect.objectContaining({
        seq: 2,
        actor: { kind: 'operator', id: expect.any(String) },
        action: 'api_key.create',
        resource: { type: 'api_key', id: tenant.apiKeyId },
        decision: 'allowed',
        requestId: creationRequestId,
      }),
    ]);
    for (const e of events.slice(0, 2)) expect(e.actor.id).not.toBe('');
  });

  it("records key, user and provider changes made with a tenant key, as that key's", async () => {
    const t = tenant.apiKey;
    const byKey = { kind: 'api_key', id: tenant.apiKeyId };
    const done: { reply: Reply; action: string; type: string; id: string }[] = [];
    const step = async (
      method: string,
      path: string,
      body: unknown,
      action: string,
      type: string,
      status: number,
      id?: string,
    ) => {
      const reply = await server.request(method, path, { token: t, body });
      expect({ path, status: reply.status }).toEqual({ path, status });
      done.push({ reply, action, type, id: id ?? reply.body.id });
      return reply;
    };

    const key = await step(
      'POST',
      '/v1/keys',
      { name: 'w', role: 'member' },
      'api_key.create',
      'api_key',
      201,
    );
    await step('DELETE', `/v1/keys/${key.body.id}`, undefined, 'api_key.revoke', 'api_key', 200);
    // Optional fields (scopes, an expiry) land in the details, and still hash the same on verify.
    const expiresAt = new Date(Date.now() + 86_400_000).toISOString();
    const scoped = await step(
      'POST',
      '/v1/keys',
      { name: 'scoped', role: 'member', scopes: ['inference', 'models:read'], expiresAt },
      'api_key.create',
      'api_key',
      201,
    );
    const user = await step(
      'POST',
      '/v1/users',
      { email: 'someone@changes.test', role: 'member' },
      'user.create',
      'user',
      201,
    );
    await step(
      'PATCH',
      `/v1/users/${user.body.id}`,
      { role: 'viewer' },
      'user.update',
      'user',
      200,
    );
    await step(
      'DELETE',
      `/v1/users/${user.body.id}`,
      undefined,
      'user.delete',
      'user',
      200,
      user.body.id,
    );
    const provider = await step(
      'POST',
      '/v1/providers',
      {
        name: 'upstream',
        kind: 'openai',
        baseUrl: 'http://127.0.0.1:9/v1',
        apiKey: 'sk-audit-first-secret-4417',
        models: ['m'],
      },
      'provider.create',
      'provider',
      201,
    );
    await step(
      'PATCH',
      `/v1/providers/${provider.body.id}`,
      { apiKey: 'sk-audit-rotated-secret-9902', models: ['m', 'n'] },
      'provider.update',
      'provider',
      200,
    );
    await step(
      'DELETE',
      `/v1/providers/${provider.body.id}`,
      undefined,
      'provider.delete',
      'provider',
      200,
      provider.body.id,
    );

    const events = await trail(t);
    expect(onlyEventOf(events, requestIdOf(scoped)).details).toMatchObject({
      role: 'member',
      scopes: ['inference', 'models:read'],
      expiresAt: scoped.body.expiresAt,
    });
    for (const { reply, action, type, id } of done) {
      expect(onlyEventOf(events, requestIdOf(reply))).toMatchObject({
        actor: byKey,
        action,
        resource: { type, id },
        decision: 'allowed',
      });
    }
    // In the order they happened.
    const seqs = done.map(({ reply }) => onlyEventOf(events, requestIdOf(reply)).seq);
    expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
  });

  it('never exposes a provider API key, neither in the trail nor in its export', async () => {
    const listed = await server.request('GET', '/v1/audit?limit=1000', { token: tenant.apiKey });
    const exported = await rawExport(tenant.apiKey, '&limit=1000');
    const stored = await server.database.ownerQuery<{ row: string }>(
      `select row_to_json(e)::text as row from audit_events e where tenant_id = $1`,
      [tenant.id],
    );
    const providerEvents = listed.body.data.filter((e: any) => e.action.startsWith('provider.'));
    expect(providerEvents.map((e: any) => e.action)).toEqual([
      'provider.create',
      'provider.update',
      'provider.delete',
    ]);
    for (const secret of ['sk-audit-first-secret-4417', 'sk-audit-rotated-secret-9902']) {
      expect(JSON.stringify(listed.body)).not.toContain(secret);
      expect(exported.text).not.toContain(secret);
      for (const { row } of stored) expect(row).not.toContain(secret);
    }
  });

  it("puts an operator's suspend and resume in the tenant's own trail, with the reason given", async () => {
    const suspend = await server.request('POST', `/v1/admin/tenants/${tenant.id}/suspend`, {
      token: server.adminToken,
      headers: { 'x-bulkhead-reason': 'billing dispute #12' },
    });
    expect(suspend.status).toBe(200);
    const refused = await server.request('GET', '/v1/audit', { token: tenant.apiKey });
    expect(refused.status).toBe(403);
    const resume = await server.request('POST', `/v1/admin/tenants/${tenant.id}/resume`, {
      token: server.adminToken,
      headers: { 'x-bulkhead-reason': 'dispute settled' },
    });
    expect(resume.status).toBe(200);

    const events = await trail(tenant.apiKey);
    expect(onlyEventOf(events, requestIdOf(suspend))).toMatchObject({
      actor: { kind: 'operator' },
      action: 'tenant.suspend',
      resource: { type: 'tenant', id: tenant.id },
      decision: 'allowed',
      details: { reason: 'billing dispute #12' },
    });
    expect(onlyEventOf(events, requestIdOf(resume))).toMatchObject({
      actor: { kind: 'operator' },
      action: 'tenant.resume',
      resource: { type: 'tenant', id: tenant.id },
      decision: 'allowed',
      details: { reason: 'dispute settled' },
    });
    expect((await verifyBoth(tenant)).ok).toBe(true);
  });

  it('has the event durable before the change is acknowledged', async () => {
    const created = await createKey(tenant);
    // No waiting, no flush: the 201 came only after the event committed.
    const rows = await server.database.ownerQuery<Record<string, any>>(
      `select action, resource_id, actor_id from audit_events where tenant_id = $1 and request_id = $2`,
      [tenant.id, requestIdOf(created)],
    );
    expect(rows).toEqual([
      { action: 'api_key.create', resource_id: created.body.id, actor_id: tenant.apiKeyId },
    ]);
  });
});

describe('every AI call is an audit event, its content sealed', () => {
  let tenant: TestTenant;
  const prompt = 'Quixotic-marmalade-7Z3 is the codeword for the audit vault.';
  const embedText = 'Zephyr-tangerine-51Q embeddings are audited too.';

  const storedRow = async (requestId: string) => {
    const rows = await server.database.ownerQuery<Record<string, any>>(
      `select encode(sealed_payload, 'hex') as hex, sealed_payload, details::text as details,
              row_to_json(e)::text as whole
         from audit_events e where tenant_id = $1 and request_id = $2`,
      [tenant.id, requestId],
    );
    expect(rows).toHaveLength(1);
    return rows[0]!;
  };
  const usageRow = async (requestId: string) =>
    server.database.ownerQuery<Record<string, any>>(
      `select usage_id, status, http_status, operation from usage_records
        where tenant_id = $1 and request_id = $2`,
      [tenant.id, requestId],
    );
  const expectSealed = async (requestId: string, secret: string) => {
    const row = await storedRow(requestId);
    const utf8 = Buffer.from(secret, 'utf8');
    expect(row.sealed_payload).not.toBeNull();
    expect(Buffer.from(row.sealed_payload as Uint8Array).includes(utf8)).toBe(false);
    expect(row.hex).not.toContain(utf8.toString('hex'));
    expect(row.details).not.toContain(secret);
    expect(row.whole).not.toContain(secret);
  };

  beforeAll(async () => {
    tenant = await server.createTenant('inference');
  });

  it('records a chat completion, links it to its usage record, and seals prompt and output', async () => {
    const messages = [{ role: 'user', content: prompt }];
    const reply = await server.request('POST', '/v1/chat/completions', {
      token: tenant.apiKey,
      body: { model: 'local/extractive', messages },
    });
    expect(reply.status).toBe(200);
    const requestId = requestIdOf(reply);
    const event = onlyEventOf(await trail(tenant.apiKey), requestId);
    expect(event).toMatchObject({
      actor: { kind: 'api_key', id: tenant.apiKeyId },
      action: 'chat.completion',
      resource: { type: 'model', id: 'local/extractive' },
      decision: 'allowed',
      requestId,
      details: { stream: false, httpStatus: 200, errorCode: null },
    });
    const usage = await usageRow(requestId);
    expect(usage).toEqual([expect.objectContaining({ status: 'ok', operation: 'chat' })]);
    expect(event.details.usageId).toBe(usage[0]!.usage_id);
    // The tenant admin reads the content back, decrypted.
    expect(event.payload).toEqual({
      input: messages,
      output: reply.body.choices[0].message.content,
    });
    await expectSealed(requestId, prompt);
  });

  it('records a streamed chat completion with the streamed output', async () => {
    const messages = [{ role: 'user', content: `${prompt} Streamed.` }];
    const response = await fetch(`${server.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tenant.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'local/extractive', messages, stream: true }),
    });
    expect(response.status).toBe(200);
    const requestId = response.headers.get('x-request-id')!;
    const text = await response.text();
    let output = '';
    for (const line of text.split('\n')) {
      if (!line.startsWith('data: ') || line === 'data: [DONE]') continue;
      for (const choice of JSON.parse(line.slice(6)).choices) output += choice.delta.content ?? '';
    }
    const event = onlyEventOf(await trail(tenant.apiKey), requestId);
    expect(event).toMatchObject({
      action: 'chat.completion',
      decision: 'allowed',
      details: { stream: true },
    });
    expect(event.payload).toEqual({ input: messages, output });
    await expectSealed(requestId, prompt);
  });

  it('records an embeddings call, its input sealed', async () => {
    const reply = await server.request('POST', '/v1/embeddings', {
      token: tenant.apiKey,
      body: { model: 'local/hash-embed', input: embedText },
    });
    expect(reply.status).toBe(200);
    const requestId = requestIdOf(reply);
    const event = onlyEventOf(await trail(tenant.apiKey), requestId);
    expect(event).toMatchObject({
      actor: { kind: 'api_key', id: tenant.apiKeyId },
      action: 'embeddings.create',
      resource: { type: 'model', id: 'local/hash-embed' },
      decision: 'allowed',
    });
    const usage = await usageRow(requestId);
    expect(usage).toEqual([expect.objectContaining({ status: 'ok', operation: 'embeddings' })]);
    expect(event.details.usageId).toBe(usage[0]!.usage_id);
    expect(event.payload).toEqual({ input: embedText });
    await expectSealed(requestId, embedText);
  });

  it('records a failed call too, with decision error', async () => {
    const messages = [{ role: 'user', content: `${prompt} (to nowhere)` }];
    const reply = await server.request('POST', '/v1/chat/completions', {
      token: tenant.apiKey,
      body: { model: 'local/no-such-model', messages },
    });
    expect(reply.status).toBe(404);
    const requestId = requestIdOf(reply);
    const event = onlyEventOf(await trail(tenant.apiKey), requestId);
    expect(event).toMatchObject({
      action: 'chat.completion',
      resource: { type: 'model', id: 'local/no-such-model' },
      decision: 'error',
      details: { httpStatus: 404, errorCode: 'BK_MODEL_NOT_FOUND' },
    });
    const usage = await usageRow(requestId);
    expect(usage).toEqual([expect.objectContaining({ status: 'error', http_status: 404 })]);
    expect(event.details.usageId).toBe(usage[0]!.usage_id);
    expect(event.payload).toEqual({ input: messages });
    await expectSealed(requestId, prompt);
  });

  it('keeps the chain whole across content events', async () => {
    const events = await trail(tenant.apiKey);
    expect(await verifyBoth(tenant)).toEqual({
      object: 'audit_verification',
      tenantId: tenant.id,
      ok: true,
      events: events.length,
    });
  });
});

describe('reading the trail', () => {
  let tenant: TestTenant;
  let all: any[];

  beforeAll(async () => {
    tenant = await server.createTenant('reader');
    const member = await createKey(tenant, 'member', 'm');
    await createKey(tenant, 'viewer', 'v');
    await createKey(tenant, 'admin', 'a');
    await server.request('DELETE', `/v1/keys/${member.body.id}`, { token: tenant.apiKey });
    await server.request('POST', '/v1/users', {
      token: tenant.apiKey,
      body: { email: 'r@reader.test', role: 'viewer' },
    });
    for (let i = 0; i < 2; i++) {
      await server.openai(tenant.apiKey).chat.completions.create({
        model: 'local/extractive',
        messages: [{ role: 'user', content: `question ${i}` }],
      });
    }
    await server.openai(tenant.apiKey).embeddings.create({ model: 'local/hash-embed', input: 'e' });
    all = await trail(tenant.apiKey);
    // tenant.create, api_key.create ×4, api_key.revoke, user.create, chat ×2, embeddings.
    expect(all).toHaveLength(10);
    expect(all.map((e) => e.seq)).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
  });

  const ids = (events: any[]) => events.map((e) => e.id);

  it('filters by exact action', async () => {
    const created = await trail(tenant.apiKey, '&action=api_key.create');
    expect(created).toHaveLength(4);
    expect(ids(created)).toEqual(ids(all.filter((e) => e.action === 'api_key.create')));
  });

  it("filters by action prefix ('api_key.*')", async () => {
    const keys = await trail(tenant.apiKey, `&action=${encodeURIComponent('api_key.*')}`);
    expect(keys).toHaveLength(5);
    expect(ids(keys)).toEqual(ids(all.filter((e) => e.action.startsWith('api_key.'))));
    expect(await trail(tenant.apiKey, `&action=${encodeURIComponent('chat.*')}`)).toHaveLength(2);
    // A prefix is a prefix, not a pattern: nothing matches 'api_key' without the dot and star.
    expect(await trail(tenant.apiKey, '&action=api_key')).toHaveLength(0);
  });

  it('filters by actor', async () => {
    const mine = await trail(tenant.apiKey, `&actor=${tenant.apiKeyId}`);
    expect(ids(mine)).toEqual(ids(all.filter((e) => e.actor.id === tenant.apiKeyId)));
    expect(mine).toHaveLength(8);
    expect(await trail(tenant.apiKey, '&actor=key_nobody')).toHaveLength(0);
  });

  it('filters by any actor id the trail shows, the operator’s included', async () => {
    const operatorId = all[0].actor.id as string;
    expect(all[0].actor.kind).toBe('operator');
    const operator = await trail(tenant.apiKey, `&actor=${encodeURIComponent(operatorId)}`);
    expect(operator.map((e) => e.action)).toEqual(['tenant.create', 'api_key.create']);
  });

  it('filters by time, from inclusive and to exclusive', async () => {
    const from = all[3].at as string;
    const to = all[8].at as string;
    const window = await trail(
      tenant.apiKey,
      `&from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`,
    );
    const expected = all.filter((e) => e.at >= from && e.at < to);
    expect(ids(window)).toEqual(ids(expected));
    expect(ids(window)).toContain(all[3].id);
    expect(ids(window)).not.toContain(all[9].id);
    const later = new Date(Date.now() + 86_400_000).toISOString();
    expect(await trail(tenant.apiKey, `&from=${encodeURIComponent(later)}`)).toHaveLength(0);
    const earlier = new Date(Date.parse(all[0].at as string) - 60_000).toISOString();
    expect(await trail(tenant.apiKey, `&to=${encodeURIComponent(earlier)}`)).toHaveLength(0);
  });

  it('pages with limit and after, every event exactly once, in seq order', async () => {
    const walked: any[] = [];
    let after: string | null = null;
    let pages = 0;
    for (;;) {
      const page: Reply = await server.request(
        'GET',
        `/v1/audit?limit=3${after === null ? '' : `&after=${after}`}`,
        { token: tenant.apiKey },
      );
      expect(page.status).toBe(200);
      pages++;
      expect(page.body.data.length).toBeLessThanOrEqual(3);
      expect(page.body.first_id).toBe(page.body.data[0]?.id ?? null);
      expect(page.body.last_id).toBe(page.body.data.at(-1)?.id ?? null);
      walked.push(...page.body.data);
      if (!page.body.has_more) break;
      after = page.body.last_id;
      expect(pages).toBeLessThan(20);
    }
    expect(pages).toBe(4);
    expect(ids(walked)).toEqual(ids(all));
    expect(walked.map((e) => e.seq)).toEqual(all.map((e) => e.seq));
    expect(new Set(ids(walked)).size).toBe(all.length);

    // after combines with a filter.
    const firstKey = await server.request('GET', '/v1/audit?limit=1&action=api_key.create', {
      token: tenant.apiKey,
    });
    expect(firstKey.body.has_more).toBe(true);
    const rest = await trail(
      tenant.apiKey,
      `&action=api_key.create&after=${firstKey.body.last_id}`,
    );
    expect([...ids(firstKey.body.data), ...ids(rest)]).toEqual(
      ids(all.filter((e) => e.action === 'api_key.create')),
    );
  });

  it('exports every matching event as JSON lines, however small the pages', async () => {
    const exported = await rawExport(tenant.apiKey, '&limit=2');
    expect(exported.status).toBe(200);
    expect(exported.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
    expect(exported.headers.get('x-request-id')).toEqual(expect.any(String));
    expect(exported.text.endsWith('\n')).toBe(true);
    const lines = exported.text.trimEnd().split('\n');
    const events = lines.map((line) => JSON.parse(line));
    expect(events).toEqual(all);

    const keys = await rawExport(
      tenant.apiKey,
      `&limit=2&action=${encodeURIComponent('api_key.*')}`,
    );
    expect(keys.status).toBe(200);
    const keyEvents = keys.text
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(ids(keyEvents)).toEqual(ids(all.filter((e) => e.action.startsWith('api_key.'))));

    const afterThird = await rawExport(tenant.apiKey, `&limit=2&after=${all[2].id}`);
    const tail = afterThird.text
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(ids(tail)).toEqual(ids(all.slice(3)));
  });

  it.each([
    ['limit=0'],
    ['limit=1001'],
    ['limit=abc'],
    ['after=x'],
    ['after=key_0123456789abcdefghjkmnpqrs'],
    [`action=${encodeURIComponent('DROP TABLE')}`],
    [`action=${encodeURIComponent("api_key.create' or '1'='1")}`],
    ['actor=' + encodeURIComponent('key_x; drop')],
    ['from=yesterday'],
    ['format=xml'],
    ['unknown=1'],
  ])('rejects an invalid query (%s) with 400', async (query) => {
    const json = await server.request('GET', `/v1/audit?${query}`, { token: tenant.apiKey });
    expect(json.status).toBe(400);
    const jsonl = await server.request('GET', `/v1/audit?format=jsonl&${query}`, {
      token: tenant.apiKey,
    });
    expect(jsonl.status).toBe(400);
  });

  it('is for admins and owners only', async () => {
    const roles = ['member', 'viewer', 'admin'] as const;
    const keys = Object.fromEntries(
      await Promise.all(
        roles.map(async (role) => [role, (await createKey(tenant, role, role)).body.key as string]),
      ),
    ) as Record<(typeof roles)[number], string>;
    for (const role of ['member', 'viewer'] as const) {
      for (const path of ['/v1/audit', '/v1/audit/verify', '/v1/audit?format=jsonl']) {
        const refused = await server.request('GET', path, { token: keys[role] });
        expect({ role, path, status: refused.status }).toEqual({ role, path, status: 403 });
        expect(JSON.stringify(refused.body)).not.toContain(all[0].id);
      }
    }
    for (const token of [keys.admin, tenant.apiKey]) {
      expect((await server.request('GET', '/v1/audit', { token })).status).toBe(200);
      expect((await server.request('GET', '/v1/audit/verify', { token })).status).toBe(200);
    }
    const anonymous = await server.request('GET', '/v1/audit');
    expect(anonymous.status).toBe(401);
    const operatorOnTenantRoute = await server.request('GET', '/v1/audit', {
      token: server.adminToken,
    });
    expect(operatorOnTenantRoute.status).toBe(401);
  });
});

describe('chain verification', () => {
  it('verifies a fresh chain, and counts its events', async () => {
    const tenant = await seededTenant('fresh');
    expect(await verifyBoth(tenant)).toEqual({
      object: 'audit_verification',
      tenantId: tenant.id,
      ok: true,
      events: 5,
    });
  });

  it.each([
    [
      'action',
      `update audit_events set action = 'api_key.revoke' where tenant_id = $1 and seq = 3`,
    ],
    [
      'details',
      `update audit_events set details = jsonb_set(details, '{role}', '"owner"')
        where tenant_id = $1 and seq = 3`,
    ],
    ['decision', `update audit_events set decision = 'denied' where tenant_id = $1 and seq = 3`],
    [
      'actor',
      `update audit_events set actor_id = 'key_00000000000000000000000000'
        where tenant_id = $1 and seq = 3`,
    ],
    ['time', `update audit_events set at = at - interval '1 day' where tenant_id = $1 and seq = 3`],
  ])('finds an event whose %s was edited in the database', async (_field, edit) => {
    const tenant = await seededTenant('edited');
    expect((await verifyBoth(tenant)).ok).toBe(true);
    await tamper(edit, [tenant.id]);
    expect(await verifyBoth(tenant)).toMatchObject({ ok: false, brokenAt: 3 });
  });

  it('finds an event deleted from the middle', async () => {
    const tenant = await seededTenant('gap');
    await tamper(`delete from audit_events where tenant_id = $1 and seq = 3`, [tenant.id]);
    const report = await verifyBoth(tenant);
    expect(report).toMatchObject({ ok: false, brokenAt: 3, reason: expect.any(String) });
  });

  it('finds two events swapped', async () => {
    const tenant = await seededTenant('swapped');
    await tamper(`update audit_events set seq = -1 where tenant_id = $1 and seq = 2`, [tenant.id]);
    await tamper(`update audit_events set seq = 2 where tenant_id = $1 and seq = 4`, [tenant.id]);
    await tamper(`update audit_events set seq = 4 where tenant_id = $1 and seq = -1`, [tenant.id]);
    expect(await verifyBoth(tenant)).toMatchObject({ ok: false, brokenAt: 2 });
  });

  it('finds the last event deleted (the head points past the end)', async () => {
    const tenant = await seededTenant('truncated');
    await tamper(`delete from audit_events where tenant_id = $1 and seq = 5`, [tenant.id]);
    expect(await verifyBoth(tenant)).toMatchObject({ ok: false, brokenAt: 5 });
  });

  /** A tenant whose chat event (seq 3) has one bit of its sealed payload flipped. */
  async function tenantWithAlteredPayload(name: string): Promise<TestTenant> {
    const tenant = await server.createTenant(name);
    await server.openai(tenant.apiKey).chat.completions.create({
      model: 'local/extractive',
      messages: [{ role: 'user', content: 'a sealed question' }],
    });
    await createKey(tenant);
    const [row] = await server.database.ownerQuery<{ seq: string | number }>(
      `select seq from audit_events where tenant_id = $1 and action = 'chat.completion'`,
      [tenant.id],
    );
    expect(Number(row!.seq)).toBe(3);
    expect((await verifyBoth(tenant)).ok).toBe(true);
    await tamper(
      `update audit_events
          set sealed_payload = set_byte(sealed_payload, length(sealed_payload) / 2,
                                        get_byte(sealed_payload, length(sealed_payload) / 2) # 1)
        where tenant_id = $1 and seq = 3`,
      [tenant.id],
    );
    return tenant;
  }

  it("finds an event's sealed payload altered", async () => {
    const tenant = await tenantWithAlteredPayload('payload');
    expect(await verifyBoth(tenant)).toMatchObject({ ok: false, brokenAt: 3 });
  });

  it('finds two sealed payloads swapped between events (each still opens, to the wrong content)', async () => {
    const tenant = await server.createTenant('payload-swap');
    for (const question of ['first sealed question', 'second sealed question']) {
      await server.openai(tenant.apiKey).chat.completions.create({
        model: 'local/extractive',
        messages: [{ role: 'user', content: question }],
      });
    }
    const chats = await server.database.ownerQuery<{ seq: string | number }>(
      `select seq from audit_events where tenant_id = $1 and action = 'chat.completion' order by seq`,
      [tenant.id],
    );
    const [first, second] = chats.map((c) => Number(c.seq));
    expect([first, second]).toEqual([3, 4]);
    expect((await verifyBoth(tenant)).ok).toBe(true);
    await tamper(
      `update audit_events e set sealed_payload = o.sealed_payload
         from audit_events o
        where e.tenant_id = $1 and o.tenant_id = $1
          and ((e.seq = 3 and o.seq = 4) or (e.seq = 4 and o.seq = 3))`,
      [tenant.id],
    );
    // Same tenant, same purpose: both payloads open, so only the commitment can tell.
    const events = await trail(tenant.apiKey, '&action=chat.completion');
    expect(events.map((e) => e.payload.input[0].content)).toEqual([
      'second sealed question',
      'first sealed question',
    ]);
    expect(await verifyBoth(tenant)).toMatchObject({
      ok: false,
      brokenAt: 3,
      reason: expect.stringContaining('payload'),
    });
  });

  it('does not leave an export hanging when a payload no longer opens', async () => {
    const tenant = await tenantWithAlteredPayload('payload-export');
    // It may end, or fail visibly (an error status, a cut-off transfer), but the client must never
    // be left waiting on a 200 that never finishes.
    const outcome = await fetch(`${server.url}/v1/audit?format=jsonl`, {
      headers: { authorization: `Bearer ${tenant.apiKey}` },
      signal: AbortSignal.timeout(5_000),
    })
      .then((response) => response.text())
      .then(
        () => 'settled',
        (err: Error) => (err.name === 'TimeoutError' ? 'hung' : 'failed visibly'),
      );
    expect(outcome).not.toBe('hung');
  });

  it('keeps other tenants verifying while one chain is broken', async () => {
    const broken = await seededTenant('broken');
    const intact = await seededTenant('intact');
    await tamper(`delete from audit_events where tenant_id = $1 and seq = 2`, [broken.id]);
    expect(await verifyBoth(broken)).toMatchObject({ ok: false, brokenAt: 2 });
    expect(await verifyBoth(intact)).toMatchObject({ ok: true, events: 5 });
  });

  it('answers the operator verify endpoint only for real tenants and operator tokens', async () => {
    const tenant = await seededTenant('operator');
    const missing = await server.request(
      'GET',
      `/v1/admin/tenants/tn_00000000000000000000000000/audit/verify`,
      { token: server.adminToken },
    );
    expect(missing.status).toBe(404);
    const junk = await server.request('GET', `/v1/admin/tenants/not-a-tenant/audit/verify`, {
      token: server.adminToken,
    });
    expect(junk.status).toBe(404);
    const withTenantKey = await server.request(
      'GET',
      `/v1/admin/tenants/${tenant.id}/audit/verify`,
      { token: tenant.apiKey },
    );
    expect(withTenantKey.status).toBe(401);
  });
});

describe('concurrent writers', () => {
  async function burst(tenant: TestTenant, n: number, tag: string) {
    return Promise.all(
      Array.from({ length: n }, async (_, i) => {
        const kind = (['chat', 'embed', 'key'] as const)[i % 3]!;
        const reply =
          kind === 'chat'
            ? await server.request('POST', '/v1/chat/completions', {
                token: tenant.apiKey,
                body: {
                  model: 'local/extractive',
                  messages: [{ role: 'user', content: `${tag} question ${i}` }],
                },
              })
            : kind === 'embed'
              ? await server.request('POST', '/v1/embeddings', {
                  token: tenant.apiKey,
                  body: { model: 'local/hash-embed', input: `${tag} text ${i}` },
                })
              : await server.request('POST', '/v1/keys', {
                  token: tenant.apiKey,
                  body: { name: `${tag}-${i}`, role: 'member' },
                });
        expect(reply.status).toBe(kind === 'key' ? 201 : 200);
        return { kind, requestId: requestIdOf(reply) };
      }),
    );
  }

  async function expectWholeChain(
    tenant: TestTenant,
    calls: { kind: string; requestId: string }[],
  ) {
    const events = await trail(tenant.apiKey);
    const n = 2 + calls.length;
    expect(events.map((e) => e.seq)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    expect(await verifyBoth(tenant)).toEqual({
      object: 'audit_verification',
      tenantId: tenant.id,
      ok: true,
      events: n,
    });
    const action = { chat: 'chat.completion', embed: 'embeddings.create', key: 'api_key.create' };
    const usage = await server.database.ownerQuery<{ usage_id: string; request_id: string }>(
      `select usage_id, request_id from usage_records where tenant_id = $1`,
      [tenant.id],
    );
    const usageByRequest = new Map(usage.map((u) => [u.request_id, u.usage_id]));
    for (const call of calls) {
      const event = onlyEventOf(events, call.requestId);
      expect(event.action).toBe(action[call.kind as keyof typeof action]);
      if (call.kind !== 'key')
        expect(event.details.usageId).toBe(usageByRequest.get(call.requestId));
    }
  }

  it('serialises one tenant’s appends without forking its chain, while another tenant writes too', async () => {
    const busy = await server.createTenant('busy');
    const neighbour = await server.createTenant('neighbour');
    const [busyCalls, neighbourCalls] = await Promise.all([
      burst(busy, 40, 'busy'),
      burst(neighbour, 20, 'neighbour'),
    ]);
    await expectWholeChain(busy, busyCalls);
    await expectWholeChain(neighbour, neighbourCalls);
  });
});
