import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createSharedCluster,
  populateTenant,
  startBulkhead,
  type RunningBulkhead,
  type SharedCluster,
  type TestTenant,
} from './support/bulkhead-server.ts';
import { openPostgres } from '../src/db/backend.ts';
import { migrate } from '../src/db/migrate.ts';
import { AuditAnchorPublisher } from '../src/audit/anchor/publisher.ts';
import { AnchorSigner } from '../src/audit/anchor/signing-key.ts';
import { FileSink } from '../src/audit/anchor/sinks.ts';
import { siloId as siloIdOf, TenantRouting } from '../src/db/tenant-routing.ts';
import { migrateSilos } from '../src/lifecycle/promote/migrate-silos.ts';
import { SiloUrlBox } from '../src/lifecycle/promote/silo-url-box.ts';
import { createSilo, SERVER_URL, type Query, type Silo } from './support/silo-database.ts';

/**
 * Promoting a tenant from the shared pool to a database of its own, and back. The silo is a fresh
 * database on the machine's PostgreSQL. On the PostgreSQL pass the pool is another database on that
 * server and the whole round trip runs, with traffic on two nodes during each move; on the PGlite
 * pass the pool has pgvector and the server does not, so the promotion must be refused, naming the
 * column that could not be copied, and leave the tenant exactly as it was.
 */
const onServer = Boolean(process.env.DATABASE_URL);

const move = (node: RunningBulkhead, tenantId: string, direction: string, body?: unknown) =>
  node.request('POST', `/v1/admin/tenants/${tenantId}/${direction}`, {
    token: node.adminToken,
    body,
    headers: { 'x-bulkhead-reason': `test ${direction}` },
  });

async function tenantTables(query: Query): Promise<string[]> {
  return (
    await query<{ table_name: string }>(
      `select distinct table_name from information_schema.columns
       where table_schema = 'public' and column_name = 'tenant_id' order by 1`,
    )
  ).map((r) => r.table_name);
}

async function rowCounts(query: Query, tenantId: string): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const table of await tenantTables(query)) {
    const [row] = await query<{ n: number }>(
      `select count(*)::int as n from ${table} where tenant_id = $1`,
      [tenantId],
    );
    if (row!.n > 0) counts[table] = row!.n;
  }
  return counts;
}

/** What the tenant sees through the API: it must not change when its database does. */
async function view(node: RunningBulkhead, t: TestTenant) {
  const get = async (path: string) => {
    const response = await node.request('GET', path, { token: t.apiKey });
    expect({ path, status: response.status }).toEqual({ path, status: 200 });
    return response.body;
  };
  const threads = await get('/v1/threads');
  return {
    keys: await get('/v1/keys'),
    users: await get('/v1/users'),
    providers: await get('/v1/providers'),
    policy: await get('/v1/policy'),
    grants: await get('/v1/access-grants'),
    approvals: await get('/v1/approvals'),
    threads,
    messages: await get(`/v1/threads/${threads.data[0].id}/messages`),
  };
}

const ask = (node: RunningBulkhead, t: TestTenant, content: string) =>
  node.request('POST', '/v1/chat/completions', {
    token: t.apiKey,
    body: { model: 'local/extractive', messages: [{ role: 'user', content }] },
  });

/** Requests on both nodes, one after another on each, until `stop` resolves. */
async function traffic(nodes: RunningBulkhead[], t: TestTenant, stop: Promise<unknown>) {
  let done = false;
  void stop.finally(() => (done = true));
  const statuses: number[] = [];
  await Promise.all(
    nodes.map(async (node, n) => {
      for (let i = 0; !done || i < 3; i++) {
        statuses.push((await ask(node, t, `during the move ${n}.${i}`)).status);
      }
    }),
  );
  return statuses;
}

