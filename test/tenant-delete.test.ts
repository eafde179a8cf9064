import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  populateTenant,
  startBulkhead,
  type RunningBulkhead,
  type TestTenant,
} from './support/bulkhead-server.ts';

/**
 * Deleting a tenant removes its rows from every table the catalog lists, destroys its data key,
 * leaves a tombstone, and touches no neighbour's row.
 */
let server: RunningBulkhead;
let tenants: TestTenant[];
let tables: string[];

async function counts(tenantId: string): Promise<Record<string, number>> {
  const result: Record<string, number> = {};
  for (const table of tables) {
    const [row] = await server.database.ownerQuery<{ n: number }>(
      `select count(*)::int as n from ${table} where tenant_id = $1`,
      [tenantId],
    );
    result[table] = row!.n;
  }
  return result;
}

const del = (tenantId: string, token = server.adminToken) =>
  server.request('DELETE', `/v1/admin/tenants/${tenantId}`, {
    token,
    headers: { 'x-bulkhead-reason': 'customer left' },
  });

beforeAll(async () => {
  server = await startBulkhead();
  tenants = [];
  for (const name of ['del-a', 'del-b', 'del-c']) {
    const t = await server.createTenant(name);
    await populateTenant(server, t);
    tenants.push(t);
  }
  tables = (
    await server.database.ownerQuery<{ table_name: string }>(
      `select table_name from information_schema.columns where table_schema = 'public' and column_name = 'tenant_id' order by 1`,
    )
  ).map((r) => r.table_name);
});
afterAll(() => server.close());

describe('deleting a tenant', () => {
  it('refuses an active tenant: suspend first', async () => {
    const response = await del(tenants[0]!.id);
    expect(response.status).toBe(409);
    expect(response.body.error.message).toContain('Suspend');
    expect((await counts(tenants[0]!.id)).tenants).toBe(1);
  });

  it('refuses tenant keys, and unknown tenants', async () => {
    expect((await del(tenants[0]!.id, tenants[0]!.apiKey)).status).toBe(401);
    expect((await del('tn_00000000000000000000000000')).status).toBe(404);
  });

  it('removes every row of the tenant from every table, and nothing of its neighbours', async () => {
    const [a, b, c] = tenants as [TestTenant, TestTenant, TestTenant];
    const before = await counts(a.id);
    // Only a tenant moved to its own database has a placement row; deleting one of those is
    // tested in test/promote.test.ts.
    for (const table of tables.filter((t) => t !== 'tenant_placements'))
      expect({ table, rows: before[table]! > 0 }).toEqual({ table, rows: true });
    const neighbours = [await counts(b.id), await counts(c.id)];

    expect(
      (
        await server.request('POST', `/v1/admin/tenants/${a.id}/suspend`, {
          token: server.adminToken,
        })
      ).status,
    ).toBe(200);
    const suspendedCounts = await counts(a.id);
    const response = await del(a.id);
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({
      tenantId: a.id,
      name: 'del-a',
      reason: 'customer left',
      rowsRemaining: 0,
      tablesScanned: tables.length,
    });
    expect(response.body.rowsRemoved).toEqual(suspendedCounts);

    const after = await counts(a.id);
    expect(Object.values(after).every((n) => n === 0)).toBe(true);
    expect([await counts(b.id), await counts(c.id)]).toEqual(neighbours);

    const [tombstone] = await server.database.ownerQuery<Record<string, any>>(
      `select * from tenant_tombstones where deleted_tenant_id = $1`,
      [a.id],
    );
    expect(tombstone).toMatchObject({
      name: 'del-a',
      operator: 'admin-token',
      reason: 'customer left',
    });
    expect(tombstone!.rows_removed).toEqual(suspendedCounts);

    // Through the API: the tombstone, and the deletion in the operator log with its reason.
    const tombstones = await server.request('GET', '/v1/admin/tombstones?limit=100', {
      token: server.adminToken,
    });
    expect(tombstones.body.data.find((t: { id: string }) => t.id === a.id)).toMatchObject({
      name: 'del-a',
      reason: 'customer left',
      rowsRemoved: suspendedCounts,
    });
    const log = await server.request(
      'GET',
      `/v1/admin/operator-actions?tenantId=${a.id}&limit=100`,
      {
        token: server.adminToken,
      },
    );
    expect(log.status).toBe(200);
    const reasons = log.body.data.map((e: { reason: string }) => e.reason);
    expect(reasons).toContain('customer left');
    expect(log.body.data.every((e: { tenantId: string }) => e.tenantId === a.id)).toBe(true);
    expect(
      (await server.request('GET', '/v1/admin/operator-actions', { token: a.apiKey })).status,
    ).toBe(401);
  });

  it("destroys the tenant's data key, and its credentials stop working", async () => {
    const [a, b] = tenants as [TestTenant, TestTenant];
    const keys = await server.database.ownerQuery(
      `select 1 from tenant_data_keys where tenant_id = $1`,
      [a.id],
    );
    expect(keys).toEqual([]);
    expect((await server.request('GET', '/v1/models', { token: a.apiKey })).status).toBe(401);
    expect((await server.request('GET', '/v1/models', { token: b.apiKey })).status).toBe(200);
    const verify = await server.request('GET', '/v1/audit/verify', { token: b.apiKey });
    expect(verify.body.ok).toBe(true);
  });

  it('answers 404 for a tenant already deleted', async () => {
    expect((await del(tenants[0]!.id)).status).toBe(404);
    expect(
      (
        await server.request('GET', `/v1/admin/tenants/${tenants[0]!.id}`, {
          token: server.adminToken,
        })
      ).status,
    ).toBe(404);
  });
});
