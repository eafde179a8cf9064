import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/core/config.ts';
import { buildApp, type Bulkhead } from '../src/http/build-app.ts';
import {
  createSharedCluster,
  setPolicy,
  startBulkhead,
  type RunningBulkhead,
  type SharedCluster,
  type TestTenant,
} from './support/bulkhead-server.ts';

/**
 * Operators see a tenant's audit metadata, never its content, unless the tenant granted access;
 * a read under a grant is an event in the tenant's own trail; revocation and expiry end it at once.
 */
let cluster: SharedCluster;
let server: RunningBulkhead;
/** A second node of the same deployment whose clock runs two hours ahead (injected `now`). */
let later: Bulkhead;
let a: TestTenant;
let b: TestTenant;
const secretPrompt = 'the launch code is PAPAYA-7731';

const inHours = (h: number) => new Date(Date.now() + h * 3_600_000).toISOString();
const operatorRead = (tenantId: string) =>
  server.request('GET', `/v1/admin/tenants/${tenantId}/audit?limit=1000`, {
    token: server.adminToken,
    headers: { 'x-bulkhead-reason': 'ticket 42' },
  });
const grant = (tenant: TestTenant, expiresAt: string, token = tenant.apiKey) =>
  server.request('POST', '/v1/access-grants', {
    token,
    body: { scope: 'audit:payloads', reason: 'debugging ticket 42', expiresAt },
  });

beforeAll(async () => {
  cluster = await createSharedCluster();
  server = await startBulkhead({}, cluster);
  later = await buildApp({
    config: loadConfig({ BULKHEAD_ADMIN_TOKEN: cluster.adminToken, LOG_LEVEL: 'silent' }),
    db: cluster.database.db,
    masterKey: cluster.masterKey,
    now: () => new Date(Date.now() + 2 * 3_600_000),
  });
  a = await server.createTenant('grant-a');
  b = await server.createTenant('grant-b');
  for (const t of [a, b]) {
    await server.openai(t.apiKey).chat.completions.create({
      model: 'local/extractive',
      messages: [{ role: 'user', content: `${secretPrompt} for ${t.name}` }],
    });
  }
});
afterAll(async () => {
  await later.close();
  await server.close();
  await cluster.database.close();
});

