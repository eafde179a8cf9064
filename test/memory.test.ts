import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BkError } from '../src/core/errors.ts';
import type { TenantContext } from '../src/core/tenant-context.ts';
import { withTenant } from '../src/db/scope.ts';
import { authenticateApiKey } from '../src/identity/authenticate/api-key.ts';
import {
  appendMessages,
  HISTORY_BATCH,
  MESSAGE_FRAMING_TOKENS,
  recentHistory,
  threadForChat,
} from '../src/memory/history.ts';
import { RetentionSweeper } from '../src/memory/retention-sweep.ts';
import { countTextTokens } from '../src/metering/token-count.ts';
import { TenantKeyring } from '../src/secrets/tenant-keyring.ts';
import {
  createSharedCluster,
  type RunningBulkhead,
  setPolicy,
  type SharedCluster,
  startBulkhead,
  type TestTenant,
} from './support/bulkhead-server.ts';

/**
 * Conversation memory through the HTTP API: threads belong to their principal (its user, else its
 * key), admins manage all of a tenant's threads, content is sealed at rest, chat history keeps the
 * newest whole messages that fit a budget, and retention deletes what a tenant's policy expires.
 */
const jwtSecret = 'a shared secret that is long enough for HS256 signing';
const issuer = 'https://idp.example.com/';
const audience = 'bulkhead-memory-tests';

let cluster: SharedCluster;
let server: RunningBulkhead;
let keyring: TenantKeyring;
let tenant: TestTenant;
/** Keys of `tenant`: two members with no user, an admin, a viewer, and two keys of one user. */
const keys = {} as Record<
  'm1' | 'm2' | 'admin' | 'viewer' | 'u1' | 'u2',
  { id: string; key: string }
>;
let userId: string;
const userSubject = 'idp|ulla';

const call = (
  method: string,
  path: string,
  token: string,
  body?: unknown,
): ReturnType<RunningBulkhead['request']> =>
  server.request(method, path, { token, ...(body !== undefined && { body }) });

async function newThread(token: string, body: unknown = {}): Promise<any> {
  const created = await call('POST', '/v1/threads', token, body);
  expect(created.status).toBe(201);
  return created.body;
}

async function say(token: string, threadId: string, role: string, content: string) {
  const added = await call('POST', `/v1/threads/${threadId}/messages`, token, { role, content });
  expect(added.status).toBe(201);
  return added.body;
}

function jwtFor(subject: string, tenantId = tenant.id): Promise<string> {
  return new SignJWT({ tenant_id: tenantId, sub: subject })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer(issuer)
    .setAudience(audience)
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(new TextEncoder().encode(jwtSecret));
}

/** A verified context for a key, obtained the way every request gets one: by authenticating. */
function contextOf(apiKey: string): Promise<TenantContext> {
  return authenticateApiKey(cluster.database.db, apiKey, 'req_memory_test', new Date());
}

const ghostOf = (id: string) => id.slice(0, -6) + 'zzzzzz';

beforeAll(async () => {
  cluster = await createSharedCluster();
  server = await startBulkhead(
    {
      BULKHEAD_JWT_SECRET: jwtSecret,
      BULKHEAD_JWT_ISSUER: issuer,
      BULKHEAD_JWT_AUDIENCE: audience,
    },
    cluster,
  );
  keyring = new TenantKeyring(cluster.masterKey);
  tenant = await server.createTenant('memory');
  const user = await call('POST', '/v1/users', tenant.apiKey, {
    subject: userSubject,
    role: 'member',
  });
  expect(user.status).toBe(201);
  userId = user.body.id;
  const specs = {
    m1: { role: 'member' },
    m2: { role: 'member' },
    admin: { role: 'admin' },
    viewer: { role: 'viewer' },
    u1: { role: 'member', userId },
    u2: { role: 'member', userId },
  } as const;
  for (const [name, spec] of Object.entries(specs)) {
    const created = await call('POST', '/v1/keys', tenant.apiKey, { name, ...spec });
    expect(created.status).toBe(201);
    keys[name as keyof typeof keys] = { id: created.body.id, key: created.body.key };
  }
});
afterAll(async () => {
  await server?.close();
  await cluster?.database.close();
});

