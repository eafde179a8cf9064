import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP_ROLE, OPERATOR_ROLE } from '../src/db/roles.ts';
import {
  addKnowledgeAndMemory,
  holdOneRequest,
  startBulkhead,
  type RunningBulkhead,
  type TestTenant,
} from './support/bulkhead-server.ts';

/**
 * Walks the live catalog: every table that holds tenant data is fenced by forced row-level
 * security, keyed by tenant first, and the role the application runs as cannot get around it.
 * A new table that forgets any of this fails here.
 */
let server: RunningBulkhead;
let a: TestTenant;
let b: TestTenant;
let tenantTables: string[];

beforeAll(async () => {
  server = await startBulkhead();
  a = await server.createTenant('catalog-a');
  b = await server.createTenant('catalog-b');
  // Put a row in every tenant table for both tenants, through the API.
  for (const t of [a, b]) {
    await server.request('POST', '/v1/users', {
      token: t.apiKey,
      body: { email: `u@${t.name}.test`, role: 'member' },
    });
    await server.request('POST', '/v1/providers', {
      token: t.apiKey,
      body: {
        name: 'up',
        kind: 'openai',
        baseUrl: 'http://127.0.0.1:9/v1',
        apiKey: 'sk-x',
        models: ['m'],
      },
    });
    await server.openai(t.apiKey).embeddings.create({ model: 'local/hash-embed', input: 'x' });
    await server.request('POST', '/v1/access-grants', {
      token: t.apiKey,
      body: {
        scope: 'audit:payloads',
        reason: 'catalog',
        expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
      },
    });
    await holdOneRequest(server, t.apiKey);
    await addKnowledgeAndMemory(server, t);
  }
  // A placement row says a tenant is served by another database; only moving a tenant writes one
  // (test/promote.test.ts), so here, last, the owner writes one directly.
  await server.database.ownerQuery(
    `insert into tenant_placements (tenant_id, state) values ($1, 'away'), ($2, 'away')`,
    [a.id, b.id],
  );
  tenantTables = (
    await server.database.ownerQuery<{ table_name: string }>(
      `select c.relname as table_name from pg_class c join pg_namespace n on n.oid = c.relnamespace
       join pg_attribute a on a.attrelid = c.oid
       where n.nspname = 'public' and c.relkind in ('r', 'p') and a.attname = 'tenant_id' and not a.attisdropped
       order by 1`,
    )
  ).map((r) => r.table_name);
});
afterAll(() => server.close());

/** Runs statements as the application role in one transaction, rolled back. */
async function asAppRole<R>(setup: string, query: string): Promise<R[]> {
  const session = await server.database.db.backend.acquire();
  try {
    await session.script(`begin; set local role ${APP_ROLE}; ${setup}`);
    return (await session.query<R>(query, [])).rows;
  } finally {
    await session.script('rollback');
    session.release();
  }
}

