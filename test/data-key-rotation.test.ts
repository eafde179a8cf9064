import { createCipheriv, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUDIT_PAYLOAD_PURPOSE } from '../src/audit/append.ts';
import { GENESIS_HASH, linkHash } from '../src/audit/chain.ts';
import {
  NOT_SEALED_WITH_DATA_KEY,
  SEALED_COLUMNS,
} from '../src/lifecycle/key-rotation/sealed-columns.ts';
import { open, sealedKeyVersion } from '../src/secrets/envelope.ts';
import {
  addKnowledgeAndMemory,
  createSharedCluster,
  holdOneRequest,
  type RunningBulkhead,
  type SharedCluster,
  startBulkhead,
  type TestTenant,
  tenantWithProvider,
} from './support/bulkhead-server.ts';
import { startFakeOpenAI } from './support/fake-openai-upstream.ts';
import { runCli } from './support/processes.ts';

/**
 * Rotating a tenant's data key: a new version, every sealed value of the tenant re-encrypted under
 * it in short transactions while the tenant's traffic goes on, the old version destroyed — and
 * everything still reads the same through the API, the audit chain still verifies, and nothing of
 * any other tenant moves.
 */
let cluster: SharedCluster;
let server: RunningBulkhead;
let upstream: Awaited<ReturnType<typeof startFakeOpenAI>>;

type SealedValue = { column: string; key: string; bytes: Buffer };

/** Every sealed value of a tenant, straight from the database, keyed by column and row. */
async function sealedValues(tenantId: string): Promise<SealedValue[]> {
  const values: SealedValue[] = [];
  for (const c of SEALED_COLUMNS) {
    const keys = c.key.map((k) => `${k.name}::text`).join(` || '/' || `);
    const rows = await server.database.ownerQuery<{ key: string; bytes: Uint8Array }>(
      `select ${keys} as key, ${c.column} as bytes from ${c.table}
        where tenant_id = $1 and ${c.column} is not null order by 1`,
      [tenantId],
    );
    for (const row of rows)
      values.push({
        column: `${c.table}.${c.column}`,
        key: row.key,
        bytes: Buffer.from(row.bytes),
      });
  }
  return values;
}

const versionsUsed = async (tenantId: string) =>
  [...new Set((await sealedValues(tenantId)).map((v) => sealedKeyVersion(v.bytes)))].sort();

const keyVersions = async (tenantId: string) =>
  (
    await server.database.ownerQuery<{ key_version: number }>(
      `select key_version from tenant_data_keys where tenant_id = $1 order by 1`,
      [tenantId],
    )
  ).map((r) => r.key_version);

const rotateOwn = (token: string) => server.request('POST', '/v1/data-key/rotate', { token });
const rotateAsOperator = (tenantId: string, reason = 'scheduled rotation') =>
  server.request('POST', `/v1/admin/tenants/${tenantId}/data-key/rotate`, {
    token: server.adminToken,
    headers: { 'x-bulkhead-reason': reason },
  });

async function verify(tenant: TestTenant) {
  const own = await server.request('GET', '/v1/audit/verify', { token: tenant.apiKey });
  expect(own.status).toBe(200);
  return own.body;
}

async function auditTrail(tenant: TestTenant): Promise<any[]> {
  const listed = await server.request('GET', '/v1/audit?limit=1000', { token: tenant.apiKey });
  expect(listed.status).toBe(200);
  return listed.body.data;
}

/** What a tenant's content looks like through the API: it must not change with the key. */
async function contentThroughApi(tenant: TestTenant, threadId: string, approvalId: string) {
  const messages = await server.request('GET', `/v1/threads/${threadId}/messages?limit=100`, {
    token: tenant.apiKey,
  });
  expect(messages.status).toBe(200);
  const approval = await server.request('GET', `/v1/approvals/${approvalId}`, {
    token: tenant.apiKey,
  });
  expect(approval.status).toBe(200);
  const payloads = (await auditTrail(tenant))
    .filter((e) => e.payload !== null)
    .map((e) => ({ id: e.id, payload: e.payload }));
  for (const p of payloads) expect(p.payload).not.toHaveProperty('unreadable');
  return {
    messages: messages.body.data.map((m: any) => m.content),
    request: approval.body.request,
    result: approval.body.result,
    payloads,
  };
}