describe('threads: create, read, change, delete', () => {
  it('runs the whole life of a thread, every change in the audit trail', async () => {
    const t = keys.m1.key;
    const created = await newThread(t, { title: 'Trip plans', metadata: { topic: 'travel' } });
    expect(created).toMatchObject({
      object: 'thread',
      title: 'Trip plans',
      metadata: { topic: 'travel' },
      owner: { kind: 'api_key', id: keys.m1.id },
      messageCount: 0,
    });
    expect(created.id).toMatch(/^thr_[0-9a-z]{26}$/);
    expect(Date.parse(created.createdAt)).not.toBeNaN();

    const read = await call('GET', `/v1/threads/${created.id}`, t);
    expect(read.status).toBe(200);
    expect(read.body).toEqual(created);

    const renamed = await call('PATCH', `/v1/threads/${created.id}`, t, { title: 'Lisbon' });
    expect(renamed.status).toBe(200);
    expect(renamed.body).toMatchObject({ title: 'Lisbon', metadata: { topic: 'travel' } });
    expect(Date.parse(renamed.body.updatedAt)).toBeGreaterThanOrEqual(
      Date.parse(created.updatedAt),
    );
    const relabelled = await call('PATCH', `/v1/threads/${created.id}`, t, {
      title: null,
      metadata: { topic: 'work' },
    });
    expect(relabelled.body).toMatchObject({ title: null, metadata: { topic: 'work' } });

    const message = await say(t, created.id, 'user', 'Which museums open on Mondays?');
    expect(message).toMatchObject({
      object: 'thread.message',
      threadId: created.id,
      role: 'user',
      content: 'Which museums open on Mondays?',
      tokens: countTextTokens('Which museums open on Mondays?'),
    });
    expect(message.id).toMatch(/^msg_/);
    await say(t, created.id, 'assistant', 'Most close on Mondays.');
    const counted = await call('GET', `/v1/threads/${created.id}`, t);
    expect(counted.body.messageCount).toBe(2);

    const deleted = await call('DELETE', `/v1/threads/${created.id}`, t);
    expect(deleted.status).toBe(200);
    expect(deleted.body).toEqual({ id: created.id, object: 'thread.deleted', deleted: true });
    for (const [method, path] of [
      ['GET', `/v1/threads/${created.id}`],
      ['GET', `/v1/threads/${created.id}/messages`],
      ['DELETE', `/v1/threads/${created.id}`],
    ] as const) {
      expect((await call(method, path, t)).status).toBe(404);
    }
    const left = await server.database.ownerQuery<{ n: string | number }>(
      'select count(*) as n from thread_messages where thread_id = $1',
      [created.id],
    );
    expect(Number(left[0]!.n)).toBe(0);

    const trail = await call('GET', '/v1/audit?action=thread.*&limit=1000', tenant.apiKey);
    const events = trail.body.data.filter((e: any) => e.resource.id === created.id);
    expect(events.map((e: any) => e.action)).toEqual([
      'thread.create',
      'thread.update',
      'thread.update',
      'thread.message.create',
      'thread.message.create',
      'thread.delete',
    ]);
    expect(events[0].actor).toEqual({ kind: 'api_key', id: keys.m1.id });
    expect(events.at(-1).details).toMatchObject({ messages: 2 });
    const text = JSON.stringify(events);
    for (const content of ['museums', 'Mondays', 'Lisbon', 'Trip plans', 'travel'])
      expect(text).not.toContain(content);
  });

  it('creates an untitled thread from a bare POST', async () => {
    const bare = await server.request('POST', '/v1/threads', { token: keys.m1.key });
    expect(bare.status).toBe(201);
    expect(bare.body).toMatchObject({ title: null, metadata: {} });
  });

  it.each<[string, string, string, unknown?]>([
    ['unknown field', 'POST', '/v1/threads', { title: 'x', colour: 'red' }],
    ['empty title', 'POST', '/v1/threads', { title: '   ' }],
    ['metadata not an object', 'POST', '/v1/threads', { metadata: ['a'] }],
    ['metadata over 16 KB', 'POST', '/v1/threads', { metadata: { blob: 'x'.repeat(17_000) } }],
    ['nothing to change', 'PATCH', '/v1/threads/{id}', {}],
    [
      'a role that does not exist',
      'POST',
      '/v1/threads/{id}/messages',
      { role: 'robot', content: 'x' },
    ],
    ['content not a string', 'POST', '/v1/threads/{id}/messages', { role: 'user', content: 42 }],
    ['no content', 'POST', '/v1/threads/{id}/messages', { role: 'user' }],
    [
      'content over 1 MB',
      'POST',
      '/v1/threads/{id}/messages',
      { role: 'user', content: 'é'.repeat(600_000) },
    ],
    ['a limit of 0', 'GET', '/v1/threads?limit=0'],
    ['a cursor that is not an id', 'GET', '/v1/threads/{id}/messages?after=%27%3B--'],
    ['an owner filter other than me', 'GET', '/v1/threads?owner=everyone'],
  ])('answers 400, not 500, for %s', async (_name, method, path, body) => {
    const thread = await newThread(keys.m1.key);
    const response = await call(method, path.replace('{id}', thread.id), keys.m1.key, body);
    expect(response.status).toBe(400);
    expect(response.body.error.code).toBe('BK_VALIDATION_FAILED');
  });

  it('refuses calls without a credential (401) and a viewer without inference (403)', async () => {
    expect((await server.request('GET', '/v1/threads')).status).toBe(401);
    const viewer = await call('POST', '/v1/threads', keys.viewer.key, {});
    expect(viewer.status).toBe(403);
    expect(viewer.body.error.message).toContain("'inference'");
  });

  it('answers 404 for an id that is not a thread id at all', async () => {
    const response = await call('GET', '/v1/threads/not-a-thread', keys.m1.key);
    expect(response.status).toBe(404);
    expect(response.body.error.code).toBe('BK_NOT_FOUND');
  });
});

