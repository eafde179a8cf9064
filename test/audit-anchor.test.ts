import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compactVerify, importJWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ChainedFields, GENESIS_HASH, linkHash } from '../src/audit/chain.ts';
import { claimAnchors } from '../src/audit/anchor/repository.ts';
import { withOperator } from '../src/db/scope.ts';
import {
  createSharedCluster,
  startBulkhead,
  type RunningBulkhead,
  type SharedCluster,
  type TestTenant,
} from './support/bulkhead-server.ts';
import { runCli } from './support/processes.ts';

/**
 * The external anchor: a signed checkpoint of a tenant's chain head, kept outside the database,
 * catches what plain verification cannot — the newest events cut off with the head rewound, or
 * the chain rewritten from some event on with every later hash recomputed. Each such edit is made
 * here straight in the database, as its owner, the way an attacker with database access would.
 */

const anchorKey = () => randomBytes(32).toString('base64');

let dir: string;
let anchorFile: string;
let server: RunningBulkhead;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'bk-anchor-'));
  anchorFile = join(dir, 'anchors.jsonl');
  server = await startBulkhead({
    BULKHEAD_AUDIT_ANCHOR_KEY: anchorKey(),
    BULKHEAD_AUDIT_ANCHOR_FILE: anchorFile,
    BULKHEAD_AUDIT_ANCHOR_INTERVAL_MS: '0',
  });
});
afterAll(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

const owner = (text: string, params: unknown[] = []) => server.database.ownerQuery(text, params);

/** A fresh tenant whose chain holds exactly five events: tenant.create, api_key.create ×4. */
async function seededTenant(name: string): Promise<TestTenant> {
  const tenant = await server.createTenant(name);
  for (let i = 0; i < 3; i++) {
    const key = await server.request('POST', '/v1/keys', {
      token: tenant.apiKey,
      body: { name: `seed-${i}`, role: 'member' },
    });
    expect(key.status).toBe(201);
  }
  return tenant;
}

async function checkpointOf(tenant: TestTenant): Promise<any> {
  const response = await server.request('GET', '/v1/audit/checkpoint', { token: tenant.apiKey });
  expect(response.status).toBe(200);
  return response.body;
}

async function verifyCheckpoint(tenant: TestTenant, body: unknown): Promise<any> {
  const own = await server.request('POST', '/v1/audit/verify-checkpoint', {
    token: tenant.apiKey,
    body,
  });
  const operator = await server.request(
    'POST',
    `/v1/admin/tenants/${tenant.id}/audit/verify-checkpoint`,
    { token: server.adminToken, body },
  );
  expect(own.status).toBe(200);
  expect(operator.status).toBe(200);
  expect(operator.body).toEqual(own.body);
  return own.body;
}

async function plainVerify(tenant: TestTenant): Promise<any> {
  const response = await server.request('GET', '/v1/audit/verify', { token: tenant.apiKey });
  expect(response.status).toBe(200);
  return response.body;
}

const checksOf = (result: { failures: { check: string }[] }) => result.failures.map((f) => f.check);

/** Cuts the newest events off and rewinds the head onto the last one kept: a consistent chain. */
async function truncate(tenant: TestTenant, keep: number): Promise<void> {
  await owner(`delete from audit_events where tenant_id = $1 and seq > $2`, [tenant.id, keep]);
  await owner(
    `update audit_heads h set seq = e.seq, hash = e.hash
       from audit_events e where e.tenant_id = h.tenant_id and e.seq = $2 and h.tenant_id = $1`,
    [tenant.id, keep],
  );
}

/**
 * Changes event `from` (its action) and recomputes every later link and the head with the chain's
 * own hash function: the forged chain is consistent from its first event to its head.
 */
async function rewriteFrom(tenant: TestTenant, from: number): Promise<void> {
  const rows = await owner(`select * from audit_events where tenant_id = $1 order by seq`, [
    tenant.id,
  ]);
  let prev: Uint8Array = GENESIS_HASH;
  for (const row of rows) {
    const seq = Number(row.seq);
    if (seq < from) {
      prev = row.hash as Uint8Array;
      continue;
    }
    const action = seq === from ? 'api_key.revoke' : (row.action as string);
    const fields = {
      tenantId: row.tenant_id,
      seq,
      eventId: row.event_id,
      at: row.at,
      actorKind: row.actor_kind,
      actorId: row.actor_id,
      action,
      resourceType: row.resource_type,
      resourceId: row.resource_id,
      decision: row.decision,
      rule: row.rule,
      requestId: row.request_id,
      details: row.details,
      sealedPayload: row.sealed_payload ?? null,
      payloadCommitment: row.payload_commitment ?? null,
    } as ChainedFields;
    const hash = linkHash(prev, fields);
    await owner(
      `update audit_events set action = $3, prev_hash = $4, hash = $5 where tenant_id = $1 and seq = $2`,
      [tenant.id, seq, action, Buffer.from(prev), hash],
    );
    prev = hash;
  }
  await owner(`update audit_heads set hash = $2 where tenant_id = $1`, [
    tenant.id,
    Buffer.from(prev),
  ]);
}

describe('signed checkpoints', () => {
  it('serves the public key as a JWK with kid, without credentials, and it verifies a checkpoint offline', async () => {
    const key = await server.request('GET', '/v1/audit/anchor-key');
    expect(key.status).toBe(200);
    expect(key.body).toMatchObject({
      kty: 'OKP',
      crv: 'Ed25519',
      alg: 'EdDSA',
      kid: expect.any(String),
      x: expect.any(String),
    });
    expect(key.body.d).toBeUndefined();
    const tenant = await seededTenant('offline');
    const signed = await checkpointOf(tenant);
    const { payload, protectedHeader } = await compactVerify(
      signed.jws,
      await importJWK(key.body, 'EdDSA'),
    );
    expect(protectedHeader).toMatchObject({ alg: 'EdDSA', kid: key.body.kid });
    expect(JSON.parse(new TextDecoder().decode(payload))).toEqual(signed.checkpoint);
  });

  it("signs the current head: the tenant's newest event, by seq and hash", async () => {
    const tenant = await seededTenant('head');
    const signed = await checkpointOf(tenant);
    const trail = await server.request('GET', '/v1/audit?limit=1000', { token: tenant.apiKey });
    const newest = trail.body.data.at(-1);
    expect(signed).toEqual({
      object: 'audit_checkpoint',
      checkpoint: {
        format: 'bulkhead-audit-checkpoint/1',
        tenantId: tenant.id,
        seq: 5,
        hash: newest.hash,
        at: expect.any(String),
        keyId: expect.any(String),
      },
      jws: expect.stringMatching(/^[\w-]+\.[\w-]+\.[\w-]+$/),
    });
    expect(newest.seq).toBe(5);
    const operator = await server.request(
      'GET',
      `/v1/admin/tenants/${tenant.id}/audit/checkpoint`,
      { token: server.adminToken },
    );
    expect(operator.status).toBe(200);
    expect(operator.body.checkpoint).toMatchObject({ seq: 5, hash: newest.hash });
  });

  it('verifies a checkpoint, and still does after the chain grew past it', async () => {
    const tenant = await seededTenant('verifies');
    const signed = await checkpointOf(tenant);
    expect(await verifyCheckpoint(tenant, signed)).toEqual({
      object: 'audit_checkpoint_verification',
      tenantId: tenant.id,
      ok: true,
      checkpoint: {
        seq: 5,
        hash: signed.checkpoint.hash,
        at: signed.checkpoint.at,
        keyId: signed.checkpoint.keyId,
      },
      head: { seq: 5 },
      failures: [],
    });
    await server.request('POST', '/v1/keys', { token: tenant.apiKey, body: { name: 'later' } });
    expect(await verifyCheckpoint(tenant, { jws: signed.jws })).toMatchObject({
      ok: true,
      head: { seq: 6 },
    });
  });

  it('finds the newest events cut off and the head rewound, which plain verification cannot', async () => {
    const tenant = await seededTenant('truncated');
    const signed = await checkpointOf(tenant);
    await truncate(tenant, 3);
    expect(await plainVerify(tenant)).toMatchObject({ ok: true, events: 3 });
    const result = await verifyCheckpoint(tenant, signed);
    expect(result).toMatchObject({ ok: false, head: { seq: 3 } });
    expect(checksOf(result)).toEqual(['truncated']);
    expect(result.failures[0].reason).toContain('event 3');
  });

  it('finds the chain rewritten with every later hash recomputed, which plain verification cannot', async () => {
    const tenant = await seededTenant('rewritten');
    const signed = await checkpointOf(tenant);
    await rewriteFrom(tenant, 3);
    expect(await plainVerify(tenant)).toMatchObject({ ok: true, events: 5 });
    const result = await verifyCheckpoint(tenant, signed);
    expect(result).toMatchObject({ ok: false, head: { seq: 5 } });
    expect(checksOf(result)).toEqual(['rewritten']);
    // An older checkpoint, from before the rewritten event, still holds.
    const before = await server.request('GET', '/v1/audit/checkpoint', { token: tenant.apiKey });
    expect(before.body.checkpoint.seq).toBe(5);
  });

  it('reports a chain broken behind the checkpoint, at the event that breaks', async () => {
    const tenant = await seededTenant('broken');
    const signed = await checkpointOf(tenant);
    await owner(`update audit_events set decision = 'denied' where tenant_id = $1 and seq = 2`, [
      tenant.id,
    ]);
    const result = await verifyCheckpoint(tenant, signed);
    expect(checksOf(result)).toEqual(['broken']);
    expect(result.failures[0]).toMatchObject({ check: 'broken', brokenAt: 2 });
  });

  it('refuses a checkpoint whose signature has one byte flipped, or whose readable fields were edited', async () => {
    const tenant = await seededTenant('signature');
    const signed = await checkpointOf(tenant);
    const [header, payload, signature] = signed.jws.split('.');
    const bytes = Buffer.from(signature, 'base64url');
    bytes[10] = bytes[10]! ^ 0x01;
    const flipped = `${header}.${payload}.${bytes.toString('base64url')}`;
    const result = await verifyCheckpoint(tenant, { jws: flipped });
    expect(result).toMatchObject({ ok: false, checkpoint: null, head: null });
    expect(checksOf(result)).toEqual(['signature']);

    const edited = await verifyCheckpoint(tenant, {
      ...signed,
      checkpoint: { ...signed.checkpoint, seq: 4 },
    });
    expect(checksOf(edited)).toEqual(['signature']);

    // A payload re-encoded to claim a higher seq no longer matches its signature either.
    const forgedPayload = Buffer.from(JSON.stringify({ ...signed.checkpoint, seq: 99 })).toString(
      'base64url',
    );
    const forged = await verifyCheckpoint(tenant, {
      jws: `${header}.${forgedPayload}.${signature}`,
    });
    expect(checksOf(forged)).toEqual(['signature']);
  });

  it("refuses a checkpoint signed with another deployment's key", async () => {
    const other = await startBulkhead({ BULKHEAD_AUDIT_ANCHOR_KEY: anchorKey() });
    try {
      const tenant = await other.createTenant('elsewhere');
      const theirs = await other.request('GET', '/v1/audit/checkpoint', { token: tenant.apiKey });
      const mine = await seededTenant('mine');
      const result = await verifyCheckpoint(mine, { jws: theirs.body.jws });
      expect(checksOf(result)).toEqual(['signature']);
    } finally {
      await other.close();
    }
  });

  it('checks many checkpoints in one request, walking the chain once', async () => {
    const tenant = await seededTenant('batch');
    const first = await checkpointOf(tenant);
    await server.request('POST', '/v1/keys', { token: tenant.apiKey, body: { name: 'x' } });
    const second = await checkpointOf(tenant);
    const batch = await server.request(
      'POST',
      `/v1/admin/tenants/${tenant.id}/audit/verify-checkpoints`,
      { token: server.adminToken, body: { checkpoints: [first, second] } },
    );
    expect(batch.status).toBe(200);
    expect(batch.body.data.map((r: any) => [r.checkpoint.seq, r.ok])).toEqual([
      [5, true],
      [6, true],
    ]);
    await truncate(tenant, 5);
    const after = await server.request('POST', '/v1/audit/verify-checkpoints', {
      token: tenant.apiKey,
      body: { checkpoints: [first, second] },
    });
    expect(after.body.data.map(checksOf)).toEqual([[], ['truncated']]);
  });

  it('answers bad input with 400, unknown tenants with 404, tenant keys on operator routes with 401', async () => {
    const tenant = await seededTenant('input');
    const signed = await checkpointOf(tenant);
    for (const body of [
      {},
      { jws: 'not a jws' },
      { jws: signed.jws, extra: 1 },
      { jws: signed.jws, checkpoint: { seq: 'five' } },
      'x'.repeat(10),
    ]) {
      const response = await server.request('POST', '/v1/audit/verify-checkpoint', {
        token: tenant.apiKey,
        body,
      });
      expect({ body, status: response.status }).toEqual({ body, status: 400 });
    }
    const tooMany = await server.request('POST', '/v1/audit/verify-checkpoints', {
      token: tenant.apiKey,
      body: { checkpoints: Array.from({ length: 1001 }, () => signed) },
    });
    expect(tooMany.status).toBe(400);
    for (const id of ['tn_00000000000000000000000000', 'not-a-tenant']) {
      const missing = await server.request('GET', `/v1/admin/tenants/${id}/audit/checkpoint`, {
        token: server.adminToken,
      });
      expect(missing.status).toBe(404);
    }
    const wrongPath = await server.request(
      'POST',
      `/v1/admin/tenants/tn_00000000000000000000000000/audit/verify-checkpoint`,
      { token: server.adminToken, body: signed },
    );
    expect(wrongPath.status).toBe(404);
    const asTenant = await server.request(
      'GET',
      `/v1/admin/tenants/${tenant.id}/audit/checkpoint`,
      {
        token: tenant.apiKey,
      },
    );
    expect(asTenant.status).toBe(401);
    const anonymous = await server.request('GET', '/v1/audit/checkpoint');
    expect(anonymous.status).toBe(401);
  });

  it('answers 503 when no anchor key is configured', async () => {
    const bare = await startBulkhead();
    try {
      const tenant = await bare.createTenant('bare');
      for (const [method, path] of [
        ['GET', '/v1/audit/anchor-key'],
        ['GET', '/v1/audit/checkpoint'],
      ] as const) {
        const response = await bare.request(method, path, { token: tenant.apiKey });
        expect(response.status).toBe(503);
        expect(response.body.error.code).toBe('BK_AUDIT_ANCHOR_UNAVAILABLE');
      }
      expect(bare.bulkhead.auditAnchors).toBeNull();
    } finally {
      await bare.close();
    }
  });
});

interface Line {
  object: string;
  checkpoint: { tenantId: string; seq: number; hash: string };
  jws: string;
}
const readLines = (): Line[] =>
  existsSync(anchorFile)
    ? readFileSync(anchorFile, 'utf8')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as Line)
    : [];