interface Seeded {
  tenant: TestTenant;
  threadId: string;
  approvalId: string;
}

/** A tenant with a provider key, chats with audit payloads, a thread, and a held and a run approval. */
async function seedTenant(name: string, secret: string, messages: number): Promise<Seeded> {
  const tenant = await tenantWithProvider(server, name, { baseUrl: upstream.url, apiKey: secret });
  for (let i = 0; i < 3; i++) {
    await server.openai(tenant.apiKey).chat.completions.create({
      model: 'fake/gpt-4o-mini',
      messages: [{ role: 'user', content: `${name} question ${i}` }],
    });
  }
  await holdOneRequest(server, tenant.apiKey); // stays pending: a sealed request, no result
  const held = await holdOneRequest(server, tenant.apiKey);
  // Nobody approves their own request: a second principal does, and the result is sealed too.
  const approver = await server.request('POST', '/v1/keys', {
    token: tenant.apiKey,
    body: { name: 'approver', role: 'approver' },
  });
  const approved = await server.request('POST', `/v1/approvals/${held}/approve`, {
    token: approver.body.key,
    body: {},
  });
  expect(approved.status).toBe(200);
  await addKnowledgeAndMemory(server, tenant);
  const thread = await server.request('POST', '/v1/threads', { token: tenant.apiKey, body: {} });
  expect(thread.status).toBe(201);
  for (let i = 0; i < messages; i += 25) {
    await Promise.all(
      Array.from({ length: Math.min(25, messages - i) }, (_, j) =>
        server
          .request('POST', `/v1/threads/${thread.body.id}/messages`, {
            token: tenant.apiKey,
            body: { role: 'user', content: `${name} message ${i + j}` },
          })
          .then((r) => expect(r.status).toBe(201)),
      ),
    );
  }
  return { tenant, threadId: thread.body.id, approvalId: held };
}

let a: Seeded;
let b: Seeded;

beforeAll(async () => {
  cluster = await createSharedCluster();
  server = await startBulkhead({}, cluster);
  upstream = await startFakeOpenAI();
  // More thread messages than one page (200) holds, so re-encryption walks several pages.
  a = await seedTenant('rotating', 'sk-a-upstream-secret', 230);
  b = await seedTenant('neighbour', 'sk-b-upstream-secret', 5);
});
afterAll(async () => {
  await server?.close();
  await upstream?.close();
  await cluster?.database.close();
});

describe('the registry of sealed columns', () => {
  it('names every bytea column of the schema: sealed with the data key, or listed as not', async () => {
    const columns = await server.database.ownerQuery<{ name: string }>(
      `select c.relname || '.' || a.attname as name from pg_attribute a
         join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = 'public' and c.relkind in ('r', 'p') and a.attnum > 0
          and not a.attisdropped and a.atttypid = 'bytea'::regtype order by 1`,
    );
    const registered = new Set(SEALED_COLUMNS.map((c) => `${c.table}.${c.column}`));
    const unaccounted = columns
      .map((c) => c.name)
      .filter((name) => !registered.has(name) && !NOT_SEALED_WITH_DATA_KEY.has(name));
    expect(unaccounted, 'add them to SEALED_COLUMNS or NOT_SEALED_WITH_DATA_KEY').toEqual([]);
    // And the registry names real bytea columns, sealed values of which the seeding produced.
    for (const name of registered) expect(columns.map((c) => c.name)).toContain(name);
    const seeded = new Set((await sealedValues(a.tenant.id)).map((v) => v.column));
    expect([...seeded].sort()).toEqual([...registered].sort());
  });
});