describe('pagination', () => {
  it('lists threads newest first, page by page, with no gaps or repeats', async () => {
    const fresh = await server.createTenant('paging');
    const made: string[] = [];
    for (let i = 0; i < 5; i++) made.push((await newThread(fresh.apiKey, { title: `t${i}` })).id);
    const seen: string[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await call(
        'GET',
        `/v1/threads?limit=2${after === undefined ? '' : `&after=${after}`}`,
        fresh.apiKey,
      );
      expect(page.status).toBe(200);
      expect(page.body.object).toBe('list');
      expect(page.body.data.length).toBeLessThanOrEqual(2);
      seen.push(...page.body.data.map((x: { id: string }) => x.id));
      if (!page.body.has_more) break;
      after = page.body.last_id;
    }
    expect(seen).toEqual([...made].reverse());
  });

  it('lists messages oldest first, in the order they were appended, page by page', async () => {
    const thread = await newThread(keys.m1.key);
    const contents = Array.from({ length: 7 }, (_, i) => `turn ${i}`);
    // Sent together: several land in the same millisecond, and must still keep their order.
    for (const content of contents) await say(keys.m1.key, thread.id, 'user', content);
    const seen: string[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await call(
        'GET',
        `/v1/threads/${thread.id}/messages?limit=3${after === undefined ? '' : `&after=${after}`}`,
        keys.m1.key,
      );
      expect(page.status).toBe(200);
      seen.push(...page.body.data.map((m: { content: string }) => m.content));
      if (!page.body.has_more) break;
      after = page.body.last_id;
    }
    expect(seen).toEqual(contents);
  });
});