describe.runIf(!onServer)('promotion from the embedded database', () => {
  let node: RunningBulkhead;
  let silo: Silo;
  let tenant: TestTenant;

  beforeAll(async () => {
    node = await startBulkhead();
    silo = await createSilo();
    tenant = await node.createTenant('embedded');
    await populateTenant(node, tenant);
  });
  afterAll(async () => {
    await node?.close();
    await silo?.drop();
  });

  it('is refused when the silo cannot hold every column, and the tenant carries on', async () => {
    const before = await view(node, tenant);
    const counts = await rowCounts(
      (text, params) => node.database.ownerQuery(text, params),
      tenant.id,
    );
    const response = await move(node, tenant.id, 'promote', { databaseUrl: silo.url });
    expect(response.status).toBe(409);
    expect(response.body.error.code).toBe('BK_SILO_UNSUITABLE');
    expect(response.body.error.message).toContain('chunks: column "embedding');
    expect(await view(node, tenant)).toEqual(before);
    expect(
      await rowCounts((text, params) => node.database.ownerQuery(text, params), tenant.id),
    ).toEqual(counts);
    expect(await rowCounts(silo.query, tenant.id)).toEqual({});
    expect((await ask(node, tenant, 'still here?')).status).toBe(200);
    const placement = await node.request('GET', `/v1/admin/tenants/${tenant.id}/placement`, {
      token: node.adminToken,
    });
    expect(placement.body).toMatchObject({ placement: 'pool', silo: null });
  });
});