describe('rotating a tenant data key', () => {
  let before: Awaited<ReturnType<typeof contentThroughApi>>;
  let neighbourValues: SealedValue[];
  let neighbourContent: Awaited<ReturnType<typeof contentThroughApi>>;
  let oldPayload: { seq: number; bytes: Buffer };
  let report: any;

  beforeAll(async () => {
    before = await contentThroughApi(a.tenant, a.threadId, a.approvalId);
    neighbourValues = await sealedValues(b.tenant.id);
    neighbourContent = await contentThroughApi(b.tenant, b.threadId, b.approvalId);
    const [row] = await server.database.ownerQuery<{ seq: string; sealed_payload: Uint8Array }>(
      `select seq, sealed_payload from audit_events
        where tenant_id = $1 and action = 'chat.completion' order by seq limit 1`,
      [a.tenant.id],
    );
    oldPayload = { seq: Number(row!.seq), bytes: Buffer.from(row!.sealed_payload) };
    expect(await keyVersions(a.tenant.id)).toEqual([1]);
    expect(await versionsUsed(a.tenant.id)).toEqual([1]);
  });

  it('re-encrypts everything under a new version while chat traffic goes on, and none of it fails', async () => {
    let rotating = true;
    const failures: string[] = [];
    let calls = 0;
    const traffic = async (i: number) => {
      while (rotating) {
        const n = calls++;
        const reply =
          i % 3 === 0
            ? await server.request('POST', `/v1/threads/${a.threadId}/messages`, {
                token: a.tenant.apiKey,
                body: { role: 'user', content: `during rotation ${n}` },
              })
            : await server.request('POST', '/v1/chat/completions', {
                token: a.tenant.apiKey,
                body: {
                  model: i % 3 === 1 ? 'fake/gpt-4o-mini' : 'local/extractive',
                  messages: [{ role: 'user', content: `during rotation ${n}` }],
                },
              });
        if (reply.status !== 200 && reply.status !== 201)
          failures.push(`${reply.status} ${JSON.stringify(reply.body)}`);
      }
    };
    const workers = Array.from({ length: 6 }, (_, i) => traffic(i));
    const rotated = await rotateOwn(a.tenant.apiKey);
    rotating = false;
    await Promise.all(workers);
    expect(rotated.status).toBe(200);
    expect(failures).toEqual([]);
    expect(calls).toBeGreaterThan(6);
    report = rotated.body;
    expect(report).toMatchObject({
      object: 'data_key_rotation',
      tenantId: a.tenant.id,
      version: 2,
      retired: [1],
      kept: [],
    });
    expect(report.reencrypted['providers.sealed_api_key']).toBe(1);
    expect(report.reencrypted['thread_messages.sealed_content']).toBeGreaterThanOrEqual(231);
    expect(report.reencrypted['approvals.sealed_request']).toBe(2);
    expect(report.reencrypted['approvals.sealed_result']).toBe(1);
    expect(report.reencrypted['audit_events.sealed_payload']).toBeGreaterThanOrEqual(
      before.payloads.length,
    );
  });

  it('leaves every value under the new version, and the old wrapped key gone', async () => {
    expect(await keyVersions(a.tenant.id)).toEqual([2]);
    const values = await sealedValues(a.tenant.id);
    expect(values.length).toBeGreaterThan(240);
    for (const v of values)
      expect({ ...v, version: sealedKeyVersion(v.bytes) }).toMatchObject({
        version: 2,
      });
    // Audit payloads keep their salt (format 3); the others are format 2.
    for (const v of values)
      expect(v.bytes[0]).toBe(v.column === 'audit_events.sealed_payload' ? 3 : 2);
  });

  it('reads the same content through the API as before, and the chain still verifies', async () => {
    const after = await contentThroughApi(a.tenant, a.threadId, a.approvalId);
    expect(after.messages.slice(0, before.messages.length)).toEqual(before.messages);
    expect(after.request).toEqual(before.request);
    expect(after.result).toEqual(before.result);
    const afterById = new Map(after.payloads.map((p) => [p.id, p.payload]));
    for (const p of before.payloads) expect(afterById.get(p.id)).toEqual(p.payload);
    expect(await verify(a.tenant)).toMatchObject({ ok: true });
  });

  it("still calls the tenant's provider with its own key, from a node that reads it afresh", async () => {
    const fresh = await startBulkhead({}, cluster);
    try {
      upstream.reset();
      await fresh.openai(a.tenant.apiKey).chat.completions.create({
        model: 'fake/gpt-4o-mini',
        messages: [{ role: 'user', content: 'after rotation' }],
      });
      expect(upstream.seen[0]!.headers.authorization).toBe('Bearer sk-a-upstream-secret');
    } finally {
      await fresh.close();
    }
  });

  it("records the rotation in the tenant's own trail", async () => {
    const events = (await auditTrail(a.tenant)).filter((e) => e.action.startsWith('data_key.'));
    expect(events).toEqual([
      expect.objectContaining({
        action: 'data_key.rotate',
        actor: { kind: 'api_key', id: a.tenant.apiKeyId },
        details: expect.objectContaining({ version: 2 }),
      }),
      expect.objectContaining({
        action: 'data_key.retire',
        actor: { kind: 'api_key', id: a.tenant.apiKeyId },
        details: expect.objectContaining({
          version: 2,
          retired: [1],
          reencrypted: report.reencrypted,
        }),
      }),
    ]);
  });

  it("leaves the neighbour's values, keys and content exactly as they were", async () => {
    expect(await sealedValues(b.tenant.id)).toEqual(neighbourValues);
    expect(await keyVersions(b.tenant.id)).toEqual([1]);
    expect(await contentThroughApi(b.tenant, b.threadId, b.approvalId)).toEqual(neighbourContent);
    expect(await verify(b.tenant)).toMatchObject({ ok: true });
  });

  it('no longer opens a value sealed under the retired version (copied from before)', async () => {
    expect(sealedKeyVersion(oldPayload.bytes)).toBe(1);
    const [current] = await server.database.ownerQuery<{ sealed_payload: Uint8Array }>(
      `select sealed_payload from audit_events where tenant_id = $1 and seq = $2`,
      [a.tenant.id, oldPayload.seq],
    );
    await server.database.ownerQuery(
      `update audit_events set sealed_payload = $3 where tenant_id = $1 and seq = $2`,
      [a.tenant.id, oldPayload.seq, oldPayload.bytes],
    );
    try {
      const event = (await auditTrail(a.tenant)).find((e) => e.seq === oldPayload.seq);
      expect(event.payload).toMatchObject({ unreadable: true });
      expect(await verify(a.tenant)).toMatchObject({ ok: false, brokenAt: oldPayload.seq });
    } finally {
      await server.database.ownerQuery(
        `update audit_events set sealed_payload = $3 where tenant_id = $1 and seq = $2`,
        [a.tenant.id, oldPayload.seq, current!.sealed_payload],
      );
    }
    expect(await verify(a.tenant)).toMatchObject({ ok: true });
  });

  it('rotates again: version 3, version 2 retired, everything still reads', async () => {
    const again = await rotateAsOperator(a.tenant.id);
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ version: 3, retired: [2], kept: [] });
    const total = Object.values(again.body.reencrypted as Record<string, number>).reduce(
      (x, y) => x + y,
    );
    expect(total).toBe((await sealedValues(a.tenant.id)).length);
    expect(await keyVersions(a.tenant.id)).toEqual([3]);
    expect(await versionsUsed(a.tenant.id)).toEqual([3]);
    const after = await contentThroughApi(a.tenant, a.threadId, a.approvalId);
    expect(after.messages.slice(0, before.messages.length)).toEqual(before.messages);
    expect(await verify(a.tenant)).toMatchObject({ ok: true });
    const operatorEvent = (await auditTrail(a.tenant)).filter(
      (e) => e.action === 'data_key.rotate',
    )[1];
    expect(operatorEvent).toMatchObject({
      actor: { kind: 'operator' },
      details: { version: 3, reason: 'scheduled rotation' },
    });
  });
});