describe('who sees which thread', () => {
  let t1: any;
  let t2: any;
  let tAdmin: any;
  let tUser: any;

  beforeAll(async () => {
    t1 = await newThread(keys.m1.key, { title: 'm1' });
    t2 = await newThread(keys.m2.key, { title: 'm2' });
    tAdmin = await newThread(keys.admin.key, { title: 'admin' });
    tUser = await newThread(keys.u1.key, { title: 'user' });
    await say(keys.m1.key, t1.id, 'user', 'm1 private note');
  });

  const listed = async (token: string, query = '') => {
    const response = await call('GET', `/v1/threads?limit=100${query}`, token);
    expect(response.status).toBe(200);
    return response.body.data.map((x: { id: string }) => x.id) as string[];
  };

  it('shows a member key only its own threads', async () => {
    const m1 = await listed(keys.m1.key);
    const m2 = await listed(keys.m2.key);
    expect(m1).toContain(t1.id);
    expect(m2).toEqual([t2.id]);
    for (const other of [t2.id, tAdmin.id, tUser.id]) expect(m1).not.toContain(other);
  });

  it.each<[string, string, (id: string) => string, unknown?]>([
    ['read', 'GET', (id) => `/v1/threads/${id}`],
    ['rename', 'PATCH', (id) => `/v1/threads/${id}`, { title: 'mine now' }],
    ['delete', 'DELETE', (id) => `/v1/threads/${id}`],
    ['read the messages of', 'GET', (id) => `/v1/threads/${id}/messages`],
    ['append to', 'POST', (id) => `/v1/threads/${id}/messages`, { role: 'user', content: 'hi' }],
  ])(
    "cannot %s another member's thread: 404, exactly as for a missing one",
    async (_name, method, path, body) => {
      const attack = await call(method, path(t1.id), keys.m2.key, body);
      const missing = await call(method, path(ghostOf(t1.id)), keys.m2.key, body);
      expect(attack.status).toBe(404);
      expect(missing.status).toBe(404);
      expect(attack.body.error.message.replace(t1.id, '<id>')).toBe(
        missing.body.error.message.replace(ghostOf(t1.id), '<id>'),
      );
    },
  );

  it("leaves the thread as it was after the other member's attempts", async () => {
    const read = await call('GET', `/v1/threads/${t1.id}`, keys.m1.key);
    expect(read.body).toMatchObject({ title: 'm1', messageCount: 1 });
    const messages = await call('GET', `/v1/threads/${t1.id}/messages`, keys.m1.key);
    expect(messages.body.data.map((m: any) => m.content)).toEqual(['m1 private note']);
  });

  it('shows an admin every thread of the tenant, or only its own with ?owner=me', async () => {
    const all = await listed(keys.admin.key);
    for (const id of [t1.id, t2.id, tAdmin.id, tUser.id]) expect(all).toContain(id);
    expect(await listed(keys.admin.key, '&owner=me')).toEqual([tAdmin.id]);
    // A member asking for ?owner=me gets what it always gets.
    expect(await listed(keys.m2.key, '&owner=me')).toEqual([t2.id]);
  });

  it("lets an admin read, rename and append to a member's thread", async () => {
    const messages = await call('GET', `/v1/threads/${t2.id}/messages`, keys.admin.key);
    expect(messages.status).toBe(200);
    const renamed = await call('PATCH', `/v1/threads/${t2.id}`, keys.admin.key, {
      title: 'reviewed',
    });
    expect(renamed.body).toMatchObject({
      title: 'reviewed',
      owner: { kind: 'api_key', id: keys.m2.id },
    });
    await say(keys.admin.key, t2.id, 'developer', 'note from the admin');
    const owner = await call('GET', `/v1/threads/${t2.id}/messages`, keys.m2.key);
    expect(owner.body.data.map((m: any) => m.role)).toEqual(['developer']);
  });

  it("gives a key bound to a user that user's threads, shared with its other keys and its JWT", async () => {
    expect(tUser.owner).toEqual({ kind: 'user', id: userId });
    expect(await listed(keys.u2.key)).toEqual([tUser.id]);
    await say(keys.u2.key, tUser.id, 'user', 'from the second key');
    const jwt = await jwtFor(userSubject);
    expect(await listed(jwt)).toEqual([tUser.id]);
    const fromJwt = await newThread(jwt, { title: 'from the browser' });
    expect(fromJwt.owner).toEqual({ kind: 'user', id: userId });
    expect(await listed(keys.u1.key)).toEqual([fromJwt.id, tUser.id]);
    // A key without the user does not share them, nor does another user of the tenant.
    expect(await listed(keys.m1.key)).not.toContain(tUser.id);
    const stranger = await jwtFor('idp|someone-else');
    expect(await listed(stranger)).toEqual([]);
    expect((await call('GET', `/v1/threads/${tUser.id}`, stranger)).status).toBe(404);
  });
});

describe('message content at rest', () => {
  it('stores content sealed with the tenant key, never in clear', async () => {
    const secret = 'the door code is KUMQUAT-4411';
    const thread = await newThread(keys.m1.key);
    const message = await say(keys.m1.key, thread.id, 'user', secret);
    const rows = await server.database.ownerQuery<{
      sealed_content: Uint8Array;
      tokens: number;
      request_id: string | null;
    }>('select sealed_content, tokens, request_id from thread_messages where message_id = $1', [
      message.id,
    ]);
    expect(rows).toHaveLength(1);
    const stored = Buffer.from(rows[0]!.sealed_content);
    expect(stored.length).toBeGreaterThan(0);
    expect(stored.toString('utf8')).not.toContain('KUMQUAT');
    expect(stored.toString('latin1')).not.toContain('KUMQUAT');
    expect(stored.includes(Buffer.from(secret, 'utf16le'))).toBe(false);
    expect(rows[0]!.tokens).toBe(countTextTokens(secret));
    expect(rows[0]!.request_id).toMatch(/^req_/);
    const read = await call('GET', `/v1/threads/${thread.id}/messages`, keys.m1.key);
    expect(read.body.data[0].content).toBe(secret);
  });
});