describe('the database catalog', () => {
  it('finds the tenant tables', () => {
    expect(tenantTables).toEqual(
      expect.arrayContaining([
        'tenants',
        'api_keys',
        'users',
        'providers',
        'usage_records',
        'tenant_data_keys',
        'policies',
        'approvals',
      ]),
    );
  });

  it('has row-level security enabled and forced on every table with a tenant_id column', async () => {
    const rows = await server.database.ownerQuery<{
      relname: string;
      relrowsecurity: boolean;
      relforcerowsecurity: boolean;
    }>(
      `select relname, relrowsecurity, relforcerowsecurity from pg_class where relname = any($1::text[])`,
      [tenantTables],
    );
    expect(rows).toHaveLength(tenantTables.length);
    for (const row of rows) {
      expect({
        table: row.relname,
        enabled: row.relrowsecurity,
        forced: row.relforcerowsecurity,
      }).toEqual({
        table: row.relname,
        enabled: true,
        forced: true,
      });
    }
  });

  it('has a tenant policy on app.tenant_id for the app role on every tenant table', async () => {
    const rows = await server.database.ownerQuery<{
      tablename: string;
      qual: string;
      with_check: string | null;
    }>(
      `select tablename, qual, with_check from pg_policies where schemaname = 'public' and $1 = any(roles)`,
      [APP_ROLE],
    );
    for (const table of tenantTables) {
      const policy = rows.find((r) => r.tablename === table);
      expect(policy, `policy on ${table}`).toBeDefined();
      expect(policy!.qual).toContain("current_setting('app.tenant_id'");
      expect(policy!.with_check).toContain("current_setting('app.tenant_id'");
    }
  });

  it('puts tenant_id first in the primary key of every tenant table', async () => {
    const rows = await server.database.ownerQuery<{ relname: string; first_column: string }>(
      `select c.relname, a.attname as first_column from pg_index i
       join pg_class c on c.oid = i.indrelid
       join pg_attribute a on a.attrelid = c.oid and a.attnum = i.indkey[0]
       where i.indisprimary and c.relname = any($1::text[])`,
      [tenantTables],
    );
    expect(rows.map((r) => r.relname).sort()).toEqual([...tenantTables].sort());
    for (const row of rows)
      expect({ table: row.relname, first: row.first_column }).toEqual({
        table: row.relname,
        first: 'tenant_id',
      });
  });

  it('runs the application as a role that is not superuser, not owner, not BYPASSRLS, and does not inherit operator rights', async () => {
    const [role] = await server.database.ownerQuery<{
      rolsuper: boolean;
      rolbypassrls: boolean;
      rolinherit: boolean;
    }>(`select rolsuper, rolbypassrls, rolinherit from pg_roles where rolname = $1`, [APP_ROLE]);
    expect(role).toEqual({ rolsuper: false, rolbypassrls: false, rolinherit: false });
    const [operator] = await server.database.ownerQuery<{
      rolsuper: boolean;
      rolbypassrls: boolean;
    }>(`select rolsuper, rolbypassrls from pg_roles where rolname = $1`, [OPERATOR_ROLE]);
    expect(operator).toEqual({ rolsuper: false, rolbypassrls: false });
    const owned = await server.database.ownerQuery(
      `select tablename from pg_tables where schemaname = 'public' and tableowner in ($1, $2)`,
      [APP_ROLE, OPERATOR_ROLE],
    );
    expect(owned).toEqual([]);
  });

  it('shows the application role zero rows of every tenant table when app.tenant_id is unset', async () => {
    for (const table of tenantTables) {
      const [owner] = await server.database.ownerQuery<{ n: number }>(
        `select count(*)::int as n from ${table}`,
      );
      expect(owner!.n, `rows in ${table}`).toBeGreaterThan(0);
      const [app] = await asAppRole<{ n: number }>('', `select count(*)::int as n from ${table}`);
      expect({ table, visible: app!.n }).toEqual({ table, visible: 0 });
    }
  });

  it("shows the application role exactly one tenant's rows when app.tenant_id is set", async () => {
    for (const table of tenantTables) {
      const rows = await asAppRole<{ tenant_id: string }>(
        `select set_config('app.tenant_id', '${a.id}', true);`,
        `select distinct tenant_id from ${table}`,
      );
      expect({ table, tenants: rows.map((r) => r.tenant_id) }).toEqual({ table, tenants: [a.id] });
    }
  });

  it('refuses to write a row into another tenant while scoped to one', async () => {
    const error = await asAppRole(
      `select set_config('app.tenant_id', '${a.id}', true);`,
      `insert into users (tenant_id, user_id, email, role) values ('${b.id}', 'usr_x', 'x@y.z', 'owner')`,
    ).catch((e: unknown) => e);
    expect(String(error)).toMatch(/row-level security/);
  });

  it('keeps the application connection itself unscoped: outside a transaction it sees nothing', async () => {
    const session = await server.database.db.backend.acquire();
    try {
      if (server.database.kind === 'postgres') {
        const [who] = (await session.query<{ u: string }>('select session_user as u', [])).rows;
        expect(who!.u).toBe(APP_ROLE);
        const [n] = (
          await session.query<{ n: number }>('select count(*)::int as n from api_keys', [])
        ).rows;
        expect(n!.n).toBe(0);
      } else {
        // PGlite has one superuser connection; the role is dropped per transaction (covered above).
        const [who] = (await session.query<{ u: string }>('select current_user as u', [])).rows;
        expect(who!.u).toBe('postgres');
      }
    } finally {
      session.release();
    }
  });
});
