import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { extract } from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  addKnowledgeAndMemory,
  holdOneRequest,
  startBulkhead,
  type RunningBulkhead,
  type TestTenant,
} from './support/bulkhead-server.ts';
import { startFakeOpenAI } from './support/fake-openai-upstream.ts';
import { runCli } from './support/processes.ts';

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

const PART_BYTES = 64 * 1024;

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
  // Small parts, so a table of a few hundred rows already spans several.
  server = await startBulkhead({ BULKHEAD_EXPORT_PART_BYTES: String(PART_BYTES) });
  a = await populate(await server.createTenant('export-alpha'), 520);
  b = await populate(await server.createTenant('export-bravo'), 3);
}, 120_000);
afterAll(async () => {
  await server?.close();
  await upstream?.close();
});

describe('GET /v1/export?format=jsonl (the tenant itself)', () => {
  let exported: Parsed;
  beforeAll(async () => {
    exported = await exportAs('/v1/export?format=jsonl', a.tenant.apiKey);
  });

  it('streams one JSONL archive as an attachment, announcing the rows to expect', () => {
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
    expect(Number(exported.headers.get('x-bulkhead-export-rows'))).toBe(
      exported.objects.at(-1).rows,
    );
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
      // Placement rows exist only where a tenant is not served (see test/promote.test.ts).
      if (table !== 'tenant_placements') expect(count, table).toBeGreaterThan(0);
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
      'tenant_placements.sealed_url',
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
    const admin = await exportAs('/v1/export?format=jsonl', a.keys.admin);
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
    const other = await exportAs('/v1/export?format=jsonl', b.tenant.apiKey);
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

describe('GET /v1/admin/tenants/:tenantId/export?format=jsonl (an operator)', () => {
  let exported: Parsed;
  beforeAll(async () => {
    exported = await exportAs(
      `/v1/admin/tenants/${a.tenant.id}/export?format=jsonl`,
      server.adminToken,
      {
        'x-bulkhead-reason': 'customer asked for a copy',
      },
    );
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

// ---------------------------------------------------------------------------------------------
// The tar archive, bulkhead-export/2

interface TarEntry {
  name: string;
  body: Buffer;
}

/** Parses a tar with tar-stream's extractor (not with the code under test). */
async function untar(bytes: Buffer): Promise<TarEntry[]> {
  const entries: TarEntry[] = [];
  const reader = extract();
  const reading = (async () => {
    for await (const entry of reader) {
      const chunks: Buffer[] = [];
      for await (const chunk of entry) chunks.push(chunk as Buffer);
      entries.push({ name: entry.header.name, body: Buffer.concat(chunks) });
    }
  })();
  reader.end(bytes);
  await reading;
  return entries;
}

interface Archive {
  status: number;
  headers: Headers;
  bytes: Buffer;
  text: string;
  /** The transfer ended with an error (the server cut it). */
  cut: boolean;
  entries: TarEntry[];
  names: string[];
  json(name: string): any;
  /** Row objects of a table, from its parts in archive order. */
  rows(table: string): any[];
  /** Every row line of the archive. */
  rowLines(): string[];
}

async function exportTar(
  path: string,
  token: string,
  headers: Record<string, string> = {},
): Promise<Archive> {
  const response = await fetch(`${server.url}${path}`, {
    headers: { authorization: `Bearer ${token}`, ...headers },
  });
  const chunks: Uint8Array[] = [];
  let cut = false;
  try {
    for await (const chunk of response.body as AsyncIterable<Uint8Array>) chunks.push(chunk);
  } catch {
    cut = true;
  }
  const bytes = Buffer.concat(chunks);
  const entries = response.status === 200 && !cut ? await untar(bytes) : [];
  const of = (table: string) => entries.filter((e) => e.name.startsWith(`tables/${table}/`));
  const lines = (body: Buffer) => {
    const text = body.toString('utf8');
    return text === '' ? [] : text.split('\n').slice(0, -1);
  };
  return {
    status: response.status,
    headers: response.headers,
    bytes,
    text: bytes.toString('utf8'),
    cut,
    entries,
    names: entries.map((e) => e.name),
    json: (name) => JSON.parse(entries.find((e) => e.name === name)!.body.toString('utf8')),
    rows: (table) => of(table).flatMap((e) => lines(e.body).map((l) => JSON.parse(l))),
    rowLines: () =>
      entries.filter((e) => e.name.startsWith('tables/')).flatMap((e) => lines(e.body)),
  };
}

const hex = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

describe('GET /v1/export (the tenant itself): a tar archive, bulkhead-export/2', () => {
  let archive: Archive;
  beforeAll(async () => {
    archive = await exportTar('/v1/export', a.tenant.apiKey);
  });

  it('is a tar attachment: export.json first, manifest.json last, the rows to expect announced first', () => {
    expect(archive.status).toBe(200);
    expect(archive.cut).toBe(false);
    expect(archive.headers.get('content-type')).toBe('application/x-tar');
    expect(archive.headers.get('content-disposition')).toBe(
      `attachment; filename="${a.tenant.id}-export.tar"`,
    );
    expect(archive.names[0]).toBe('export.json');
    expect(archive.names.at(-2)).toBe('SHA256SUMS');
    expect(archive.names.at(-1)).toBe('manifest.json');
    const header = archive.json('export.json');
    expect(header).toMatchObject({ format: 'bulkhead-export/2', tenantId: a.tenant.id });
    expect(new Date(header.exportedAt).toISOString()).toBe(header.exportedAt);
    const announced = Number(archive.headers.get('x-bulkhead-export-rows'));
    expect(announced).toBe(header.expectedRows);
    expect(header.tables.reduce((sum: number, t: any) => sum + t.expectedRows, 0)).toBe(announced);
    // Nothing was written while it ran, so what was counted at the start is what came.
    expect(archive.rowLines()).toHaveLength(announced);
    expect(archive.json('manifest.json').rows).toBe(announced);
  });

  it("holds a file for every table of the catalog, each with every one of the tenant's rows", async () => {
    const expected = await tenantTables();
    const manifest = archive.json('manifest.json');
    expect(manifest.tables.map((t: any) => t.name).sort()).toEqual(expected);
    expect(archive.json('export.json').tables.map((t: any) => t.name)).toEqual(
      manifest.tables.map((t: any) => t.name),
    );
    for (const table of expected) {
      const count = await countRows(table, a.tenant.id);
      expect(archive.names, table).toContain(`tables/${table}/part-00001.jsonl`);
      const rows = archive.rows(table);
      expect(rows.length, table).toBe(count);
      for (const r of rows) {
        expect(r).toMatchObject({ type: 'row', table });
        expect(r.row.tenant_id).toBe(a.tenant.id);
      }
      const summary = manifest.tables.find((t: any) => t.name === table);
      expect(summary.rows, table).toBe(count);
      expect(summary.expectedRows, table).toBe(count);
    }
  });

  it('has a manifest whose rows, bytes and SHA-256 match every file and every table', () => {
    const manifest = archive.json('manifest.json');
    expect(manifest).toMatchObject({
      format: 'bulkhead-export/2',
      tenantId: a.tenant.id,
      auditPayloads: 'included',
    });
    const byName = new Map(archive.entries.map((e) => [e.name, e.body]));
    // Every entry but the manifest itself is listed, and each listed file is there, byte for byte.
    expect(manifest.files.map((f: any) => f.path)).toEqual(archive.names.slice(0, -1));
    for (const f of manifest.files) {
      const body = byName.get(f.path)!;
      expect(body.length, f.path).toBe(f.bytes);
      expect(hex(body), f.path).toBe(f.sha256);
      if (f.path.startsWith('tables/')) {
        expect(body.toString('utf8').split('\n').length - 1, f.path).toBe(f.rows);
        expect(f.path.startsWith(`tables/${f.table}/`)).toBe(true);
      }
    }
    let allRows = Buffer.alloc(0);
    for (const t of manifest.tables) {
      const parts = archive.names.filter((n) => n.startsWith(`tables/${t.name}/`));
      expect(parts, t.name).toEqual(t.parts);
      const body = Buffer.concat(parts.map((p) => byName.get(p)!));
      expect(hex(body), t.name).toBe(t.sha256);
      expect(body.length, t.name).toBe(t.bytes);
      allRows = Buffer.concat([allRows, body]);
    }
    expect(manifest.sha256).toBe(hex(allRows));
    expect(manifest.bytes).toBe(allRows.length);
    // SHA256SUMS says the same, in `sha256sum -c` form.
    expect(byName.get('SHA256SUMS')!.toString('utf8')).toBe(
      manifest.files
        .filter((f: any) => f.path !== 'SHA256SUMS')
        .map((f: any) => `${f.sha256}  ${f.path}\n`)
        .join(''),
    );
  });

  it('spreads a table larger than one part over several parts, in key order, each of bounded size', () => {
    const parts = archive.entries.filter((e) => e.name.startsWith('tables/usage_records/'));
    expect(parts.length).toBeGreaterThan(2);
    expect(parts.map((p) => p.name)).toEqual(
      parts.map((_, i) => `tables/usage_records/part-${String(i + 1).padStart(5, '0')}.jsonl`),
    );
    for (const [i, part] of parts.entries()) {
      const lines = part.body.toString('utf8').split('\n').slice(0, -1);
      const last = Buffer.byteLength(`${lines.at(-1)}\n`);
      // A part closes at the first row that takes it to the limit: under it without that row…
      expect(part.body.length - last).toBeLessThan(PART_BYTES);
      // …and at or over it, unless it is the table's last part.
      if (i < parts.length - 1) expect(part.body.length).toBeGreaterThanOrEqual(PART_BYTES);
    }
    const ids = archive.rows('usage_records').map((r) => r.row.usage_id);
    expect(ids.length).toBeGreaterThan(500);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
    const seqs = archive.rows('audit_events').map((r) => Number(r.row.seq));
    expect(seqs).toEqual(seqs.map((_, i) => i + 1));
  });

  it('never carries a secret, anywhere in the archive bytes', async () => {
    const manifest = archive.json('manifest.json');
    expect(manifest.withheld).toEqual([
      'api_keys.key_hash',
      'providers.sealed_api_key',
      'tenant_data_keys.wrapped_key',
      'audit_events.sealed_payload',
      'approvals.sealed_request',
      'approvals.sealed_result',
      'thread_messages.sealed_content',
      'tenant_placements.sealed_url',
    ]);
    for (const [table, column] of manifest.withheld.map((w: string) => w.split('.'))) {
      for (const r of archive.rows(table)) expect(r.row).toHaveProperty(column, null);
    }
    for (const secret of await secretsOf(a)) expect(archive.text).not.toContain(secret);
  });

  it("holds nothing of the neighbour's", () => {
    expect(archive.text).not.toContain(b.tenant.id);
    expect(archive.text).not.toContain(b.prompt);
    expect(archive.text).not.toContain(`remember ${b.tenant.name}`);
    expect(archive.text).not.toContain(b.providerSecret);
  });

  it("carries the tenant's sealed content opened: prompts, thread messages, held requests", () => {
    const chat = archive.rows('audit_events').find((e) => e.row.action === 'chat.completion');
    expect(chat.payload.input).toEqual([{ role: 'user', content: a.prompt }]);
    expect(chat.row.sealed_payload).toBeNull();
    expect(archive.rows('thread_messages')[0].content).toBe(`remember ${a.tenant.name}`);
    expect(archive.rows('approvals')[0].request.messages[0].content).toBe('held for approval');
    expect(archive.json('manifest.json').sealedContent).toContainEqual({
      column: 'thread_messages.sealed_content',
      field: 'content',
      status: 'included',
    });
  });

  it('unpacks with tar and checks out with sha256sum', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bk-export-tar-'));
    try {
      writeFileSync(join(dir, 'export.tar'), archive.bytes);
      mkdirSync(join(dir, 'x'));
      execFileSync('tar', ['-xf', '../export.tar'], { cwd: join(dir, 'x') });
      const checked = execFileSync('sha256sum', ['-c', 'SHA256SUMS'], {
        cwd: join(dir, 'x'),
      }).toString();
      expect(checked).toContain('tables/usage_records/part-00002.jsonl: OK');
      expect(checked).not.toContain('FAILED');
      const table = execFileSync(
        'sh',
        ['-c', 'cat tables/usage_records/part-*.jsonl | sha256sum'],
        {
          cwd: join(dir, 'x'),
        },
      ).toString();
      const manifest = archive.json('manifest.json');
      expect(table.split(' ')[0]).toBe(
        manifest.tables.find((t: any) => t.name === 'usage_records').sha256,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses an unknown format with 400, and B gets only B', async () => {
    const bad = await server.request('GET', '/v1/export?format=zip', { token: a.tenant.apiKey });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('BK_VALIDATION_FAILED');
    const other = await exportTar('/v1/export', b.tenant.apiKey);
    expect(other.status).toBe(200);
    expect(other.json('manifest.json').tenantId).toBe(b.tenant.id);
    expect(other.text).not.toContain(a.tenant.id);
    expect(other.text).not.toContain(a.prompt);
    for (const line of other.rowLines()) expect(JSON.parse(line).row.tenant_id).toBe(b.tenant.id);
  });
});

describe('GET /v1/admin/tenants/:tenantId/export (an operator): a tar archive', () => {
  let archive: Archive;
  beforeAll(async () => {
    archive = await exportTar(`/v1/admin/tenants/${a.tenant.id}/export`, server.adminToken, {
      'x-bulkhead-reason': 'tar for the customer',
    });
  });

  it("holds every row of the tenant, checksummed, and none of the neighbour's", async () => {
    expect(archive.status).toBe(200);
    const manifest = archive.json('manifest.json');
    expect(manifest).toMatchObject({ tenantId: a.tenant.id, auditPayloads: 'withheld' });
    expect(manifest.tables.map((t: any) => t.name).sort()).toEqual(await tenantTables());
    for (const t of manifest.tables) {
      expect(archive.rows(t.name).length, t.name).toBe(await countRows(t.name, a.tenant.id));
      const body = Buffer.concat(
        archive.entries.filter((e) => t.parts.includes(e.name)).map((e) => e.body),
      );
      expect(hex(body), t.name).toBe(t.sha256);
    }
    expect(Number(archive.headers.get('x-bulkhead-export-rows'))).toBe(manifest.rows);
    expect(archive.text).not.toContain(b.tenant.id);
    for (const secret of await secretsOf(a)) expect(archive.text).not.toContain(secret);
  });

  it('never carries sealed content: no prompts, thread messages or held requests', () => {
    expect(archive.text).not.toContain(a.prompt);
    expect(archive.text).not.toContain(`remember ${a.tenant.name}`);
    expect(archive.text).not.toContain('held for approval');
    for (const e of archive.rows('audit_events')) expect(e).not.toHaveProperty('payload');
    for (const m of archive.rows('thread_messages')) expect(m).not.toHaveProperty('content');
    expect(
      archive.json('manifest.json').sealedContent.every((c: any) => c.status === 'withheld'),
    ).toBe(true);
  });

  it('is recorded in the tenant trail with the reason and the format', async () => {
    const trail = await server.request('GET', '/v1/audit?action=tenant.export&limit=100', {
      token: a.tenant.apiKey,
    });
    const mine = trail.body.data.filter((e: any) => e.details.reason === 'tar for the customer');
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({ actor: { kind: 'operator' }, details: { format: 'tar' } });
  });
});

/**
 * A failure once the archive is streaming: the database refuses the third operator page (a trigger
 * the schema owner puts on operator_actions for one reason only), so the server can only cut the
 * transfer. The client must be able to tell: no manifest.json.
 */
describe('an export that fails part-way', () => {
  // Each test its own reason: the trigger counts the actions of one reason.
  const reason = (test: string) => `fail part-way, please (${test})`;
  beforeAll(async () => {
    await server.database.ownerQuery(`
      create function export_test_refuse() returns trigger language plpgsql security definer as $$
      begin
        if (select count(*) from operator_actions where reason = new.reason) >= 3 then
          raise exception 'refused by the test';
        end if;
        return new;
      end $$`);
    await server.database.ownerQuery(`
      create trigger export_test_refuse before insert on operator_actions for each row
      when (new.reason like 'fail part-way, please%') execute function export_test_refuse()`);
  });
  afterAll(async () => {
    await server.database.ownerQuery('drop trigger export_test_refuse on operator_actions');
    await server.database.ownerQuery('drop function export_test_refuse()');
  });

  it('is cut: the status and the rows header went out, the manifest never does', async () => {
    const archive = await exportTar(`/v1/admin/tenants/${a.tenant.id}/export`, server.adminToken, {
      'x-bulkhead-reason': reason('http'),
    });
    expect(archive.status).toBe(200);
    expect(Number(archive.headers.get('x-bulkhead-export-rows'))).toBeGreaterThan(0);
    expect(archive.cut).toBe(true);
    // No tar header names manifest.json (export.json's note mentions it, so look for the header).
    expect(archive.bytes.includes(Buffer.from('manifest.json\0'))).toBe(false);
    expect(archive.bytes.includes(Buffer.from('"checksums"'))).toBe(false);
    expect(
      server.logs.some((l) => l.msg === 'tenant export failed part-way' && l.level === 50),
    ).toBe(true);
  });

  it('makes the CLI fail, saying so, and leave no file behind', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bk-export-cut-'));
    try {
      const out = join(dir, 'cut.tar');
      const run = await runCli(
        [
          'export',
          '--out',
          out,
          '--tenant',
          a.tenant.id,
          '--reason',
          reason('cli'),
          '--url',
          server.url,
        ],
        { BULKHEAD_ADMIN_TOKEN: server.adminToken },
      );
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('The export was cut off');
      expect(run.stderr).toContain('incomplete');
      expect(readdirSync(dir)).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('bulkhead export (the CLI, a real process against the running server)', () => {
  let dir: string;
  let asTenantFile: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'bk-export-cli-'));
    asTenantFile = join(dir, 'alpha.tar');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const cli = (args: string[], env: Record<string, string> = {}) =>
    runCli(args, { BULKHEAD_DATA_DIR: dir, BULKHEAD_API_KEY: '', ...env });

  it('exports with the tenant key: progress on stderr, a verified archive at --out', async () => {
    const run = await cli(['export', '--out', asTenantFile, '--url', server.url], {
      BULKHEAD_API_KEY: a.tenant.apiKey,
    });
    expect(run.code, run.stderr).toBe(0);
    const summary = JSON.parse(run.stdout);
    expect(summary).toMatchObject({ file: asTenantFile, tenantId: a.tenant.id });
    expect(summary.rows).toBeGreaterThan(1000);
    expect(summary.expectedRows).toBe(summary.rows);
    expect(summary.bytes).toBe(statSync(asTenantFile).size);
    expect(run.stderr).toContain(`${summary.rows}/${summary.expectedRows} rows`);
    expect(run.stderr).toMatch(/MiB done/);
    expect(statSync(asTenantFile).mode & 0o077).toBe(0);
    expect(readdirSync(dir).filter((f) => f.includes('partial'))).toEqual([]);
    const entries = await untar(readFileSync(asTenantFile));
    expect(entries.at(-1)!.name).toBe('manifest.json');
    expect(readFileSync(asTenantFile).toString('utf8')).not.toContain(b.tenant.id);

    const verified = await cli(['export', 'verify', asTenantFile]);
    expect(verified.code, verified.stderr).toBe(0);
    expect(JSON.parse(verified.stdout)).toMatchObject({
      ok: true,
      tenantId: a.tenant.id,
      rows: summary.rows,
    });
  }, 60_000);

  it('fails verify on one corrupted byte, naming the file; and on a cut archive', async () => {
    const bytes = readFileSync(asTenantFile);
    // A byte inside the second part of usage_records: a digit of a row line changed.
    const parts = (await untar(bytes)).map((e) => e.name);
    expect(parts).toContain('tables/usage_records/part-00002.jsonl');
    const start = bytes.indexOf(
      '"table":"usage_records"',
      bytes.indexOf('tables/usage_records/part-00002.jsonl'),
    );
    const at = bytes.indexOf('"input_tokens":', start) + '"input_tokens":'.length;
    const corrupt = Buffer.from(bytes);
    corrupt[at] = corrupt[at] === 0x37 ? 0x38 : 0x37;
    const damaged = join(dir, 'damaged.tar');
    writeFileSync(damaged, corrupt);
    const failed = await cli(['export', 'verify', damaged]);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain('failed verification');
    expect(failed.stderr).toContain('tables/usage_records/part-00002.jsonl: SHA-256 differs');

    const cut = join(dir, 'cut.tar');
    writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length / 2)));
    const incomplete = await cli(['export', 'verify', cut]);
    expect(incomplete.code).toBe(1);
    expect(incomplete.stderr).toMatch(/manifest\.json: missing|not a complete tar archive/);
  }, 60_000);

  it('exports as the operator with --tenant and --reason, and refuses --tenant without a reason', async () => {
    const out = join(dir, 'operator.tar');
    const run = await cli(
      [
        'export',
        '--out',
        out,
        '--tenant',
        a.tenant.id,
        '--reason',
        'cli ticket 42',
        '--url',
        server.url,
      ],
      { BULKHEAD_ADMIN_TOKEN: server.adminToken },
    );
    expect(run.code, run.stderr).toBe(0);
    const text = readFileSync(out).toString('utf8');
    expect(text).toContain('"auditPayloads": "withheld"');
    expect(text).not.toContain(a.prompt);
    expect((await cli(['export', 'verify', out])).code).toBe(0);

    const noReason = await cli(
      ['export', '--out', join(dir, 'x.tar'), '--tenant', a.tenant.id, '--url', server.url],
      { BULKHEAD_ADMIN_TOKEN: server.adminToken },
    );
    expect(noReason.code).toBe(1);
    expect(noReason.stderr).toContain('--reason is required');
    expect(existsSync(join(dir, 'x.tar'))).toBe(false);
  }, 60_000);

  it('refuses a member key and a neighbour posing as operator, writing nothing', async () => {
    const member = await cli(['export', '--out', join(dir, 'm.tar'), '--url', server.url], {
      BULKHEAD_API_KEY: a.keys.member,
    });
    expect(member.code).toBe(1);
    expect(member.stderr).toContain('HTTP 403');
    const posing = await cli(
      [
        'export',
        '--out',
        join(dir, 'p.tar'),
        '--tenant',
        a.tenant.id,
        '--reason',
        'mine now',
        '--url',
        server.url,
      ],
      { BULKHEAD_ADMIN_TOKEN: b.tenant.apiKey },
    );
    expect(posing.code).toBe(1);
    expect(posing.stderr).toContain('HTTP 401');
    expect(existsSync(join(dir, 'm.tar'))).toBe(false);
    expect(existsSync(join(dir, 'p.tar'))).toBe(false);
  }, 60_000);
});