describe.runIf(onServer)('promoting a tenant to its own database and back', () => {
  let cluster: SharedCluster;
  let nodes: [RunningBulkhead, RunningBulkhead];
  let silo: Silo;
  let tenant: TestTenant;
  let neighbour: TestTenant;
  let before: Awaited<ReturnType<typeof view>>;
  let neighbourCounts: Record<string, number>;
  const pool = (): Query => (text, params) => nodes[0].database.ownerQuery(text, params);

  beforeAll(async () => {
    cluster = await createSharedCluster();
    nodes = [await startBulkhead({}, cluster), await startBulkhead({}, cluster)];
    silo = await createSilo();
    tenant = await nodes[0].createTenant('promoted');
    neighbour = await nodes[0].createTenant('neighbour');
    await populateTenant(nodes[0], tenant);
    await populateTenant(nodes[0], neighbour);
    before = await view(nodes[0], tenant);
    neighbourCounts = await rowCounts(pool(), neighbour.id);
  });
  afterAll(async () => {
    for (const node of nodes ?? []) await node?.close();
    await cluster?.database.close();
    await silo?.drop();
  });

  it('refuses bad input and impossible moves with a clear 4xx', async () => {
    const node = nodes[0];
    expect((await move(node, tenant.id, 'promote', { databaseUrl: 'mysql://x/y' })).status).toBe(
      400,
    );
    expect((await move(node, tenant.id, 'promote', {})).status).toBe(400);
    expect(
      (await move(node, 'tn_00000000000000000000000000', 'promote', { databaseUrl: silo.url }))
        .status,
    ).toBe(404);
    const demote = await move(node, tenant.id, 'demote');
    expect(demote.status).toBe(409);
    expect(demote.body.error.message).toContain('shared pool already');
    expect(
      (
        await node.request('POST', `/v1/admin/tenants/${tenant.id}/promote`, {
          token: tenant.apiKey,
          body: { databaseUrl: silo.url },
        })
      ).status,
    ).toBe(401);
  });

  it('refuses the pool itself as a silo, and leaves the tenant where it was', async () => {
    const [current] = await pool()<{ name: string }>(`select current_database() as name`);
    const poolUrl = new URL(SERVER_URL);
    poolUrl.pathname = `/${current!.name}`;
    const response = await move(nodes[0], tenant.id, 'promote', {
      databaseUrl: poolUrl.toString(),
    });
    expect(response.status).toBe(409);
    expect(response.body.error.message).toContain('shared pool itself');
    expect(await view(nodes[0], tenant)).toEqual(before);
    expect(
      await pool()(`select * from tenant_placements where tenant_id = $1`, [tenant.id]),
    ).toEqual([]);
  });

  it('rolls a failed copy back: the tenant stays in the pool with every row', async () => {
    const before = await rowCounts(pool(), tenant.id);
    // The silo refuses usage records part-way through the copy (a trigger of its owner).
    const prepared = openPostgres(silo.url, 1);
    await migrate(prepared);
    await prepared.close();
    await silo.query(`create function refuse() returns trigger language plpgsql as $$
      begin raise exception 'disk full (test)'; end $$`);
    await silo.query(
      `create trigger refuse before insert on usage_records for each row execute function refuse()`,
    );
    const failed = await move(nodes[0], tenant.id, 'promote', { databaseUrl: silo.url });
    await silo.query(`drop trigger refuse on usage_records`);
    expect(failed.status).toBe(503);
    expect(failed.body.error.message).toContain('rolled back');
    expect(failed.body.error.message).toContain('disk full (test)');
    expect(await rowCounts(pool(), tenant.id)).toEqual(before);
    expect(await rowCounts(silo.query, tenant.id)).toEqual({});
    expect((await ask(nodes[1], tenant, 'still in the pool')).status).toBe(200);
  });

  it('finishes a move that a crash left half done when it is run again', async () => {
    // As if a node died right after pausing the tenant for a move.
    await pool()(
      `insert into tenant_placements (tenant_id, state, silo_id) values ($1, 'moving', 'crashed')`,
      [tenant.id],
    );
    const paused = ask(nodes[1], tenant, 'waiting for the move');
    const other = await move(nodes[0], tenant.id, 'promote', { databaseUrl: silo.url });
    expect(other.status).toBe(409);
    expect(other.body.error.message).toContain('being moved to another database');
    await pool()(`update tenant_placements set silo_id = $2 where tenant_id = $1`, [
      tenant.id,
      siloIdOf(silo.url),
    ]);
    const resumed = await move(nodes[0], tenant.id, 'promote', { databaseUrl: silo.url });
    expect(resumed.status).toBe(200);
    expect((await paused).status).toBe(200);
    const back = await move(nodes[0], tenant.id, 'demote');
    expect(back.status).toBe(200);
    expect(
      await pool()(`select * from tenant_placements where tenant_id = $1`, [tenant.id]),
    ).toEqual([]);
  });

  it('copies, verifies and switches under traffic on two nodes, losing nothing', async () => {
    const poolCounts = await rowCounts(pool(), tenant.id);
    const usageBefore = poolCounts.usage_records!;
    // Both nodes are asked to move it at once: exactly one does, the other is refused.
    const both = Promise.all(
      nodes.map((node) => move(node, tenant.id, 'promote', { databaseUrl: silo.url })),
    );
    const statuses = await traffic(nodes, tenant, both);
    const answers = await both;
    expect(answers.map((a) => a.status).sort()).toEqual([200, 409]);
    const response = answers.find((a) => a.status === 200)!;
    expect(response.body).toMatchObject({
      object: 'tenant_move',
      direction: 'promote',
      placement: 'silo',
      leftoverCopy: false,
    });
    expect(response.body.silo).not.toContain('postgres@');
    expect(statuses.every((s) => s === 200)).toBe(true);

    // Every table the tenant had rows in was copied and verified.
    const copied = Object.fromEntries(
      (response.body.tables as { table: string; rows: number; sha256: string }[]).map((t) => [
        t.table,
        t.rows,
      ]),
    );
    for (const table of Object.keys(poolCounts).filter((t) => t !== 'tenant_placements'))
      expect({ table, copied: copied[table]! > 0 }).toEqual({ table, copied: true });

    // The pool keeps only the registry row and the placement; the silo has everything, including
    // every request made during the move.
    expect(await rowCounts(pool(), tenant.id)).toEqual({ tenants: 1, tenant_placements: 1 });
    const inSilo = await rowCounts(silo.query, tenant.id);
    expect(inSilo.usage_records).toBe(usageBefore + statuses.length);
    expect(JSON.stringify(await pool()(`select * from tenant_placements`))).not.toContain(
      'postgres@',
    );

    // The neighbour never moved.
    expect(await rowCounts(pool(), neighbour.id)).toEqual(neighbourCounts);
    expect(await rowCounts(silo.query, neighbour.id)).toEqual({});
  });

  it('serves the same API unchanged from the silo, on both nodes', async () => {
    for (const node of nodes) {
      const after = await view(node, tenant);
      expect(after).toEqual(before);
      const verify = await node.request('GET', '/v1/audit/verify', { token: tenant.apiKey });
      expect(verify.body).toMatchObject({ ok: true });
      const audit = await node.request('GET', '/v1/audit?action=tenant.promote', {
        token: tenant.apiKey,
      });
      // The resumed move above, and this one.
      expect(audit.body.data).toHaveLength(2);
      expect((await ask(node, tenant, 'after the move')).status).toBe(200);
      expect((await node.request('GET', '/v1/keys', { token: neighbour.apiKey })).status).toBe(200);
    }
    // `bulkhead migrate` (and an embedded start) migrates every silo after the pool.
    const migrated = await migrateSilos(
      cluster.database.db.backend,
      new SiloUrlBox(cluster.masterKey),
    );
    expect(migrated).toEqual([{ silo: expect.stringContaining('/bk_silo_'), applied: [] }]);
    const placement = await nodes[1].request('GET', `/v1/admin/tenants/${tenant.id}/placement`, {
      token: nodes[1].adminToken,
    });
    expect(placement.body).toMatchObject({ placement: 'silo' });
    expect(placement.body.silo).toContain('/bk_silo_');
    const usage = await nodes[1].request('GET', '/v1/admin/usage', { token: nodes[1].adminToken });
    const ids = (usage.body.tenants as { tenantId: string }[]).map((t) => t.tenantId);
    expect(ids).toEqual(expect.arrayContaining([tenant.id, neighbour.id]));
  });

  it("publishes the promoted tenant's audit head from its silo", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bk-promote-anchor-'));
    const pool = cluster.database.db.backend;
    const urls = new SiloUrlBox(cluster.masterKey);
    const routing = new TenantRouting(pool, {
      openUrl: (tenantId, sealed) => urls.open(tenantId, sealed),
      pauseMaxMs: 1000,
    });
    try {
      const publisher = new AuditAnchorPublisher({
        db: { backend: pool, routing },
        signer: await AnchorSigner.fromKey(randomBytes(32).toString('base64')),
        sinks: [new FileSink(join(dir, 'anchors.jsonl'))],
        intervalMs: 0,
        log: nodes[0].bulkhead.app.log,
      });
      expect((await publisher.publishOnce()).failed).toBe(0);
      const published = readFileSync(join(dir, 'anchors.jsonl'), 'utf8');
      expect(published).toContain(tenant.id);
      expect(published).toContain(neighbour.id);
    } finally {
      await routing.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("suspends a promoted tenant at once, and the operator's tenant list says so", async () => {
    const suspend = await nodes[1].request('POST', `/v1/admin/tenants/${tenant.id}/suspend`, {
      token: nodes[1].adminToken,
    });
    expect(suspend.status).toBe(200);
    for (const node of nodes) expect((await ask(node, tenant, 'suspended?')).status).toBe(403);
    const listed = await nodes[0].request('GET', '/v1/admin/tenants?limit=100', {
      token: nodes[0].adminToken,
    });
    expect(listed.body.data.find((t: { id: string }) => t.id === tenant.id).status).toBe(
      'suspended',
    );
    await nodes[0].request('POST', `/v1/admin/tenants/${tenant.id}/resume`, {
      token: nodes[0].adminToken,
    });
    // Work on a promoted tenant is recorded in its silo; the operator log shows it all the same.
    const log = await nodes[0].request(
      'GET',
      `/v1/admin/operator-actions?tenantId=${tenant.id}&limit=100`,
      { token: nodes[0].adminToken },
    );
    const reasons = log.body.data.map((e: { reason: string }) => e.reason);
    expect(reasons).toEqual(expect.arrayContaining(['suspend tenant', 'resume tenant']));
    expect(
      (await silo.query(`select 1 from operator_actions where reason = 'suspend tenant'`)).length,
    ).toBe(1);
    expect((await ask(nodes[1], tenant, 'resumed')).status).toBe(200);
  });

  it('demotes back to the pool under traffic, and the silo keeps only a mark', async () => {
    const usageBefore = (await rowCounts(silo.query, tenant.id)).usage_records!;
    const demotion = move(nodes[1], tenant.id, 'demote');
    const statuses = await traffic(nodes, tenant, demotion);
    const response = await demotion;
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ direction: 'demote', placement: 'pool' });
    expect(statuses.every((s) => s === 200)).toBe(true);

    expect(await rowCounts(silo.query, tenant.id)).toEqual({ tenant_placements: 1 });
    const back = await rowCounts(pool(), tenant.id);
    expect(back.tenant_placements).toBeUndefined();
    expect(back.usage_records).toBe(usageBefore + statuses.length);
    for (const node of nodes) {
      expect(await view(node, tenant)).toEqual(before);
      const verify = await node.request('GET', '/v1/audit/verify', { token: tenant.apiKey });
      expect(verify.body).toMatchObject({ ok: true });
    }
    expect(await rowCounts(pool(), neighbour.id)).toEqual(neighbourCounts);
  });

  it('can be promoted again to the same silo, and deleted from there completely', async () => {
    const again = await move(nodes[0], tenant.id, 'promote', { databaseUrl: silo.url });
    expect(again.status).toBe(200);
    expect((await ask(nodes[1], tenant, 'second stay')).status).toBe(200);

    await nodes[0].request('POST', `/v1/admin/tenants/${tenant.id}/suspend`, {
      token: nodes[0].adminToken,
    });
    const deleted = await nodes[1].request('DELETE', `/v1/admin/tenants/${tenant.id}`, {
      token: nodes[1].adminToken,
      headers: { 'x-bulkhead-reason': 'customer left' },
    });
    expect(deleted.status).toBe(200);
    expect(await rowCounts(silo.query, tenant.id)).toEqual({});
    expect(await rowCounts(pool(), tenant.id)).toEqual({});
    const [tombstone] = await pool()(
      `select name from tenant_tombstones where deleted_tenant_id = $1`,
      [tenant.id],
    );
    expect(tombstone).toEqual({ name: 'promoted' });
    expect(await rowCounts(pool(), neighbour.id)).toEqual(neighbourCounts);
  });
});