describe('operator access to tenant content', () => {
  it('shows operators metadata with payloads redacted when there is no grant', async () => {
    const read = await operatorRead(a.id);
    expect(read.status).toBe(200);
    expect(read.body.payloads).toBe('redacted');
    const chat = read.body.data.find((e: any) => e.action === 'chat.completion');
    expect(chat).toMatchObject({ actor: { kind: 'api_key' }, decision: 'allowed' });
    expect(chat.payload).toMatchObject({ redacted: true });
    expect(JSON.stringify(read.body)).not.toContain('PAPAYA');
  });

  it('shows plain text under a grant, and the read appears in the tenant’s own trail', async () => {
    const created = await grant(a, inHours(1));
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ scope: 'audit:payloads', active: true });
    const read = await operatorRead(a.id);
    expect(read.body.payloads).toBe('granted');
    expect(JSON.stringify(read.body)).toContain(`${secretPrompt} for grant-a`);
    const trail = await server.request('GET', '/v1/audit?action=operator.*', { token: a.apiKey });
    const event = trail.body.data.at(-1);
    expect(event).toMatchObject({
      action: 'operator.read_audit_payloads',
      actor: { kind: 'operator' },
      resource: { type: 'access_grant', id: created.body.id },
      details: { reason: 'ticket 42' },
    });
    const granted = await server.request('GET', '/v1/audit?action=access_grant.create', {
      token: a.apiKey,
    });
    expect(granted.body.data).toHaveLength(1);
  });

  it("does not let one tenant's grant open another tenant's content", async () => {
    const read = await operatorRead(b.id);
    expect(read.body.payloads).toBe('redacted');
    expect(JSON.stringify(read.body)).not.toContain('PAPAYA');
  });

  it('ends access at once on revocation', async () => {
    const list = await server.request('GET', '/v1/access-grants', { token: a.apiKey });
    const id = list.body.data.find((g: any) => g.active).id;
    const revoked = await server.request('DELETE', `/v1/access-grants/${id}`, { token: a.apiKey });
    expect(revoked.status).toBe(200);
    expect(revoked.body.active).toBe(false);
    expect((await operatorRead(a.id)).body.payloads).toBe('redacted');
  });

  it('ends access at once on expiry', async () => {
    const created = await grant(a, new Date(Date.now() + 1500).toISOString());
    expect(created.status).toBe(201);
    expect((await operatorRead(a.id)).body.payloads).toBe('granted');
    await new Promise((r) => setTimeout(r, 1700));
    const read = await operatorRead(a.id);
    expect(read.body.payloads).toBe('redacted');
    expect(JSON.stringify(read.body)).not.toContain('PAPAYA');
  });

  it('lets only admins and owners manage grants', async () => {
    const member = await server.request('POST', '/v1/keys', {
      token: a.apiKey,
      body: { name: 'm', role: 'member' },
    });
    const viewer = await server.request('POST', '/v1/keys', {
      token: a.apiKey,
      body: { name: 'v', role: 'viewer' },
    });
    expect((await grant(a, inHours(1), member.body.key)).status).toBe(403);
    expect(
      (await server.request('GET', '/v1/access-grants', { token: viewer.body.key })).status,
    ).toBe(403);
  });

  it.each([
    ['a past expiry', { scope: 'audit:payloads', reason: 'x', expiresAt: '2020-01-01T00:00:00Z' }],
    [
      'an expiry beyond 30 days',
      { scope: 'audit:payloads', reason: 'x', expiresAt: inHours(24 * 31) },
    ],
    ['an unknown scope', { scope: 'everything', reason: 'x', expiresAt: inHours(1) }],
    ['no reason', { scope: 'audit:payloads', expiresAt: inHours(1) }],
  ])('refuses %s with 400', async (_name, body) => {
    const response = await server.request('POST', '/v1/access-grants', { token: a.apiKey, body });
    expect(response.status).toBe(400);
    expect(response.body.error.code).toBe('BK_VALIDATION_FAILED');
  });

  it("keeps tenants out of each other's grants", async () => {
    const mine = await grant(a, inHours(1));
    const seen = await server.request('GET', '/v1/access-grants', { token: b.apiKey });
    expect(seen.body.data.map((g: any) => g.id)).not.toContain(mine.body.id);
    const revoke = await server.request('DELETE', `/v1/access-grants/${mine.body.id}`, {
      token: b.apiKey,
    });
    expect(revoke.status).toBe(404);
    expect((await operatorRead(a.id)).body.payloads).toBe('granted');
  });

  it('refuses tenant keys and unknown tenants on the operator read', async () => {
    expect(
      (await server.request('GET', `/v1/admin/tenants/${a.id}/audit`, { token: a.apiKey })).status,
    ).toBe(401);
    expect(
      (
        await server.request('GET', '/v1/admin/tenants/tn_00000000000000000000000000/audit', {
          token: server.adminToken,
        })
      ).status,
    ).toBe(404);
  });
});

/**
 * The same consent, beyond the audit trail: documents, thread messages and held requests. Each
 * scope opens only its own content; the canaries below are the tenant's content and must appear
 * nowhere in a response served without the matching grant.
 */
