import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  addKnowledgeAndMemory,
  holdOneRequest,
  startBulkhead,
  type RunningBulkhead,
  type TestTenant,
} from './support/bulkhead-server.ts';
import { startFakeOpenAI } from './support/fake-openai-upstream.ts';

/**
 * The tenant export: every tenant table of the live catalog, every row, checksums that recompute,
 * no secrets, no neighbour's rows. The cross-tenant assertions live here rather than in
 * isolation.test.ts.
 */
interface Populated {
  tenant: TestTenant;
  providerSecret: string;
  prompt: string;
  keys: Record<'admin' | 'member' | 'viewer', string>;
}

let server: RunningBulkhead;
let upstream: Awaited<ReturnType<typeof startFakeOpenAI>>;
let a: Populated;
let b: Populated;

async function populate(tenant: TestTenant, embeddings: number): Promise<Populated> {
  const t = tenant.apiKey;
  const providerSecret = `sk-${tenant.name}-provider-secret-${tenant.id.slice(-8)}`;
  const prompt = `export me please, ${tenant.name}`;
  const user = await server.request('POST', '/v1/users', {
    token: t,
    body: { email: `someone@${tenant.name}.test`, role: 'member' },
  });
  expect(user.status).toBe(201);
  const keys = {} as Populated['keys'];
  for (const role of ['admin', 'member', 'viewer'] as const) {
    const key = await server.request('POST', '/v1/keys', {
      token: t,
      body: { name: `${role} key`, role },
    });
    expect(key.status).toBe(201);
    keys[role] = key.body.key;
  }
  const provider = await server.request('POST', '/v1/providers', {
    token: t,
    body: {
      name: 'up',
      kind: 'openai',
      baseUrl: upstream.url,
      apiKey: providerSecret,
      models: ['gpt-x'],
    },
  });
  expect(provider.status).toBe(201);
  await server.openai(t).chat.completions.create({
    model: 'up/gpt-x',
    messages: [{ role: 'user', content: prompt }],
  });
  // Enough AI calls to need more than one page of usage records and audit events.
  const client = server.openai(keys.member);
  for (let done = 0; done < embeddings; done += 25) {
    await Promise.all(
      Array.from({ length: Math.min(25, embeddings - done) }, (_, i) =>
        client.embeddings.create({ model: 'local/hash-embed', input: `text ${done + i}` }),
      ),
    );
  }
  await server.request('POST', '/v1/access-grants', {
    token: t,
    body: {
      scope: 'audit:payloads',
      reason: 'export test',
      expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
    },
  });
  await holdOneRequest(server, t);
  await addKnowledgeAndMemory(server, tenant);
  return { tenant, providerSecret, prompt, keys };
}

interface Parsed {
  status: number;
  headers: Headers;
  text: string;
  lines: string[];
  objects: any[];
}

async function exportAs(path: string, token: string, headers: Record<string, string> = {}) {
  const response = await fetch(`${server.url}${path}`, {
    headers: { authorization: `Bearer ${token}`, ...headers },
  });
  const text = await response.text();
  const lines = text === '' ? [] : text.split('\n').slice(0, -1);
  const parsed: Parsed = {
    status: response.status,
    headers: response.headers,
    text,
    lines,
    objects: [],
  };
  if (response.status === 200) parsed.objects = lines.map((l) => JSON.parse(l));
  return parsed;
}

async function tenantTables(): Promise<string[]> {
  const rows = await server.database.ownerQuery<{ table_name: string }>(
    `select distinct c.table_name from information_schema.columns c
     join information_schema.tables t on t.table_schema = c.table_schema and t.table_name = c.table_name
     where c.table_schema = 'public' and c.column_name = 'tenant_id' and t.table_type = 'BASE TABLE'
     order by 1`,
  );
  return rows.map((r) => r.table_name);
}

async function countRows(table: string, tenantId: string): Promise<number> {
  const [row] = await server.database.ownerQuery<{ n: number }>(
    `select count(*)::int as n from "${table}" where tenant_id = $1`,
    [tenantId],
  );
  return row!.n;
}

const sha256 = (lines: string[]) => {
  const h = createHash('sha256');
  for (const l of lines) h.update(`${l}\n`, 'utf8');
  return h.digest('hex');
};