describe('a rotation cut off part-way', () => {
  it('leaves every value readable, and the next rotation finishes the job', async () => {
    const t = await seedTenant('interrupted', 'sk-c-upstream-secret', 10);
    const before = await contentThroughApi(t.tenant, t.threadId, t.approvalId);
    // The audit column comes last: without the grant, the rotation fails after the other columns.
    await server.database.ownerQuery(
      `revoke update (sealed_payload) on audit_events from bulkhead_operator`,
    );
    let failed: Awaited<ReturnType<typeof rotateAsOperator>>;
    try {
      failed = await rotateAsOperator(t.tenant.id);
    } finally {
      await server.database.ownerQuery(
        `grant update (sealed_payload) on audit_events to bulkhead_operator`,
      );
    }
    expect(failed.status).toBe(500);
    // Half-done: both versions exist, values are under one or the other, all of them read.
    expect(await keyVersions(t.tenant.id)).toEqual([1, 2]);
    expect(await versionsUsed(t.tenant.id)).toEqual([1, 2]);
    const midway = await contentThroughApi(t.tenant, t.threadId, t.approvalId);
    expect(midway.messages).toEqual(before.messages);
    expect(midway.payloads).toEqual(before.payloads);
    expect(await verify(t.tenant)).toMatchObject({ ok: true });

    const resumed = await rotateAsOperator(t.tenant.id, 'finish the interrupted rotation');
    expect(resumed.status).toBe(200);
    expect(resumed.body).toMatchObject({ version: 3, retired: [1, 2], kept: [] });
    expect(await keyVersions(t.tenant.id)).toEqual([3]);
    expect(await versionsUsed(t.tenant.id)).toEqual([3]);
    const after = await contentThroughApi(t.tenant, t.threadId, t.approvalId);
    expect(after.messages).toEqual(before.messages);
    expect(await verify(t.tenant)).toMatchObject({ ok: true });
  });
});