describe('chat history (the functions the chat gateway calls)', () => {
  let member: TenantContext;
  let other: TenantContext;

  beforeAll(async () => {
    member = await contextOf(keys.m1.key);
    other = await contextOf(keys.m2.key);
  });

  const inTenant = <T>(ctx: TenantContext, fn: Parameters<typeof withTenant<T>>[2]) =>
    withTenant(cluster.database.db, ctx, fn);
  const cost = (content: string) => countTextTokens(content) + MESSAGE_FRAMING_TOKENS;
  const history = (ctx: TenantContext, threadId: string, budget: number) =>
    inTenant(ctx, (tx) => recentHistory(tx, keyring, ctx, threadId, budget));

  async function threadWith(contents: string[]): Promise<string> {
    const { id } = await newThread(keys.m1.key);
    await inTenant(member, (tx) =>
      appendMessages(
        tx,
        keyring,
        member,
        id,
        contents.map((content, i) => ({ role: i % 2 === 0 ? 'user' : 'assistant', content })),
        'req_history',
      ),
    );
    return id;
  }

  it('appends in order in one call, bumps the thread, and records the request id', async () => {
    const { id, updatedAt } = await newThread(keys.m1.key);
    await new Promise((resolve) => setTimeout(resolve, 5));
    await inTenant(member, (tx) =>
      appendMessages(
        tx,
        keyring,
        member,
        id,
        [
          { role: 'user', content: 'question' },
          { role: 'assistant', content: 'answer' },
        ],
        'req_chat_1',
      ),
    );
    const listed = await call('GET', `/v1/threads/${id}/messages`, keys.m1.key);
    expect(listed.body.data.map((m: any) => [m.role, m.content])).toEqual([
      ['user', 'question'],
      ['assistant', 'answer'],
    ]);
    const thread = await call('GET', `/v1/threads/${id}`, keys.m1.key);
    expect(Date.parse(thread.body.updatedAt)).toBeGreaterThan(Date.parse(updatedAt));
    const stored = await server.database.ownerQuery<{ request_id: string }>(
      'select request_id from thread_messages where thread_id = $1',
      [id],
    );
    expect(stored.map((r) => r.request_id)).toEqual(['req_chat_1', 'req_chat_1']);
  });

  it('keeps the newest whole messages that fit, oldest first', async () => {
    const contents = ['one small turn', 'two', 'three is a longer turn than the others', 'four'];
    const id = await threadWith(contents);
    const all = contents.reduce((sum, c) => sum + cost(c), 0);
    expect(await history(member, id, all)).toEqual(
      contents.map((content, i) => ({ role: i % 2 === 0 ? 'user' : 'assistant', content })),
    );
    // One token short of the last two: only the newest fits.
    const lastTwo = cost(contents[3]!) + cost(contents[2]!);
    expect((await history(member, id, lastTwo - 1)).map((m) => m.content)).toEqual(['four']);
    expect((await history(member, id, lastTwo)).map((m) => m.content)).toEqual([
      contents[2],
      'four',
    ]);
    expect(await history(member, id, 0)).toEqual([]);
  });

  it('stops at the first message that does not fit: older turns are dropped, not skipped over', async () => {
    const big = 'word '.repeat(400);
    const id = await threadWith(['old and small', big, 'new and small']);
    const budget = cost('new and small') + cost('old and small') + 10;
    expect(budget).toBeLessThan(cost(big));
    expect((await history(member, id, budget)).map((m) => m.content)).toEqual(['new and small']);
    // A newest message larger than the whole budget leaves no history at all.
    const id2 = await threadWith(['small', big]);
    expect(await history(member, id2, cost(big) - 1)).toEqual([]);
  });

  it('walks a long thread back in batches and returns exactly the newest that fit', async () => {
    const count = HISTORY_BATCH * 2 + 57;
    const contents = Array.from({ length: count }, (_, i) => `m${i}`);
    const id = await threadWith(contents);
    const each = cost('m100'); // m0…m456 all cost the same
    expect(contents.every((c) => cost(c) === each)).toBe(true);
    const take = HISTORY_BATCH + 30;
    const got = await history(member, id, take * each + each - 1);
    expect(got.map((m) => m.content)).toEqual(contents.slice(-take));
    expect((await history(member, id, 1_000_000)).length).toBe(count);
  });

  it("treats another principal's thread as missing", async () => {
    const id = await threadWith(['mine']);
    for (const attempt of [
      () => inTenant(other, (tx) => threadForChat(tx, other, id)),
      () => history(other, id, 1000),
      () =>
        inTenant(other, (tx) =>
          appendMessages(tx, keyring, other, id, [{ role: 'user', content: 'x' }], null),
        ),
      () => inTenant(member, (tx) => threadForChat(tx, member, ghostOf(id))),
    ]) {
      const err = await attempt().then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(BkError);
      expect(err).toMatchObject({ code: 'BK_NOT_FOUND', status: 404 });
    }
    const thread = await inTenant(member, (tx) => threadForChat(tx, member, id));
    expect(thread).toMatchObject({ thread_id: id, owner_kind: 'api_key', owner_id: keys.m1.id });
    expect((await history(member, id, 1000)).map((m) => m.content)).toEqual(['mine']);
  });
});