/** Every secret the database holds for a tenant, in each form an export could carry it. */
async function secretsOf(p: Populated): Promise<string[]> {
  const bytes = [
    ...(
      await server.database.ownerQuery<{ v: Uint8Array }>(
        'select key_hash as v from api_keys where tenant_id = $1',
        [p.tenant.id],
      )
    ).map((r) => r.v),
    ...(
      await server.database.ownerQuery<{ v: Uint8Array }>(
        'select wrapped_key as v from tenant_data_keys where tenant_id = $1',
        [p.tenant.id],
      )
    ).map((r) => r.v),
    ...(
      await server.database.ownerQuery<{ v: Uint8Array }>(
        'select sealed_api_key as v from providers where tenant_id = $1 and sealed_api_key is not null',
        [p.tenant.id],
      )
    ).map((r) => r.v),
  ];
  expect(bytes.length).toBeGreaterThanOrEqual(6);
  return [
    p.providerSecret,
    p.tenant.apiKey,
    ...Object.values(p.keys),
    ...bytes.flatMap((v) => [Buffer.from(v).toString('hex'), Buffer.from(v).toString('base64')]),
  ];
}

beforeAll(async () => {
  upstream = await startFakeOpenAI();
  server = await startBulkhead();
  a = await populate(await server.createTenant('export-alpha'), 520);
  b = await populate(await server.createTenant('export-bravo'), 3);
}, 120_000);
afterAll(async () => {
  await server?.close();
  await upstream?.close();
});