describe('the publisher', () => {
  let a: TestTenant;
  let b: TestTenant;

  beforeAll(async () => {
    a = await seededTenant('pub-a');
    b = await seededTenant('pub-b');
  });

  it('writes one line per tenant whose head moved, and nothing for unchanged tenants on the next run', async () => {
    const publisher = server.bulkhead.auditAnchors!;
    const first = await publisher.publishOnce();
    const heads = await owner(`select tenant_id, seq from audit_heads where seq > 0`);
    expect(first.published).toBe(heads.length);
    const lines = readLines();
    expect(lines).toHaveLength(heads.length);
    expect(new Set(lines.map((l) => l.checkpoint.tenantId)).size).toBe(heads.length);
    const ofA = lines.filter((l) => l.checkpoint.tenantId === a.id);
    expect(ofA.map((l) => l.checkpoint.seq)).toEqual([5]);
    // A published line is itself a valid request body.
    expect(await verifyCheckpoint(a, ofA[0])).toMatchObject({ ok: true });

    const size = readFileSync(anchorFile).length;
    expect(await publisher.publishOnce()).toMatchObject({ published: 0, failed: 0 });
    expect(readFileSync(anchorFile).length).toBe(size);

    await server.request('POST', '/v1/keys', { token: b.apiKey, body: { name: 'moves-b' } });
    expect(await publisher.publishOnce()).toMatchObject({ published: 1 });
    const added = readLines().slice(lines.length);
    expect(added.map((l) => [l.checkpoint.tenantId, l.checkpoint.seq])).toEqual([[b.id, 6]]);

    const [row] = await owner(`select * from audit_anchors where tenant_id = $1`, [b.id]);
    expect(Number(row!.seq)).toBe(6);
    expect(row!.published_at).not.toBeNull();
    expect(JSON.parse(row!.checkpoint as string).jws).toBe(added[0]!.jws);
  });

  it('claims a position only by moving it forward: a second claim of the same head gets nothing', async () => {
    const [anchor] = await owner(`select * from audit_anchors where tenant_id = $1`, [a.id]);
    const claim = (seq: number) => ({
      tenantId: a.id,
      seq,
      hash: Buffer.from(anchor!.hash as Uint8Array),
      checkpoint: 'probe',
    });
    const now = new Date();
    const claimed = await withOperator(
      server.database.db,
      { operator: 'test', reason: 'claim probe' },
      async (tx) => [
        await claimAnchors(tx, [claim(Number(anchor!.seq))], now, new Date(now.getTime() - 1000)),
        await claimAnchors(tx, [claim(Number(anchor!.seq) - 1)], now, now),
      ],
    );
    expect(claimed.map((s) => s.size)).toEqual([0, 0]);
  });

  it('never signs a truncated head, and the CLI finds the truncation in the anchor file', async () => {
    const publisher = server.bulkhead.auditAnchors!;
    await truncate(a, 2);
    const before = readLines().length;
    const report = await publisher.publishOnce();
    expect(report.alarms).toEqual([
      { tenantId: a.id, problem: 'truncated', anchoredSeq: 5, headSeq: 2 },
    ]);
    expect(readLines()).toHaveLength(before);
    expect(
      server.logs.some(
        (l) => l.level === 50 && l.tenantId === a.id && String(l.msg).includes('behind'),
      ),
    ).toBe(true);

    const env = { BULKHEAD_ADMIN_TOKEN: server.adminToken };
    const cut = await runCli(
      ['audit', 'verify', '--tenant', a.id, '--anchors', anchorFile, '--url', server.url],
      env,
    );
    expect(cut.code, cut.stderr).toBe(1);
    expect(cut.stdout).toContain('TRUNCATED');
    const intact = await runCli(
      ['audit', 'verify', '--tenant', b.id, '--anchors', anchorFile, '--url', server.url],
      env,
    );
    expect(intact.code, intact.stderr + intact.stdout).toBe(0);
    expect(intact.stdout).toContain(`${b.id}: ok against 2 checkpoints (head at event 6)`);
  }, 30_000);

  it("goes with its tenant: deleting a tenant removes its anchor row, and no other tenant's", async () => {
    const gone = await seededTenant('pub-gone');
    await server.bulkhead.auditAnchors!.publishOnce();
    const count = async () =>
      Number((await owner(`select count(*) as n from audit_anchors`))[0]!.n);
    const before = await count();
    const admin = { token: server.adminToken, headers: { 'x-bulkhead-reason': 'anchor test' } };
    expect(
      (await server.request('POST', `/v1/admin/tenants/${gone.id}/suspend`, admin)).status,
    ).toBe(200);
    const deleted = await server.request('DELETE', `/v1/admin/tenants/${gone.id}`, admin);
    expect(deleted.status).toBe(200);
    expect(deleted.body.rowsRemoved.audit_anchors).toBe(1);
    expect(await count()).toBe(before - 1);
  });

  it('never signs a rewritten chain', async () => {
    await rewriteFrom(b, 4);
    const report = await server.bulkhead.auditAnchors!.publishOnce();
    expect(report.alarms).toContainEqual({
      tenantId: b.id,
      problem: 'rewritten',
      anchoredSeq: 6,
      headSeq: 6,
    });
    expect(report.published).toBe(0);
  });
});