describe('retention', () => {
  it("deletes only messages past the current policy's retention, tenant by tenant", async () => {
    const keeps = await server.createTenant('keeps-everything');
    const expires = await server.createTenant('one-day');
    const changedMind = await server.createTenant('changed-mind');
    const handEdited = await server.createTenant('hand-edited');
    const setUp = async (t: TestTenant) => {
      const thread = await newThread(t.apiKey);
      const old = await say(t.apiKey, thread.id, 'user', `old words of ${t.name}`);
      const recent = await say(t.apiKey, thread.id, 'assistant', `recent words of ${t.name}`);
      const fresh = await say(t.apiKey, thread.id, 'user', `fresh words of ${t.name}`);
      await server.database.ownerQuery(
        `update thread_messages set created_at = now() - interval '3 days' where message_id = $1`,
        [old.id],
      );
      await server.database.ownerQuery(
        `update thread_messages set created_at = now() - interval '20 hours' where message_id = $1`,
        [recent.id],
      );
      return { thread: thread.id, old: old.id, recent: recent.id, fresh: fresh.id };
    };
    const kept = await setUp(keeps);
    const swept = await setUp(expires);
    const reverted = await setUp(changedMind);
    const edited = await setUp(handEdited);
    await setPolicy(server, expires, { memory: { retentionDays: 1 } });
    // Retention set once, then removed: the current policy keeps everything.
    await setPolicy(server, changedMind, { memory: { retentionDays: 1 } });
    await setPolicy(server, changedMind, {});
    // A document no request could run under (edited in the database): deletes nothing.
    await server.database.ownerQuery(
      `insert into policies (tenant_id, version, document, author)
       values ($1, 1, '{"memory": {"retentionDays": 0.5}}', 'psql')`,
      [handEdited.id],
    );

    const sweeper = new RetentionSweeper({
      db: cluster.database.db,
      intervalMs: 0,
      log: server.bulkhead.app.log,
    });
    expect(await sweeper.sweepOnce()).toEqual({ tenants: 1, deleted: 1 });

    const remaining = async (t: TestTenant, threadId: string) => {
      const listed = await call('GET', `/v1/threads/${threadId}/messages`, t.apiKey);
      expect(listed.status).toBe(200);
      return listed.body.data.map((m: { id: string }) => m.id);
    };
    expect(await remaining(expires, swept.thread)).toEqual([swept.recent, swept.fresh]);
    expect(await remaining(keeps, kept.thread)).toEqual([kept.old, kept.recent, kept.fresh]);
    expect(await remaining(changedMind, reverted.thread)).toEqual([
      reverted.old,
      reverted.recent,
      reverted.fresh,
    ]);
    const stillThere = await server.database.ownerQuery<{ n: string | number }>(
      'select count(*) as n from thread_messages where thread_id = $1',
      [edited.thread],
    );
    expect(Number(stillThere[0]!.n)).toBe(3);
    // The thread outlives its expired messages.
    expect((await call('GET', `/v1/threads/${swept.thread}`, expires.apiKey)).status).toBe(200);

    const recorded = await server.database.ownerQuery<{ reason: string }>(
      `select reason from operator_actions where operator = 'system:retention'`,
    );
    expect(recorded).toHaveLength(1);
    expect(recorded[0]!.reason).toContain('retention sweep');

    // Two days on, the 20-hour-old message has expired too; a second sweep finds the rest.
    const later = new RetentionSweeper({
      db: cluster.database.db,
      intervalMs: 0,
      log: server.bulkhead.app.log,
      now: () => new Date(Date.now() + 2 * 86_400_000),
    });
    expect(await later.sweepOnce()).toEqual({ tenants: 1, deleted: 2 });
    expect(await remaining(expires, swept.thread)).toEqual([]);
    expect(await sweeper.sweepOnce()).toEqual({ tenants: 1, deleted: 0 });
  });
});