describe('GET /v1/export (the tenant itself)', () => {
  let exported: Parsed;
  beforeAll(async () => {
    exported = await exportAs('/v1/export', a.tenant.apiKey);
  });

  it('streams one JSONL archive as an attachment', () => {
    expect(exported.status).toBe(200);
    expect(exported.headers.get('content-type')).toBe('application/x-ndjson');
    expect(exported.headers.get('content-disposition')).toBe(
      `attachment; filename="${a.tenant.id}-export.jsonl"`,
    );
    expect(exported.objects[0]).toMatchObject({
      type: 'manifest',
      format: 'bulkhead-export/1',
      tenantId: a.tenant.id,
      auditPayloads: 'included',
    });
    expect(new Date(exported.objects[0].exportedAt).toISOString()).toBe(
      exported.objects[0].exportedAt,
    );
    expect(exported.objects.at(-1).type).toBe('end');
  });

  it("lists exactly the catalog's tenant tables, each with every one of the tenant's rows", async () => {
    const expected = await tenantTables();
    expect([...exported.objects[0].tables].sort()).toEqual(expected);
    const ends = exported.objects.filter((o) => o.type === 'table-end');
    expect(ends.map((e) => e.table)).toEqual(exported.objects[0].tables);
    for (const table of expected) {
      const rows = exported.objects.filter((o) => o.type === 'row' && o.table === table);
      const count = await countRows(table, a.tenant.id);
      expect(rows.length, table).toBe(count);
      expect(ends.find((e) => e.table === table).rows, table).toBe(count);
      expect(count, table).toBeGreaterThan(0);
    }
    // More than one page was read, in primary-key order, without repeats.
    const usage = exported.objects.filter((o) => o.table === 'usage_records' && o.type === 'row');
    expect(usage.length).toBeGreaterThan(500);
    const ids = usage.map((o) => o.row.usage_id);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
    const seqs = exported.objects
      .filter((o) => o.table === 'audit_events' && o.type === 'row')
      .map((o) => Number(o.row.seq));
    expect(seqs).toEqual(seqs.map((_, i) => i + 1));
  });

  it('carries checksums that recompute from the lines', () => {
    const rowLines = exported.lines.filter((_, i) => exported.objects[i].type === 'row');
    for (const end of exported.objects.filter((o) => o.type === 'table-end')) {
      const mine = exported.lines.filter(
        (_, i) => exported.objects[i].type === 'row' && exported.objects[i].table === end.table,
      );
      expect(end.sha256, end.table).toBe(sha256(mine));
    }
    const end = exported.objects.at(-1);
    expect(end).toEqual({ type: 'end', rows: rowLines.length, sha256: sha256(rowLines) });
  });

  it('encodes values consistently: ISO dates, bigint as strings, jsonb as JSON, bytes as base64', () => {
    const event = exported.objects.find((o) => o.table === 'audit_events' && o.type === 'row');
    expect(event.row.at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    expect(typeof event.row.seq).toBe('string');
    expect(typeof event.row.details).toBe('object');
    expect(Object.keys(event.row.hash)).toEqual(['$bytes']);
    expect(Buffer.from(event.row.hash.$bytes, 'base64')).toHaveLength(32);
    const usage = exported.objects.find((o) => o.table === 'usage_records' && o.type === 'row');
    expect(typeof usage.row.cost_nano_usd).toBe('string');
    expect(typeof usage.row.input_tokens).toBe('number');
    const provider = exported.objects.find((o) => o.table === 'providers' && o.type === 'row');
    expect(provider.row.models).toEqual(['gpt-x']);
  });

  it('withholds secrets, and says which columns', async () => {
    expect(exported.objects[0].withheld).toEqual([
      'api_keys.key_hash',
      'providers.sealed_api_key',
      'tenant_data_keys.wrapped_key',
      'audit_events.sealed_payload',
      'approvals.sealed_request',
      'approvals.sealed_result',
      'thread_messages.sealed_content',
    ]);
    for (const [table, column] of exported.objects[0].withheld.map((w: string) => w.split('.'))) {
      for (const o of exported.objects.filter((x) => x.type === 'row' && x.table === table)) {
        expect(o.row).toHaveProperty(column, null);
      }
    }
    for (const secret of await secretsOf(a)) expect(exported.text).not.toContain(secret);
  });

  it("holds nothing of the neighbour's", () => {
    expect(exported.text).not.toContain(b.tenant.id);
    expect(exported.text).not.toContain(b.prompt);
    for (const o of exported.objects.filter((x) => x.type === 'row'))
      expect(o.row.tenant_id).toBe(a.tenant.id);
  });

  it('carries the decrypted audit payloads: the tenant content is its own', () => {
    const events = exported.objects.filter((o) => o.table === 'audit_events' && o.type === 'row');
    for (const e of events) expect(e).toHaveProperty('payload');
    const chat = events.find((e) => e.row.action === 'chat.completion');
    expect(chat.payload.input).toEqual([{ role: 'user', content: a.prompt }]);
    expect(JSON.stringify(chat.payload.output)).toContain(a.prompt);
  });

  it('carries thread messages and held requests in plain text, not their ciphertext', () => {
    const messages = exported.objects.filter(
      (o) => o.table === 'thread_messages' && o.type === 'row',
    );
    expect(messages.length).toBeGreaterThan(0);
    expect(messages[0].content).toBe(`remember ${a.tenant.name}`);
    expect(messages[0].row.sealed_content).toBeNull();
    const approvals = exported.objects.filter((o) => o.table === 'approvals' && o.type === 'row');
    expect(approvals[0].request.messages[0].content).toBe('held for approval');
    expect(approvals[0].result).toBeNull();
    const manifest = exported.objects[0];
    expect(manifest.sealedContent).toContainEqual({
      column: 'thread_messages.sealed_content',
      field: 'content',
      status: 'included',
    });
  });

  it('is recorded in the trail as tenant.export, before the stream', () => {
    const events = exported.objects.filter((o) => o.table === 'audit_events' && o.type === 'row');
    const recorded = events.find((e) => e.row.action === 'tenant.export');
    expect(recorded.row).toMatchObject({ actor_kind: 'api_key', actor_id: expect.any(String) });
  });

  it('works for an admin key', async () => {
    const admin = await exportAs('/v1/export', a.keys.admin);
    expect(admin.status).toBe(200);
    expect(admin.objects.at(-1).type).toBe('end');
  });

  it('refuses an admin key narrowed below what the export reads: 403', async () => {
    const narrowed = await server.request('POST', '/v1/keys', {
      token: a.tenant.apiKey,
      body: { name: 'narrow admin', role: 'admin', scopes: ['keys:read', 'users:read'] },
    });
    expect(narrowed.status).toBe(201);
    const refused = await server.request('GET', '/v1/export', { token: narrowed.body.key });
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe('BK_FORBIDDEN');
  });

  it.each(['member', 'viewer'] as const)('refuses a %s: 403', async (role) => {
    const refused = await server.request('GET', '/v1/export', { token: a.keys[role] });
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe('BK_FORBIDDEN');
  });

  it('B exporting gets only B, never A', async () => {
    const other = await exportAs('/v1/export', b.tenant.apiKey);
    expect(other.status).toBe(200);
    expect(other.objects[0].tenantId).toBe(b.tenant.id);
    expect(other.text).not.toContain(a.tenant.id);
    expect(other.text).not.toContain(a.prompt);
    for (const secret of await secretsOf(a)) expect(other.text).not.toContain(secret);
    for (const o of other.objects.filter((x) => x.type === 'row'))
      expect(o.row.tenant_id).toBe(b.tenant.id);
    // B's key on the operator route is no operator.
    const asOperator = await server.request('GET', `/v1/admin/tenants/${a.tenant.id}/export`, {
      token: b.tenant.apiKey,
    });
    expect(asOperator.status).toBe(401);
  });
});

describe('GET /v1/admin/tenants/:tenantId/export (an operator)', () => {
  let exported: Parsed;
  beforeAll(async () => {
    exported = await exportAs(`/v1/admin/tenants/${a.tenant.id}/export`, server.adminToken, {
      'x-bulkhead-reason': 'customer asked for a copy',
    });
  });

  it("exports every row of the tenant, checksummed, and none of the neighbour's", async () => {
    expect(exported.status).toBe(200);
    expect(exported.objects[0]).toMatchObject({
      type: 'manifest',
      tenantId: a.tenant.id,
      auditPayloads: 'withheld',
    });
    expect([...exported.objects[0].tables].sort()).toEqual(await tenantTables());
    for (const table of exported.objects[0].tables) {
      const rows = exported.objects.filter((o) => o.type === 'row' && o.table === table);
      expect(rows.length, table).toBe(await countRows(table, a.tenant.id));
    }
    const rowLines = exported.lines.filter((_, i) => exported.objects[i].type === 'row');
    expect(exported.objects.at(-1)).toEqual({
      type: 'end',
      rows: rowLines.length,
      sha256: sha256(rowLines),
    });
    expect(exported.text).not.toContain(b.tenant.id);
    for (const secret of await secretsOf(a)) expect(exported.text).not.toContain(secret);
  });

  it('never carries audit payloads, thread messages or held requests', () => {
    expect(exported.text).not.toContain(a.prompt);
    expect(exported.text).not.toContain(`remember ${a.tenant.name}`);
    expect(exported.text).not.toContain('held for approval');
    const events = exported.objects.filter((o) => o.table === 'audit_events' && o.type === 'row');
    expect(events.length).toBeGreaterThan(0);
    for (const e of events) {
      expect(e).not.toHaveProperty('payload');
      expect(e.row.sealed_payload).toBeNull();
    }
  });

  it('is recorded in the tenant trail with the operator and the reason', async () => {
    const trail = await server.request('GET', '/v1/audit?action=tenant.export&limit=100', {
      token: a.tenant.apiKey,
    });
    expect(trail.status).toBe(200);
    const byOperator = trail.body.data.filter((e: any) => e.actor.kind === 'operator');
    expect(byOperator).toHaveLength(1);
    expect(byOperator[0].details).toMatchObject({ reason: 'customer asked for a copy' });
    expect(trail.body.data.some((e: any) => e.actor.kind === 'api_key')).toBe(true);
    const actions = await server.database.ownerQuery<{ reason: string }>(
      'select reason from operator_actions where target_tenant_id = $1 and reason = $2',
      [a.tenant.id, 'customer asked for a copy'],
    );
    expect(actions.length).toBeGreaterThan(1);
  });

  it('answers 404 for a tenant that does not exist, and 401 without the operator token', async () => {
    const ghost = `${a.tenant.id.slice(0, -6)}zzzzzz`;
    const missing = await server.request('GET', `/v1/admin/tenants/${ghost}/export`, {
      token: server.adminToken,
    });
    expect(missing.status).toBe(404);
    const anonymous = await server.request('GET', `/v1/admin/tenants/${a.tenant.id}/export`);
    expect(anonymous.status).toBe(401);
  });
});