describe('operator access to documents, threads and held requests', () => {
  const canary = {
    message: 'GUAVA-5521 the merger closes on Tuesday',
    threadMeta: 'GUAVA-6630',
    held: 'GUAVA-7742 wire the funds',
    document: 'GUAVA-8853 the vault combination is 12-34-56',
    documentMeta: 'GUAVA-9964',
    description: 'GUAVA-1075 board papers',
  };
  const reason = 'ticket 77: customer asked us to look';
  let c: TestTenant;
  let thread: string;
  let messageIds: string[];
  let held: string;
  let ran: string;
  let vector = false;
  let collection: string;
  let document: string;

  const admin = (path: string, tenantId = c.id) =>
    server.request('GET', `/v1/admin/tenants/${tenantId}${path}`, {
      token: server.adminToken,
      headers: { 'x-bulkhead-reason': reason },
    });
  const grantScope = (scope: string, expiresAt = inHours(1)) =>
    server.request('POST', '/v1/access-grants', {
      token: c.apiKey,
      body: { scope, reason: 'support case', expiresAt },
    });
  const revoke = (id: string) =>
    server.request('DELETE', `/v1/access-grants/${id}`, { token: c.apiKey });
  const readsInTrail = async () => {
    const trail = await server.request('GET', '/v1/audit?action=operator.*&limit=1000', {
      token: c.apiKey,
    });
    expect(trail.status).toBe(200);
    return trail.body.data.filter((e: any) => e.action !== 'operator.read_audit_payloads');
  };
  const noCanary = (body: unknown) => {
    const text = JSON.stringify(body);
    expect(text).not.toContain('GUAVA');
  };
  /** Every content read the operator can make of tenant c, by scope. */
  const reads = () => ({
    'threads:content': [admin('/threads?limit=100'), admin(`/threads/${thread}/messages`)],
    'approvals:content': [admin(`/approvals/${held}`), admin(`/approvals/${ran}`)],
    'documents:content': vector
      ? [
          admin('/collections'),
          admin(`/collections/${collection}/documents`),
          admin(`/documents/${document}`),
        ]
      : [],
  });

  beforeAll(async () => {
    c = await server.createTenant('content-c');
    const t = await server.request('POST', '/v1/threads', {
      token: c.apiKey,
      body: { title: 'merger thread', metadata: { code: canary.threadMeta } },
    });
    thread = t.body.id;
    messageIds = [];
    for (const [role, content] of [
      ['user', canary.message],
      ['assistant', 'noted'],
    ]) {
      const m = await server.request('POST', `/v1/threads/${thread}/messages`, {
        token: c.apiKey,
        body: { role, content },
      });
      expect(m.status).toBe(201);
      messageIds.push(m.body.id);
    }
    await setPolicy(server, c, { approvals: { models: ['local/extractive'] } });
    const hold = (content: string) =>
      server.request('POST', '/v1/chat/completions', {
        token: c.apiKey,
        body: { model: 'local/extractive', messages: [{ role: 'user', content }] },
      });
    const first = await hold(canary.held);
    const second = await hold(`${canary.held}, again`);
    expect([first.status, second.status]).toEqual([202, 202]);
    held = first.body.id;
    ran = second.body.id;
    await setPolicy(server, c, {});
    const approver = await server.request('POST', '/v1/keys', {
      token: c.apiKey,
      body: { name: 'approver', role: 'approver' },
    });
    const approved = await server.request('POST', `/v1/approvals/${ran}/approve`, {
      token: approver.body.key,
    });
    expect(approved.body.status).toBe('completed');

    const col = await server.request('POST', '/v1/collections', {
      token: c.apiKey,
      body: { name: 'board', description: canary.description },
    });
    vector = col.status === 201;
    if (vector) {
      collection = col.body.id;
      const doc = await server.request('POST', `/v1/collections/${collection}/documents`, {
        token: c.apiKey,
        body: {
          content: `# Vault\n\n${canary.document}. Keep it safe.`,
          type: 'markdown',
          title: 'vault notes',
          metadata: { ref: canary.documentMeta },
        },
      });
      expect(doc.status).toBe(201);
      document = doc.body.id;
    } else {
      expect(col.body.error.code).toBe('BK_KNOWLEDGE_UNAVAILABLE');
    }
  });

  it('serves metadata with every piece of content redacted when there is no grant', async () => {
    const threads = await admin('/threads?limit=100');
    expect(threads.status).toBe(200);
    expect(threads.body).toMatchObject({ object: 'list', access: 'redacted' });
    expect(threads.body.data).toEqual([
      expect.objectContaining({
        id: thread,
        title: 'merger thread',
        owner: { kind: 'api_key', id: c.apiKeyId },
        metadata: { redacted: true, reason: "no active access grant for 'threads:content'" },
      }),
    ]);
    const messages = await admin(`/threads/${thread}/messages`);
    expect(messages.status).toBe(200);
    expect(messages.body.data.map((m: any) => [m.id, m.role, m.tokens > 0])).toEqual([
      [messageIds[0], 'user', true],
      [messageIds[1], 'assistant', true],
    ]);
    for (const m of messages.body.data) {
      expect(m.content).toEqual({
        redacted: true,
        reason: "no active access grant for 'threads:content'",
      });
    }
    const approvals = await admin('/approvals');
    expect(approvals.status).toBe(200);
    expect(approvals.body.data.map((x: any) => [x.id, x.status])).toEqual([
      [ran, 'completed'],
      [held, 'pending'],
    ]);
    for (const id of [held, ran]) {
      const one = await admin(`/approvals/${id}`);
      expect(one.status).toBe(200);
      expect(one.body).toMatchObject({
        id,
        model: 'local/extractive',
        access: 'redacted',
        request: { redacted: true, reason: "no active access grant for 'approvals:content'" },
      });
      if (id === ran) expect(one.body.result).toMatchObject({ redacted: true });
    }
    if (vector) {
      const cols = await admin('/collections');
      expect(cols.body.data).toEqual([
        expect.objectContaining({
          id: collection,
          name: 'board',
          description: { redacted: true, reason: "no active access grant for 'documents:content'" },
        }),
      ]);
      const docs = await admin(`/collections/${collection}/documents`);
      expect(docs.body.data).toEqual([
        expect.objectContaining({
          id: document,
          title: 'vault notes',
          metadata: expect.objectContaining({ redacted: true }),
        }),
      ]);
      const doc = await admin(`/documents/${document}`);
      expect(doc.status).toBe(200);
      expect(doc.body).toMatchObject({
        id: document,
        title: 'vault notes',
        access: 'redacted',
        sha256: { redacted: true },
      });
      expect(doc.body.chars).toBeGreaterThan(canary.document.length);
      expect(doc.body.chunkPage.data.length).toBe(doc.body.chunks);
      for (const chunk of doc.body.chunkPage.data) {
        expect(chunk.content).toMatchObject({ redacted: true });
        expect(chunk.heading).toMatchObject({ redacted: true });
        expect(chunk.endChar).toBeGreaterThan(chunk.startChar);
      }
    }
    for (const list of Object.values(reads()))
      for (const r of await Promise.all(list)) {
        expect(r.status).toBe(200);
        noCanary(r.body);
      }
    expect(await readsInTrail()).toEqual([]);
  });

  it('opens plain text only for the scope granted; audit:payloads opens none of it, and vice versa', async () => {
    const audit = await grantScope('audit:payloads');
    expect(audit.status).toBe(201);
    for (const list of Object.values(reads()))
      for (const r of await Promise.all(list)) {
        expect(r.body.access ?? 'redacted').toBe('redacted');
        noCanary(r.body);
      }
    await revoke(audit.body.id);

    const threads = await grantScope('threads:content');
    expect(threads.status).toBe(201);
    expect(threads.body).toMatchObject({ scope: 'threads:content', active: true });
    const messages = await admin(`/threads/${thread}/messages`);
    expect(messages.body.access).toBe('granted');
    expect(messages.body.data.map((m: any) => m.content)).toEqual([canary.message, 'noted']);
    const listed = await admin('/threads');
    expect(listed.body.data[0].metadata).toEqual({ code: canary.threadMeta });
    // The other scopes stay shut, and so do audit payloads.
    const approval = await admin(`/approvals/${held}`);
    expect(approval.body.access).toBe('redacted');
    noCanary(approval.body);
    const trail = await admin('/audit?limit=1000');
    expect(trail.body.payloads).toBe('redacted');
    noCanary(trail.body);
    if (vector) {
      const doc = await admin(`/documents/${document}`);
      expect(doc.body.access).toBe('redacted');
      noCanary(doc.body);
    }
    await revoke(threads.body.id);

    const approvals = await grantScope('approvals:content');
    const one = await admin(`/approvals/${held}`);
    expect(one.body.access).toBe('granted');
    expect(one.body.request).toMatchObject({
      model: 'local/extractive',
      messages: [{ role: 'user', content: canary.held }],
    });
    const done = await admin(`/approvals/${ran}`);
    expect(done.body.result).toMatchObject({ object: 'chat.completion' });
    expect((await admin(`/threads/${thread}/messages`)).body.access).toBe('redacted');
    await revoke(approvals.body.id);

    if (vector) {
      const documents = await grantScope('documents:content');
      const cols = await admin('/collections');
      expect(cols.body.data[0].description).toBe(canary.description);
      const doc = await admin(`/documents/${document}`);
      expect(doc.body.access).toBe('granted');
      expect(doc.body.metadata).toEqual({ ref: canary.documentMeta });
      expect(doc.body.sha256).toMatch(/^[0-9a-f]{64}$/);
      expect(doc.body.chunkPage.data.map((ch: any) => ch.content).join(' ')).toContain(
        canary.document,
      );
      expect((await admin(`/approvals/${held}`)).body.access).toBe('redacted');
      await revoke(documents.body.id);
    }
  });

  it("puts every granted read in the tenant's own trail, with the operator's reason and the ids read", async () => {
    const before = (await readsInTrail()).length;
    const threads = await grantScope('threads:content');
    await admin(`/threads/${thread}/messages`);
    await admin(`/approvals/${held}`); // not granted: no event
    const trail = await readsInTrail();
    expect(trail.length).toBe(before + 1);
    expect(trail.at(-1)).toMatchObject({
      action: 'operator.read_threads',
      actor: { kind: 'operator' },
      decision: 'allowed',
      resource: { type: 'access_grant', id: threads.body.id },
      details: { reason, scope: 'threads:content', threads: [thread], messages: messageIds },
    });
    await revoke(threads.body.id);
    const actions = new Set(trail.map((e: any) => e.action));
    expect(actions).toContain('operator.read_approvals');
    if (vector) expect(actions).toContain('operator.read_documents');
    // Every event of the granted reads above names the reason the operator gave.
    for (const event of trail) expect(event.details.reason).toBe(reason);
    const verified = await server.request('GET', '/v1/audit/verify', { token: c.apiKey });
    expect(verified.body.ok).toBe(true);
  });

  it('ends access at once on revocation', async () => {
    const granted = await grantScope('approvals:content');
    expect((await admin(`/approvals/${held}`)).body.access).toBe('granted');
    expect((await revoke(granted.body.id)).body.active).toBe(false);
    const after = await admin(`/approvals/${held}`);
    expect(after.body.access).toBe('redacted');
    noCanary(after.body);
  });

  it('ends access at once on expiry (a node whose clock is past the expiry)', async () => {
    const granted = await grantScope('threads:content', inHours(1));
    expect((await admin(`/threads/${thread}/messages`)).body.access).toBe('granted');
    const events = (await readsInTrail()).length;
    const read = await later.app.inject({
      method: 'GET',
      url: `/v1/admin/tenants/${c.id}/threads/${thread}/messages`,
      headers: { authorization: `Bearer ${cluster.adminToken}`, 'x-bulkhead-reason': reason },
    });
    expect(read.statusCode).toBe(200);
    expect(read.json().access).toBe('redacted');
    noCanary(read.json());
    expect((await readsInTrail()).length).toBe(events);
    await revoke(granted.body.id);
  });

  it("answers 404 for another tenant's objects exactly as for missing ones", async () => {
    const other = await server.createTenant('content-other');
    const t = await server.request('POST', '/v1/threads', { token: other.apiKey, body: {} });
    const ghostThread = t.body.id.slice(0, -6) + 'zzzzzz';
    const ghostApproval = held.slice(0, -6) + 'zzzzzz';
    const pairs: [string, string][] = [
      [`/threads/${t.body.id}/messages`, `/threads/${ghostThread}/messages`],
      // c's own approval, read under the other tenant: as unknown as a made-up id.
      [`/approvals/${held}`, `/approvals/${ghostApproval}`],
    ];
    for (const [foreign, missing] of pairs) {
      const tenantId = foreign.includes(held) ? other.id : c.id;
      const attack = await admin(foreign, tenantId);
      const ghost = await admin(missing, tenantId);
      expect(attack.status).toBe(404);
      expect(ghost.status).toBe(404);
      const normalise = (m: string) => m.replace(/'[a-z]+_[0-9a-z]{26}'/, "'<id>'");
      expect(normalise(attack.body.error.message)).toBe(normalise(ghost.body.error.message));
    }
    const noTenant = await admin('/threads', 'tn_00000000000000000000000000');
    expect(noTenant.status).toBe(404);
    const notAnId = await admin('/threads', 'nonsense');
    expect(notAnId.status).toBe(404);
    const tenantKey = await server.request('GET', `/v1/admin/tenants/${c.id}/threads`, {
      token: c.apiKey,
    });
    expect(tenantKey.status).toBe(401);
  });

  it.each([
    ['a limit of 0', '/threads?limit=0'],
    ['a limit above 100', '/approvals?limit=101'],
    ['a cursor that is not an id', '/threads?after=../../etc'],
    ['an unknown status', '/approvals?status=lost'],
    ['an unknown query field', '/threads?owner=me'],
  ])('refuses %s with 400', async (_name, path) => {
    const response = await admin(path);
    expect(response.status).toBe(400);
    expect(response.body.error.code).toBe('BK_VALIDATION_FAILED');
  });

  it('accepts the new scopes on grants and refuses unknown ones', async () => {
    for (const scope of ['documents:content', 'threads:content', 'approvals:content']) {
      const created = await grantScope(scope);
      expect(created.status).toBe(201);
      await revoke(created.body.id);
    }
    expect((await grantScope('documents:*')).status).toBe(400);
  });

  it("pages through a document's chunks in reading order", async (context) => {
    if (!vector) context.skip();
    const small = await server.request('POST', '/v1/collections', {
      token: c.apiKey,
      body: { name: 'small-chunks', chunking: { maxTokens: 32, overlapTokens: 0 } },
    });
    const sentences = Array.from(
      { length: 30 },
      (_, i) => `Sentence number ${i} of the long text.`,
    );
    const doc = await server.request('POST', `/v1/collections/${small.body.id}/documents`, {
      token: c.apiKey,
      body: { content: sentences.join(' ') },
    });
    expect(doc.body.chunks).toBeGreaterThan(4);
    const positions: number[] = [];
    let after: string | undefined;
    for (let pages = 0; pages < 50; pages++) {
      const page = await admin(
        `/documents/${doc.body.id}?limit=2${after === undefined ? '' : `&after=${after}`}`,
      );
      expect(page.status).toBe(200);
      positions.push(...page.body.chunkPage.data.map((ch: any) => ch.position));
      if (!page.body.chunkPage.has_more) break;
      after = page.body.chunkPage.last_id;
    }
    expect(positions).toEqual(Array.from({ length: doc.body.chunks }, (_, i) => i));
  });

  it('answers the knowledge routes like the tenant routes where pgvector is missing', async (context) => {
    if (vector) context.skip();
    for (const path of ['/collections', '/collections/col_x/documents', '/documents/doc_x']) {
      const response = await admin(path);
      expect(response.status).toBe(503);
      expect(response.body.error.code).toBe('BK_KNOWLEDGE_UNAVAILABLE');
    }
  });
});