describe.runIf(onServer)('rotating the master key with a tenant in a silo', () => {
  let cluster: SharedCluster;
  let silo: Silo;
  const nodes: RunningBulkhead[] = [];

  beforeAll(async () => {
    cluster = await createSharedCluster();
    silo = await createSilo();
  });
  afterAll(async () => {
    for (const node of nodes) await node.close();
    await cluster?.database.close();
    await silo?.drop();
  });

  it("re-wraps the silo's data keys and seals its URL again", async () => {
    const before = await startBulkhead({}, cluster);
    nodes.push(before);
    const tenant = await before.createTenant('rotating');
    await populateTenant(before, tenant);
    expect((await move(before, tenant.id, 'promote', { databaseUrl: silo.url })).status).toBe(200);

    const oldKey = cluster.masterKey;
    const newKey = randomBytes(32);
    const rotating = await startBulkhead(
      { BULKHEAD_PREVIOUS_MASTER_KEYS: oldKey.toString('base64') },
      { ...cluster, masterKey: newKey },
    );
    nodes.push(rotating);
    const rotated = await rotating.request('POST', '/v1/admin/master-key/rotate', {
      token: rotating.adminToken,
    });
    expect(rotated.status).toBe(200);
    expect(rotated.body).toMatchObject({ databases: 2, siloUrlsResealed: 1 });
    // The only data key is the promoted tenant's, which lives in the silo.
    expect(rotated.body.rewrapped).toBe(1);

    // A node with only the new key finds the silo and opens the tenant's data there.
    const after = await startBulkhead({}, { ...cluster, masterKey: newKey });
    nodes.push(after);
    expect((await ask(after, tenant, 'after the rotation')).status).toBe(200);
    const verify = await after.request('GET', '/v1/audit/verify', { token: tenant.apiKey });
    expect(verify.body).toMatchObject({ ok: true });
    const placement = await after.request('GET', `/v1/admin/tenants/${tenant.id}/placement`, {
      token: after.adminToken,
    });
    expect(placement.body).toMatchObject({ placement: 'silo' });
  });
});
