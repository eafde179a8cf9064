import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBulkhead, type RunningBulkhead, type TestTenant } from './support/bulkhead-server.ts';

/**
 * Operators see a tenant's audit metadata, never its content, unless the tenant granted access;
 * a read under a grant is an event in the tenant's own trail; revocation and expiry end it at once.
 */
let server: RunningBulkhead;
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
  server = await startBulkhead();
  a = await server.createTenant('grant-a');
  b = await server.createTenant('grant-b');
  for (const t of [a, b]) {
    await server.openai(t.apiKey).chat.completions.create({
      model: 'local/extractive',
      messages: [{ role: 'user', content: `${secretPrompt} for ${t.name}` }],
    });
  }
});
afterAll(() => server.close());

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