describe('audit events written before payload commitments', () => {
  /**
   * Rewrites a tenant's whole chain as the code before this change wrote it: payloads in format 1,
   * no commitment, each link over the payload's ciphertext.
   */
  async function makeChainLegacy(tenantId: string): Promise<number> {
    const [key] = await server.database.ownerQuery<{ wrapped_key: Uint8Array }>(
      `select wrapped_key from tenant_data_keys where tenant_id = $1 and key_version = 1`,
      [tenantId],
    );
    // The data key is wrapped by the tenant's KEK, which the master key wraps in the key store.
    const [stored] = await server.database.ownerQuery<{ wrapped_kek: Uint8Array }>(
      'select wrapped_kek from bulkhead_keystore.tenant_keks where tenant_id = $1',
      [tenantId],
    );
    const kek = open(cluster.masterKey, stored!.wrapped_kek, `tenant-kek:${tenantId}`);
    const dataKey = open(kek, key!.wrapped_key, `tenant-data-key:${tenantId}:v1:kek`);
    const aad = `${tenantId}:${AUDIT_PAYLOAD_PURPOSE}`;
    const rows = await server.database.ownerQuery<Record<string, any>>(
      `select * from audit_events where tenant_id = $1 order by seq`,
      [tenantId],
    );
    let prev: Uint8Array = GENESIS_HASH;
    let withPayload = 0;
    for (const row of rows) {
      let sealed: Buffer | null = null;
      if (row.sealed_payload !== null) {
        const plaintext = open(dataKey, row.sealed_payload, aad);
        const iv = randomBytes(12);
        const cipher = createCipheriv('aes-256-gcm', dataKey, iv);
        cipher.setAAD(Buffer.from(aad, 'utf8'));
        const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
        sealed = Buffer.concat([Buffer.from([1]), iv, cipher.getAuthTag(), body]);
        withPayload++;
      }
      const hash = linkHash(prev, {
        tenantId,
        seq: Number(row.seq),
        eventId: row.event_id,
        at: row.at,
        actorKind: row.actor_kind,
        actorId: row.actor_id,
        action: row.action,
        resourceType: row.resource_type,
        resourceId: row.resource_id,
        decision: row.decision,
        rule: row.rule,
        requestId: row.request_id,
        details: row.details,
        sealedPayload: sealed,
        payloadCommitment: null,
      });
      await server.database.ownerQuery(
        `update audit_events set sealed_payload = $3, payload_commitment = null, prev_hash = $4, hash = $5
          where tenant_id = $1 and seq = $2`,
        [tenantId, row.seq, sealed, prev, hash],
      );
      prev = hash;
    }
    await server.database.ownerQuery(`update audit_heads set hash = $2 where tenant_id = $1`, [
      tenantId,
      prev,
    ]);
    return withPayload;
  }

  it('keeps them (and their key version) as they are, says why, and re-encrypts the rest', async () => {
    const t = await seedTenant('legacy', 'sk-d-upstream-secret', 3);
    const legacy = await makeChainLegacy(t.tenant.id);
    expect(legacy).toBeGreaterThanOrEqual(3);
    expect(await verify(t.tenant)).toMatchObject({ ok: true });
    const before = await contentThroughApi(t.tenant, t.threadId, t.approvalId);

    const first = await rotateOwn(t.tenant.apiKey);
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({
      version: 2,
      retired: [],
      kept: [
        { version: 1, legacyAuditEvents: legacy, unreadableValues: 0, reason: expect.any(String) },
      ],
    });
    expect(first.body.reencrypted['audit_events.sealed_payload']).toBe(0);
    expect(first.body.reencrypted['thread_messages.sealed_content']).toBeGreaterThanOrEqual(4);
    expect(await keyVersions(t.tenant.id)).toEqual([1, 2]);
    expect(await verify(t.tenant)).toMatchObject({ ok: true });
    const after = await contentThroughApi(t.tenant, t.threadId, t.approvalId);
    expect(after.messages).toEqual(before.messages);
    expect(after.payloads).toEqual(before.payloads);

    // New events commit to content: the next rotation moves them on and retires version 2.
    await server.openai(t.tenant.apiKey).chat.completions.create({
      model: 'local/extractive',
      messages: [{ role: 'user', content: 'a committed payload' }],
    });
    const second = await rotateOwn(t.tenant.apiKey);
    expect(second.body).toMatchObject({
      version: 3,
      retired: [2],
      kept: [{ version: 1, legacyAuditEvents: legacy }],
    });
    expect(second.body.reencrypted['audit_events.sealed_payload']).toBeGreaterThanOrEqual(1);
    expect(await keyVersions(t.tenant.id)).toEqual([1, 3]);
    expect(await verify(t.tenant)).toMatchObject({ ok: true });
  });
});