describe('publishing from several nodes, and through a failing sink', () => {
  let cluster: SharedCluster;
  let nodes: RunningBulkhead[];
  let clusterDir: string;

  beforeAll(async () => {
    cluster = await createSharedCluster();
    clusterDir = mkdtempSync(join(tmpdir(), 'bk-anchor-cluster-'));
    const env = {
      BULKHEAD_AUDIT_ANCHOR_KEY: anchorKey(),
      BULKHEAD_AUDIT_ANCHOR_FILE: join(clusterDir, 'anchors.jsonl'),
      BULKHEAD_AUDIT_ANCHOR_INTERVAL_MS: '10',
    };
    nodes = [await startBulkhead(env, cluster), await startBulkhead(env, cluster)];
  });
  afterAll(async () => {
    for (const node of nodes ?? []) await node.close();
    await cluster?.database.close();
    rmSync(clusterDir, { recursive: true, force: true });
  });

  it('publishes each head once, however many nodes run the publisher at once', async () => {
    const tenants: TestTenant[] = [];
    for (let i = 0; i < 6; i++) tenants.push(await nodes[i % 2]!.createTenant(`multi-${i}`));
    // Both nodes' timers run every 10 ms; more runs by hand race with them.
    await Promise.all(nodes.flatMap((n) => [n.bulkhead.auditAnchors!.publishOnce()]));
    const file = join(clusterDir, 'anchors.jsonl');
    const deadline = Date.now() + 10_000;
    let lines: Line[] = [];
    for (;;) {
      lines = readFileSync(file, 'utf8')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as Line);
      const published = new Set(lines.map((l) => l.checkpoint.tenantId));
      if (tenants.every((t) => published.has(t.id)) || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const keys = lines.map((l) => `${l.checkpoint.tenantId}@${l.checkpoint.seq}`);
    expect(new Set(keys).size).toBe(keys.length);
    for (const t of tenants) expect(keys).toContain(`${t.id}@2`);
  });

  it('gives claims back when the sink fails, and publishes them once it works again', async () => {
    // The other nodes would publish this tenant to their own sink first.
    for (const node of nodes) await node.close();
    nodes = [];
    const sinkDir = join(clusterDir, 'not-yet');
    const node = await startBulkhead(
      {
        BULKHEAD_AUDIT_ANCHOR_KEY: anchorKey(),
        BULKHEAD_AUDIT_ANCHOR_FILE: join(sinkDir, 'anchors.jsonl'),
        BULKHEAD_AUDIT_ANCHOR_INTERVAL_MS: '0',
      },
      cluster,
    );
    try {
      const tenant = await node.createTenant('sink-fails');
      const failed = await node.bulkhead.auditAnchors!.publishOnce();
      expect(failed.failed).toBeGreaterThan(0);
      const [row] = await cluster.database.ownerQuery(
        `select published_at from audit_anchors where tenant_id = $1`,
        [tenant.id],
      );
      expect(row?.published_at ?? null).toBeNull();
      expect(node.logs.some((l) => l.level === 50 && String(l.msg).includes('sink'))).toBe(true);

      mkdirSync(sinkDir);
      const retried = await node.bulkhead.auditAnchors!.publishOnce();
      expect(retried.published).toBe(failed.failed);
      const lines = readFileSync(join(sinkDir, 'anchors.jsonl'), 'utf8').trim().split('\n');
      expect(lines.map((l) => JSON.parse(l).checkpoint.tenantId)).toContain(tenant.id);
    } finally {
      await node.close();
    }
  });
});