describe('who may rotate', () => {
  it("is the tenant's owner, or an operator; nobody else", async () => {
    const admin = await server.request('POST', '/v1/keys', {
      token: b.tenant.apiKey,
      body: { name: 'admin', role: 'admin' },
    });
    expect(admin.status).toBe(201);
    expect((await rotateOwn(admin.body.key)).status).toBe(403);
    expect((await server.request('POST', '/v1/data-key/rotate')).status).toBe(401);
    const withTenantKey = await server.request(
      'POST',
      `/v1/admin/tenants/${b.tenant.id}/data-key/rotate`,
      { token: b.tenant.apiKey },
    );
    expect(withTenantKey.status).toBe(401);
    for (const id of ['tn_00000000000000000000000000', 'not-a-tenant'])
      expect((await rotateAsOperator(id)).status).toBe(404);
    expect(await keyVersions(b.tenant.id)).toEqual([1]);
  });

  it('rotates from the CLI, through the operator API', async () => {
    const t = await server.createTenant('cli-rotation');
    const result = await runCli(
      ['keys', 'rotate-data-key', '--tenant', t.id, '--reason', 'cli test', '--url', server.url],
      { BULKHEAD_ADMIN_TOKEN: server.adminToken },
    );
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({
      object: 'data_key_rotation',
      tenantId: t.id,
      version: 2,
      retired: [1],
    });
    expect(await keyVersions(t.id)).toEqual([2]);
  });
});
