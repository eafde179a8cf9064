import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  exportJWK,
  generateKeyPair,
  SignJWT,
  UnsecuredJWT,
  type CryptoKey,
  type JWTPayload,
} from 'jose';
import { AuthenticationError, PermissionDeniedError, type APIError } from 'openai';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startBulkhead, type RunningBulkhead, type TestTenant } from './support/bulkhead-server.ts';

type Reply = Awaited<ReturnType<RunningBulkhead['request']>>;

const keyPattern = /^bk_(tn_[0-9a-z]{26})_([A-Za-z0-9_-]{43})$/;
const hello = [{ role: 'user' as const, content: 'hello there' }];
const chatBody = { model: 'local/extractive', messages: hello };
/** A well-formed tenant id that no server ever issued (ids start with a timestamp). */
const unknownTenantId = `tn_${'0'.repeat(26)}`;

/** The OpenAI error shape, with the expected status and code. */
function expectError(reply: Reply, status: number, code: string): void {
  expect({ status: reply.status, code: reply.body?.error?.code }).toEqual({ status, code });
  expect(Object.keys(reply.body.error as object).sort()).toEqual([
    'code',
    'message',
    'param',
    'type',
  ]);
  expect(reply.body.error.message).toEqual(expect.any(String));
  expect(reply.body.error.message.length).toBeGreaterThan(0);
  expect(reply.body.error.type).toEqual(expect.any(String));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function createKey(
  server: RunningBulkhead,
  token: string,
  body: Record<string, unknown>,
): Promise<{ id: string; key: string }> {
  const created = await server.request('POST', '/v1/keys', { token, body });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  return { id: created.body.id, key: created.body.key };
}

describe('API keys, roles, tenants and the admin API', () => {
  let server: RunningBulkhead;
  let tenant: TestTenant;
  let other: TestTenant;

  beforeAll(async () => {
    server = await startBulkhead();
    tenant = await server.createTenant('identity-a');
    other = await server.createTenant('identity-b');
  });
  afterAll(() => server?.close());

  describe('API keys', () => {
    it('shows a created key once, in the bk_<tenant>_<secret> format, and never again', async () => {
      expect(tenant.apiKey).toMatch(keyPattern);
      expect(tenant.apiKey.startsWith(`bk_${tenant.id}_`)).toBe(true);

      const created = await server.request('POST', '/v1/keys', {
        token: tenant.apiKey,
        body: { name: 'shown once' },
      });
      expect(created.status).toBe(201);
      const secret: string = created.body.key;
      expect(secret).toMatch(keyPattern);
      expect(keyPattern.exec(secret)?.[1]).toBe(tenant.id);
      expect(created.body).toMatchObject({ object: 'api_key', name: 'shown once', role: 'member' });

      const digest = createHash('sha256').update(secret).digest();
      const leaks = [
        secret,
        secret.slice(-43),
        digest.toString('hex'),
        digest.toString('base64'),
        digest.toString('base64url'),
      ];
      const list = await server.request('GET', '/v1/keys?limit=100', { token: tenant.apiKey });
      const one = await server.request('GET', `/v1/keys/${created.body.id}`, {
        token: tenant.apiKey,
      });
      expect(list.status).toBe(200);
      expect(one.status).toBe(200);
      expect(list.body.data.map((k: { id: string }) => k.id)).toContain(created.body.id);
      expect(one.body.id).toBe(created.body.id);
      for (const shown of [...list.body.data, one.body] as Record<string, unknown>[]) {
        expect(shown).not.toHaveProperty('key');
        expect(Object.keys(shown).filter((k) => /hash|secret/i.test(k))).toEqual([]);
      }
      const text = JSON.stringify([list.body, one.body]);
      for (const leak of leaks) expect(text).not.toContain(leak);
    });

    it('revokes a key effective on the very next request', async () => {
      const victim = await createKey(server, tenant.apiKey, { name: 'to revoke' });
      const client = server.openai(victim.key);
      expect((await client.models.list()).data.length).toBeGreaterThan(0);

      const revoked = await server.request('DELETE', `/v1/keys/${victim.id}`, {
        token: tenant.apiKey,
      });
      expect(revoked.status).toBe(200);
      expect(revoked.body.revokedAt).toEqual(expect.any(String));

      expectError(
        await server.request('GET', '/v1/models', { token: victim.key }),
        401,
        'BK_KEY_REVOKED',
      );
      const error = await client.models.list().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(AuthenticationError);
      expect((error as APIError).code).toBe('BK_KEY_REVOKED');
    });

    it('refuses a key once it has expired (tenant-issued and operator-issued)', async () => {
      const expiresAt = new Date(Date.now() + 1500).toISOString();
      const own = await createKey(server, tenant.apiKey, { name: 'short-lived', expiresAt });
      const byOperator = await server.request('POST', `/v1/admin/tenants/${tenant.id}/keys`, {
        token: server.adminToken,
        body: { name: 'short-lived operator key', role: 'viewer', expiresAt },
      });
      expect(byOperator.status).toBe(201);
      expect(byOperator.body.expiresAt).toBe(expiresAt);
      for (const key of [own.key, byOperator.body.key as string]) {
        expect((await server.request('GET', '/v1/models', { token: key })).status).toBe(200);
      }

      await sleep(Date.parse(expiresAt) - Date.now() + 150);
      for (const key of [own.key, byOperator.body.key as string]) {
        expectError(
          await server.request('GET', '/v1/models', { token: key }),
          401,
          'BK_KEY_EXPIRED',
        );
      }
    });

    it("refuses a key edited to claim another tenant's id", async () => {
      const claimed = keyPattern.exec(tenant.apiKey);
      expect(claimed).not.toBeNull();
      for (const tenantId of [other.id, unknownTenantId]) {
        const forged = `bk_${tenantId}_${claimed![2]}`;
        const reply = await server.request('GET', '/v1/models', { token: forged });
        expectError(reply, 401, 'BK_UNAUTHENTICATED');
        expect(JSON.stringify(reply.body)).not.toContain(other.name);
      }
      const providers = await server.request('GET', '/v1/providers', {
        token: `bk_${other.id}_${claimed![2]}`,
      });
      expectError(providers, 401, 'BK_UNAUTHENTICATED');
    });

    it.each([
      ['no Authorization header', {}],
      ['an empty bearer', { authorization: 'Bearer ' }],
      ['a Basic credential', { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` }],
      ['garbage', { authorization: 'Bearer not-a-key' }],
      ['a bk_ prefix with garbage', { authorization: 'Bearer bk_garbage' }],
      ['a key with a truncated secret', { authorization: 'Bearer bk_tn_x_short' }],
    ])('answers 401 in the OpenAI error shape for %s', async (_label, headers) => {
      const reply = await server.request('GET', '/v1/models', { headers });
      expectError(reply, 401, 'BK_UNAUTHENTICATED');
      expect(reply.body.error.type).toBe('authentication_error');
    });

    it('answers the openai SDK with an AuthenticationError for a garbage key', async () => {
      const error = await server
        .openai('sk-not-a-bulkhead-key')
        .chat.completions.create(chatBody)
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(AuthenticationError);
      expect((error as APIError).code).toBe('BK_UNAUTHENTICATED');
    });
  });

  describe('roles and scopes', () => {
    let viewer: string;
    let member: string;
    let admin: string;
    let modelsOnly: string;
    const providerBody = {
      name: 'viewer-made',
      kind: 'openai',
      baseUrl: 'https://api.example.com/v1',
      models: ['m'],
    };

    beforeAll(async () => {
      viewer = (await createKey(server, tenant.apiKey, { name: 'viewer', role: 'viewer' })).key;
      member = (await createKey(server, tenant.apiKey, { name: 'member', role: 'member' })).key;
      admin = (await createKey(server, tenant.apiKey, { name: 'admin', role: 'admin' })).key;
      modelsOnly = (
        await createKey(server, tenant.apiKey, {
          name: 'models only',
          role: 'member',
          scopes: ['models:read'],
        })
      ).key;
    });

    it("does not let an admin revoke an owner's key, but lets it revoke a member's", async () => {
      const owner = await createKey(server, tenant.apiKey, { name: 'second owner', role: 'owner' });
      const denied = await server.request('DELETE', `/v1/keys/${owner.id}`, { token: admin });
      expect(denied.status).toBe(403);
      expect(denied.body.error.code).toBe('BK_FORBIDDEN');
      expect((await server.request('GET', '/v1/models', { token: owner.key })).status).toBe(200);
      const worker = await createKey(server, tenant.apiKey, { name: 'worker', role: 'member' });
      const revoked = await server.request('DELETE', `/v1/keys/${worker.id}`, { token: admin });
      expect(revoked.status).toBe(200);
      expect((await server.request('GET', '/v1/models', { token: worker.key })).status).toBe(401);
    });

    it('lets a viewer list models and read usage, but not chat or add providers', async () => {
      const client = server.openai(viewer);
      expect((await client.models.list()).data.map((m) => m.id)).toContain('local/extractive');
      const usage = await server.request('GET', '/v1/usage', { token: viewer });
      expect(usage.status).toBe(200);
      expect(usage.body.object).toBe('usage_report');

      const chat = await client.chat.completions.create(chatBody).catch((e: unknown) => e);
      expect(chat).toBeInstanceOf(PermissionDeniedError);
      expect((chat as APIError).code).toBe('BK_FORBIDDEN');
      expectError(
        await server.request('POST', '/v1/chat/completions', { token: viewer, body: chatBody }),
        403,
        'BK_FORBIDDEN',
      );
      const provider = await server.request('POST', '/v1/providers', {
        token: viewer,
        body: providerBody,
      });
      expectError(provider, 403, 'BK_FORBIDDEN');
      expect(provider.body.error.message).toContain('providers:write');
      const providers = await server.request('GET', '/v1/providers', { token: tenant.apiKey });
      expect(providers.body.data.map((p: { name: string }) => p.name)).not.toContain('viewer-made');
    });

    it('lets a member chat but not create keys', async () => {
      const completion = await server.openai(member).chat.completions.create(chatBody);
      expect(completion.object).toBe('chat.completion');
      const before = await server.request('GET', '/v1/keys?limit=100', { token: tenant.apiKey });
      expectError(
        await server.request('POST', '/v1/keys', { token: member, body: { name: 'sneaky' } }),
        403,
        'BK_FORBIDDEN',
      );
      const after = await server.request('GET', '/v1/keys?limit=100', { token: tenant.apiKey });
      expect(after.body.data).toHaveLength(before.body.data.length);
    });

    it('does not let an admin create an owner key', async () => {
      const reply = await server.request('POST', '/v1/keys', {
        token: admin,
        body: { name: 'escalate', role: 'owner' },
      });
      expectError(reply, 403, 'BK_FORBIDDEN');
      expect(reply.body.error.message).toMatch(/owner/);
      const ok = await server.request('POST', '/v1/keys', {
        token: admin,
        body: { name: 'a fellow admin', role: 'admin' },
      });
      expect(ok.status).toBe(201);
    });

    it("limits a key with scopes ['models:read'] to listing models", async () => {
      const client = server.openai(modelsOnly);
      expect((await client.models.list()).data.length).toBeGreaterThan(0);
      expect((await client.models.retrieve('local/extractive')).id).toBe('local/extractive');
      const chat = await client.chat.completions.create(chatBody).catch((e: unknown) => e);
      expect(chat).toBeInstanceOf(PermissionDeniedError);
      const embeddings = await client.embeddings
        .create({ model: 'local/hash-embed', input: 'x' })
        .catch((e: unknown) => e);
      expect(embeddings).toBeInstanceOf(PermissionDeniedError);
      for (const path of ['/v1/usage', '/v1/providers', '/v1/keys', '/v1/users']) {
        expectError(await server.request('GET', path, { token: modelsOnly }), 403, 'BK_FORBIDDEN');
      }
    });

    it('does not let a key grant scopes it lacks', async () => {
      const narrowAdmin = (
        await createKey(server, tenant.apiKey, {
          name: 'key manager',
          role: 'admin',
          scopes: ['keys:read', 'keys:write', 'models:read'],
        })
      ).key;
      const wider = await server.request('POST', '/v1/keys', {
        token: narrowAdmin,
        body: { name: 'wider', role: 'member', scopes: ['models:read', 'inference'] },
      });
      expectError(wider, 403, 'BK_FORBIDDEN');
      expect(wider.body.error.message).toContain('inference');
      // No scopes means all of the role's: a member key holds 'inference', which this key lacks.
      expectError(
        await server.request('POST', '/v1/keys', {
          token: narrowAdmin,
          body: { name: 'implicit', role: 'member' },
        }),
        403,
        'BK_FORBIDDEN',
      );
      const narrower = await server.request('POST', '/v1/keys', {
        token: narrowAdmin,
        body: { name: 'narrower', role: 'viewer', scopes: ['models:read'] },
      });
      expect(narrower.status).toBe(201);
      expect(narrower.body.scopes).toEqual(['models:read']);
    });
  });

  describe('tenant suspension', () => {
    it("refuses a suspended tenant's keys at once, leaves others alone, and resumes", async () => {
      const suspended = await server.createTenant('to suspend');
      const bystander = await server.createTenant('bystander');
      const suspendedClient = server.openai(suspended.apiKey);
      expect((await suspendedClient.chat.completions.create(chatBody)).object).toBe(
        'chat.completion',
      );

      const reply = await server.request('POST', `/v1/admin/tenants/${suspended.id}/suspend`, {
        token: server.adminToken,
      });
      expect(reply.status).toBe(200);
      expect(reply.body).toMatchObject({ id: suspended.id, status: 'suspended' });

      expectError(
        await server.request('GET', '/v1/models', { token: suspended.apiKey }),
        403,
        'BK_TENANT_SUSPENDED',
      );
      const chat = await suspendedClient.chat.completions.create(chatBody).catch((e: unknown) => e);
      expect(chat).toBeInstanceOf(PermissionDeniedError);
      expect((chat as APIError).code).toBe('BK_TENANT_SUSPENDED');
      expect((await server.openai(bystander.apiKey).chat.completions.create(chatBody)).object).toBe(
        'chat.completion',
      );
      const shown = await server.request('GET', `/v1/admin/tenants/${suspended.id}`, {
        token: server.adminToken,
      });
      expect(shown.body.status).toBe('suspended');

      const resumed = await server.request('POST', `/v1/admin/tenants/${suspended.id}/resume`, {
        token: server.adminToken,
      });
      expect(resumed.status).toBe(200);
      expect(resumed.body.status).toBe('active');
      expect((await suspendedClient.chat.completions.create(chatBody)).object).toBe(
        'chat.completion',
      );
    });
  });

  describe('admin API', () => {
    it.each<[string, () => string | undefined]>([
      ['no token', () => undefined],
      ['a wrong operator token', () => 'x'.repeat(64)],
      [
        'the operator token with its last character changed',
        () => `${server.adminToken.slice(0, -1)}${server.adminToken.endsWith('0') ? '1' : '0'}`,
      ],
      ['the operator token with a suffix', () => `${server.adminToken}0`],
      ["a tenant's owner key", () => tenant.apiKey],
    ])('answers 401 to %s', async (_label, credential) => {
      const token = credential();
      const before = await server.request('GET', '/v1/admin/tenants?limit=100', {
        token: server.adminToken,
      });
      for (const [method, path, body] of [
        ['GET', '/v1/admin/tenants', undefined],
        ['POST', '/v1/admin/tenants', { name: 'not allowed' }],
        ['GET', `/v1/admin/tenants/${tenant.id}`, undefined],
        ['POST', `/v1/admin/tenants/${tenant.id}/suspend`, undefined],
        ['POST', `/v1/admin/tenants/${tenant.id}/keys`, { name: 'not allowed' }],
      ] as const) {
        const reply = await server.request(method, path, {
          ...(token !== undefined && { token }),
          ...(body !== undefined && { body }),
        });
        expectError(reply, 401, 'BK_UNAUTHENTICATED');
      }
      const after = await server.request('GET', '/v1/admin/tenants?limit=100', {
        token: server.adminToken,
      });
      expect(after.body.data).toEqual(before.body.data);
    });

    it('creates a tenant with its owner key', async () => {
      const created = await server.request('POST', '/v1/admin/tenants', {
        token: server.adminToken,
        body: { name: 'Acme Corp' },
      });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({
        id: expect.stringMatching(/^tn_[0-9a-z]{26}$/),
        name: 'Acme Corp',
        status: 'active',
        apiKey: expect.stringMatching(keyPattern),
      });
      expect((created.body.apiKey as string).startsWith(`bk_${created.body.id}_`)).toBe(true);
      const keys = await server.request('GET', '/v1/keys', { token: created.body.apiKey });
      expect(keys.status).toBe(200);
      expect(keys.body.data).toEqual([expect.objectContaining({ role: 'owner' })]);
    });

    it('lists tenants page by page', async () => {
      const created = [];
      for (let i = 0; i < 3; i++) created.push(await server.createTenant(`page-${i}`));
      const seen: string[] = [];
      let after: string | undefined;
      for (let pages = 0; pages < 50; pages++) {
        const query = after === undefined ? '?limit=2' : `?limit=2&after=${after}`;
        const page = await server.request('GET', `/v1/admin/tenants${query}`, {
          token: server.adminToken,
        });
        expect(page.status).toBe(200);
        expect(page.body.object).toBe('list');
        expect(page.body.data.length).toBeLessThanOrEqual(2);
        const ids = page.body.data.map((t: { id: string }) => t.id) as string[];
        expect(page.body.first_id).toBe(ids[0] ?? null);
        expect(page.body.last_id).toBe(ids.at(-1) ?? null);
        seen.push(...ids);
        if (!page.body.has_more) break;
        expect(ids).toHaveLength(2);
        after = page.body.last_id;
      }
      expect(new Set(seen).size).toBe(seen.length);
      expect([...seen].sort()).toEqual(seen);
      expect(seen).toEqual(
        expect.arrayContaining([tenant.id, other.id, ...created.map((t) => t.id)]),
      );
    });

    it.each([
      ['an unknown tenant id', unknownTenantId],
      ['a malformed tenant id', 'nope'],
      ['a key id in place of a tenant id', 'key_01m80rdsgn2wefe749z2fdysss'],
      ['an upper-case tenant id', `TN_${'A'.repeat(26)}`],
    ])('answers 404 for %s', async (_label, id) => {
      for (const [method, path, body] of [
        ['GET', `/v1/admin/tenants/${id}`, undefined],
        ['POST', `/v1/admin/tenants/${id}/suspend`, undefined],
        ['POST', `/v1/admin/tenants/${id}/keys`, { name: 'k' }],
        ['DELETE', `/v1/admin/tenants/${id}/keys/${tenant.apiKeyId}`, undefined],
      ] as const) {
        const reply = await server.request(method, path, {
          token: server.adminToken,
          ...(body !== undefined && { body }),
        });
        expectError(reply, 404, 'BK_NOT_FOUND');
      }
    });

    it("creates and revokes a tenant's keys as the operator", async () => {
      const target = await server.createTenant('operator keys');
      const created = await server.request('POST', `/v1/admin/tenants/${target.id}/keys`, {
        token: server.adminToken,
        body: { name: 'support viewer', role: 'viewer' },
      });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({ name: 'support viewer', role: 'viewer' });
      expect(created.body.createdBy).toMatch(/^operator:/);
      const key: string = created.body.key;
      expect(key.startsWith(`bk_${target.id}_`)).toBe(true);
      expect((await server.request('GET', '/v1/models', { token: key })).status).toBe(200);
      expectError(
        await server.request('POST', '/v1/chat/completions', { token: key, body: chatBody }),
        403,
        'BK_FORBIDDEN',
      );

      // Another tenant's path does not reach this key.
      expectError(
        await server.request('DELETE', `/v1/admin/tenants/${other.id}/keys/${created.body.id}`, {
          token: server.adminToken,
        }),
        404,
        'BK_NOT_FOUND',
      );
      expect((await server.request('GET', '/v1/models', { token: key })).status).toBe(200);

      const revoked = await server.request(
        'DELETE',
        `/v1/admin/tenants/${target.id}/keys/${created.body.id}`,
        { token: server.adminToken },
      );
      expect(revoked.status).toBe(200);
      expect(revoked.body.revokedAt).toEqual(expect.any(String));
      expect(revoked.body).not.toHaveProperty('key');
      expectError(await server.request('GET', '/v1/models', { token: key }), 401, 'BK_KEY_REVOKED');
      expect((await server.request('GET', '/v1/models', { token: target.apiKey })).status).toBe(
        200,
      );
    });
  });

  describe('users', () => {
    let owner: TestTenant;
    let admin: string;

    beforeAll(async () => {
      owner = await server.createTenant('users');
      admin = (await createKey(server, owner.apiKey, { name: 'user admin', role: 'admin' })).key;
    });

    const listUsers = async (query = '?limit=100') => {
      const reply = await server.request('GET', `/v1/users${query}`, { token: admin });
      expect(reply.status).toBe(200);
      return reply.body as {
        data: { id: string; email: string | null; subject: string | null; role: string }[];
        has_more: boolean;
        last_id: string | null;
      };
    };

    it('lets an admin create, update and list users, page by page', async () => {
      const made = [];
      for (const body of [
        { email: 'ada@example.com', displayName: 'Ada', role: 'member' },
        { subject: 'idp|grace', role: 'viewer' },
        { email: 'alan@example.com', role: 'admin' },
      ]) {
        const reply = await server.request('POST', '/v1/users', { token: admin, body });
        expect(reply.status, JSON.stringify(reply.body)).toBe(201);
        expect(reply.body).toMatchObject({ object: 'user', role: body.role });
        made.push(reply.body as { id: string });
      }
      expectError(
        await server.request('POST', '/v1/users', {
          token: admin,
          body: { email: 'boss@example.com', role: 'owner' },
        }),
        403,
        'BK_FORBIDDEN',
      );

      const updated = await server.request('PATCH', `/v1/users/${made[0]!.id}`, {
        token: admin,
        body: { role: 'viewer', displayName: 'Ada L.' },
      });
      expect(updated.status).toBe(200);
      expect(updated.body).toMatchObject({ role: 'viewer', displayName: 'Ada L.' });
      expect(
        (await server.request('GET', `/v1/users/${made[0]!.id}`, { token: admin })).body.role,
      ).toBe('viewer');
      expectError(
        await server.request('PATCH', `/v1/users/${made[0]!.id}`, {
          token: admin,
          body: { role: 'owner' },
        }),
        403,
        'BK_FORBIDDEN',
      );

      const first = await listUsers('?limit=2');
      expect(first.data).toHaveLength(2);
      expect(first.has_more).toBe(true);
      const second = await listUsers(`?limit=2&after=${first.last_id}`);
      expect(second.has_more).toBe(false);
      const ids = [...first.data, ...second.data].map((u) => u.id);
      expect(ids.sort()).toEqual(made.map((u) => u.id).sort());
    });

    it('refuses a duplicate email with 409 and creates nothing', async () => {
      const created = await server.request('POST', '/v1/users', {
        token: admin,
        body: { email: 'dup@example.com' },
      });
      expect(created.status).toBe(201);
      const before = await listUsers();
      expectError(
        await server.request('POST', '/v1/users', {
          token: admin,
          body: { email: 'dup@example.com', role: 'viewer' },
        }),
        409,
        'BK_CONFLICT',
      );
      expect((await listUsers()).data).toEqual(before.data);
    });

    it("deletes a user and revokes that user's keys", async () => {
      const user = await server.request('POST', '/v1/users', {
        token: admin,
        body: { email: 'leaver@example.com', role: 'member' },
      });
      expect(user.status).toBe(201);
      const key = await createKey(server, admin, {
        name: "leaver's key",
        role: 'member',
        userId: user.body.id,
      });
      expect((await server.request('GET', '/v1/models', { token: key.key })).status).toBe(200);

      const deleted = await server.request('DELETE', `/v1/users/${user.body.id}`, { token: admin });
      expect(deleted.status).toBe(200);
      expect(deleted.body).toEqual({ id: user.body.id, object: 'user', deleted: true });

      expectError(
        await server.request('GET', '/v1/models', { token: key.key }),
        401,
        'BK_KEY_REVOKED',
      );
      expectError(
        await server.request('GET', `/v1/users/${user.body.id}`, { token: admin }),
        404,
        'BK_NOT_FOUND',
      );
      expect((await listUsers()).data.map((u) => u.id)).not.toContain(user.body.id);
      const shown = await server.request('GET', `/v1/keys/${key.id}`, { token: admin });
      expect(shown.body.revokedAt).toEqual(expect.any(String));
    });

    it('does not let an admin change or delete an owner', async () => {
      const boss = await server.request('POST', '/v1/users', {
        token: owner.apiKey,
        body: { email: 'boss@example.com', role: 'owner' },
      });
      expect(boss.status).toBe(201);
      expectError(
        await server.request('PATCH', `/v1/users/${boss.body.id}`, {
          token: admin,
          body: { role: 'viewer' },
        }),
        403,
        'BK_FORBIDDEN',
      );
      expectError(
        await server.request('DELETE', `/v1/users/${boss.body.id}`, { token: admin }),
        403,
        'BK_FORBIDDEN',
      );
      const still = await server.request('GET', `/v1/users/${boss.body.id}`, { token: admin });
      expect(still.body.role).toBe('owner');
    });
  });

  describe('logs and request ids', () => {
    it('never logs a key secret or the operator token', async () => {
      const key = await createKey(server, tenant.apiKey, { name: 'log probe' });
      await server.request('GET', '/v1/models', { token: key.key });
      await server.request('POST', '/v1/chat/completions', { token: key.key, body: chatBody });
      await server.request('GET', '/v1/models', { token: `${key.key.slice(0, -2)}xx` });
      await server.request('GET', '/v1/admin/tenants', { token: server.adminToken });
      await server.request('GET', '/v1/admin/tenants', { token: `${server.adminToken}x` });
      const logs = JSON.stringify(server.logs);
      expect(server.logs.length).toBeGreaterThan(10);
      for (const secret of [
        key.key,
        key.key.slice(-43),
        tenant.apiKey.slice(-43),
        server.adminToken,
        server.adminToken.slice(-32),
      ]) {
        expect(logs).not.toContain(secret);
      }
    });

    it('tags request log lines with reqId, and with tenantId once authenticated', async () => {
      const requestId = 'log-tenant-probe-1';
      const reply = await server.request('POST', '/v1/chat/completions', {
        token: tenant.apiKey,
        body: chatBody,
        headers: { 'x-request-id': requestId },
      });
      expect(reply.status).toBe(200);
      await vi.waitFor(() =>
        expect(
          server.logs.some((l) => l.reqId === requestId && l.msg === 'request completed'),
        ).toBe(true),
      );
      for (const line of server.logs.filter((l) => 'req' in l || 'res' in l)) {
        expect(line.reqId).toEqual(expect.any(String));
      }
      const lines = server.logs.filter((l) => l.reqId === requestId);
      expect(lines[0]?.msg).toBe('incoming request');
      const afterAuthentication = lines.slice(1);
      expect(afterAuthentication.length).toBeGreaterThan(0);
      for (const line of afterAuthentication) {
        expect({ msg: line.msg, tenantId: line.tenantId }).toEqual({
          msg: line.msg,
          tenantId: tenant.id,
        });
      }
    });

    it('answers with an x-request-id, echoing a valid incoming one', async () => {
      const generated = await server.request('GET', '/v1/models', { token: tenant.apiKey });
      expect(generated.headers.get('x-request-id')).toMatch(/^req_[0-9a-z]{26}$/);

      const echoed = await server.request('GET', '/v1/models', {
        token: tenant.apiKey,
        headers: { 'x-request-id': 'trace-abc.123:4_5-6' },
      });
      expect(echoed.headers.get('x-request-id')).toBe('trace-abc.123:4_5-6');

      const onError = await server.request('GET', '/v1/models', {
        headers: { 'x-request-id': 'trace-unauthenticated' },
      });
      expect(onError.status).toBe(401);
      expect(onError.headers.get('x-request-id')).toBe('trace-unauthenticated');

      for (const invalid of ['x'.repeat(65), 'has spaces in it', 'semi;colon', '<script>']) {
        const replaced = await server.request('GET', '/v1/models', {
          token: tenant.apiKey,
          headers: { 'x-request-id': invalid },
        });
        expect(replaced.headers.get('x-request-id')).toMatch(/^req_[0-9a-z]{26}$/);
      }
    });
  });
});

const issuer = 'https://idp.example.com/';
const audience = 'bulkhead-tests';

describe('bearer JWTs signed with a shared secret', () => {
  const secret = 'a shared secret that is long enough for HS256 signing';
  const key = new TextEncoder().encode(secret);
  let server: RunningBulkhead;
  let tenantA: TestTenant;
  let tenantB: TestTenant;

  beforeAll(async () => {
    server = await startBulkhead({
      BULKHEAD_JWT_SECRET: secret,
      BULKHEAD_JWT_ISSUER: issuer,
      BULKHEAD_JWT_AUDIENCE: audience,
    });
    tenantA = await server.createTenant('jwt-a');
    tenantB = await server.createTenant('jwt-b');
    const provider = await server.request('POST', '/v1/providers', {
      token: tenantB.apiKey,
      body: {
        name: 'b-private',
        kind: 'openai',
        baseUrl: 'https://api.example.com/v1',
        models: ['b-model'],
      },
    });
    expect(provider.status).toBe(201);
  });
  afterAll(() => server?.close());

  interface TokenOptions {
    issuer?: string;
    audience?: string;
    expires?: number | string;
    signingKey?: Uint8Array;
  }
  function sign(claims: JWTPayload, options: TokenOptions = {}): Promise<string> {
    return new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer(options.issuer ?? issuer)
      .setAudience(options.audience ?? audience)
      .setIssuedAt()
      .setExpirationTime(options.expires ?? '5m')
      .sign(options.signingKey ?? key);
  }

  it('lets a valid token chat through the openai SDK', async () => {
    const token = await sign({ tenant_id: tenantA.id, sub: 'idp|chatter' });
    const completion = await server.openai(token).chat.completions.create({
      model: 'local/extractive',
      messages: [
        { role: 'system', content: 'Bulkhead stores usage records. Bananas are yellow.' },
        { role: 'user', content: 'What does Bulkhead store?' },
      ],
    });
    expect(completion.object).toBe('chat.completion');
    expect(completion.choices[0]?.message.content).toContain('usage');
  });

  type Ids = { a: string; b: string };
  it.each<[string, (ids: Ids) => Promise<string>]>([
    [
      'a wrong issuer',
      ({ a }) => sign({ tenant_id: a, sub: 'u' }, { issuer: 'https://evil.example/' }),
    ],
    ['a wrong audience', ({ a }) => sign({ tenant_id: a, sub: 'u' }, { audience: 'someone-else' })],
    [
      'an expired token',
      ({ a }) => sign({ tenant_id: a, sub: 'u' }, { expires: Math.floor(Date.now() / 1000) - 120 }),
    ],
    [
      'a bad signature',
      ({ a }) =>
        sign(
          { tenant_id: a, sub: 'u' },
          { signingKey: new TextEncoder().encode('another secret, also long enough to sign') },
        ),
    ],
    [
      'a payload swapped under a valid signature',
      async ({ a, b }) => {
        const [header, , signature] = (await sign({ tenant_id: b, sub: 'u' })).split('.');
        const exp = Math.floor(Date.now() / 1000) + 300;
        const payload = Buffer.from(
          JSON.stringify({ tenant_id: a, sub: 'u', iss: issuer, aud: audience, exp }),
        ).toString('base64url');
        return `${header}.${payload}.${signature}`;
      },
    ],
    [
      'an unsigned token (alg none)',
      ({ a }) =>
        Promise.resolve(
          new UnsecuredJWT({ tenant_id: a, sub: 'u' })
            .setIssuer(issuer)
            .setAudience(audience)
            .setExpirationTime('5m')
            .encode(),
        ),
    ],
    ['no tenant claim', () => sign({ sub: 'u' })],
    ['a tenant claim that is not a tenant id', () => sign({ tenant_id: 'acme', sub: 'u' })],
    ['a tenant claim that is a number', () => sign({ tenant_id: 42, sub: 'u' })],
    [
      'the id of a tenant that does not exist',
      () => sign({ tenant_id: unknownTenantId, sub: 'u' }),
    ],
    ['no subject', ({ a }) => sign({ tenant_id: a })],
    [
      'a subject the database cannot store (NUL)',
      ({ a }) => sign({ tenant_id: a, sub: 'u\u0000v' }),
    ],
    ['not a JWT at all', () => Promise.resolve('eyJ.not.a-jwt')],
  ])('refuses %s with 401', async (_label, makeToken) => {
    const token = await makeToken({ a: tenantA.id, b: tenantB.id });
    const before = await usersOf(tenantA);
    const reply = await server.request('GET', '/v1/models', { token });
    expectError(reply, 401, 'BK_UNAUTHENTICATED');
    expect(reply.body.error.type).toBe('authentication_error');
    expect(await usersOf(tenantA)).toEqual(before);
  });

  async function usersOf(tenant: TestTenant) {
    const reply = await server.request('GET', '/v1/users?limit=100', { token: tenant.apiKey });
    return reply.body.data as unknown[];
  }

  it('provisions the user on first sight, with the token subject', async () => {
    const token = await sign({
      tenant_id: tenantA.id,
      sub: 'idp|first-sight',
      email: 'first@example.com',
    });
    expect((await server.request('GET', '/v1/models', { token })).status).toBe(200);
    expect((await server.request('GET', '/v1/models', { token })).status).toBe(200);
    const admin = await createKey(server, tenantA.apiKey, { name: 'admin', role: 'admin' });
    const users = await server.request('GET', '/v1/users?limit=100', { token: admin.key });
    const mine = (
      users.body.data as { subject: string | null; role: string; email: string }[]
    ).filter((u) => u.subject === 'idp|first-sight');
    expect(mine).toEqual([
      expect.objectContaining({
        subject: 'idp|first-sight',
        role: 'member',
        email: 'first@example.com',
      }),
    ]);
    const inB = await server.request('GET', '/v1/users?limit=100', { token: tenantB.apiKey });
    expect(JSON.stringify(inB.body)).not.toContain('idp|first-sight');
  });

  it('honours the role claim', async () => {
    const viewer = await sign({
      tenant_id: tenantA.id,
      sub: 'idp|viewer',
      bulkhead_role: 'viewer',
    });
    expect((await server.request('GET', '/v1/models', { token: viewer })).status).toBe(200);
    expectError(
      await server.request('POST', '/v1/chat/completions', { token: viewer, body: chatBody }),
      403,
      'BK_FORBIDDEN',
    );
    const admin = await sign({ tenant_id: tenantA.id, sub: 'idp|admin', bulkhead_role: 'admin' });
    expect((await server.request('GET', '/v1/users', { token: admin })).status).toBe(200);
  });

  it("never shows a token for tenant A tenant B's providers or models", async () => {
    const tokenA = await sign({ tenant_id: tenantA.id, sub: 'idp|curious' });
    const providers = await server.request('GET', '/v1/providers', { token: tokenA });
    expect(providers.status).toBe(200);
    expect(providers.body.data).toEqual([]);
    const models = await server.request('GET', '/v1/models', { token: tokenA });
    expect(JSON.stringify(models.body)).not.toContain('b-private');
    expectError(
      await server.request('POST', '/v1/chat/completions', {
        token: tokenA,
        body: { model: 'b-private/b-model', messages: hello },
      }),
      404,
      'BK_MODEL_NOT_FOUND',
    );

    const tokenB = await sign({ tenant_id: tenantB.id, sub: 'idp|curious' });
    const own = await server.request('GET', '/v1/providers', { token: tokenB });
    expect(own.body.data.map((p: { name: string }) => p.name)).toEqual(['b-private']);
  });

  it('accepts a token whose email matches a user an admin created, without taking that user over', async () => {
    const pre = await server.request('POST', '/v1/users', {
      token: tenantA.apiKey,
      body: { email: 'alice@example.com', role: 'viewer' },
    });
    expect(pre.status).toBe(201);
    const token = await sign({
      tenant_id: tenantA.id,
      sub: 'idp|alice',
      email: 'alice@example.com',
    });
    const reply = await server.request('GET', '/v1/models', { token });
    expect(reply.status, JSON.stringify(reply.body)).toBe(200);

    const users = (await usersOf(tenantA)) as {
      id: string;
      subject: string | null;
      role: string;
    }[];
    expect(users.find((u) => u.id === pre.body.id)).toMatchObject({
      subject: null,
      role: 'viewer',
    });
    expect(users.filter((u) => u.subject === 'idp|alice')).toHaveLength(1);
  });

  it("refuses a suspended tenant's tokens with 403", async () => {
    const tenant = await server.createTenant('jwt-suspended');
    const token = await sign({ tenant_id: tenant.id, sub: 'idp|someone' });
    expect((await server.request('GET', '/v1/models', { token })).status).toBe(200);
    await server.request('POST', `/v1/admin/tenants/${tenant.id}/suspend`, {
      token: server.adminToken,
    });
    expectError(await server.request('GET', '/v1/models', { token }), 403, 'BK_TENANT_SUSPENDED');
    const fresh = await sign({ tenant_id: tenant.id, sub: 'idp|newcomer' });
    expectError(
      await server.request('GET', '/v1/models', { token: fresh }),
      403,
      'BK_TENANT_SUSPENDED',
    );
  });
});

describe('bearer JWTs verified against a JWKS', () => {
  let server: RunningBulkhead;
  let jwks: Server;
  let jwksRequests = 0;
  let tenant: TestTenant;
  let privateKey: CryptoKey;
  let strangerKey: CryptoKey;

  beforeAll(async () => {
    const pair = await generateKeyPair('RS256', { extractable: true });
    privateKey = pair.privateKey;
    strangerKey = (await generateKeyPair('RS256')).privateKey;
    const jwk = {
      ...(await exportJWK(pair.publicKey)),
      kid: 'test-key-1',
      alg: 'RS256',
      use: 'sig',
    };
    jwks = createServer((req, res) => {
      jwksRequests++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
    const port = (jwks.address() as AddressInfo).port;
    server = await startBulkhead({
      BULKHEAD_JWT_JWKS_URL: `http://127.0.0.1:${port}/.well-known/jwks.json`,
      BULKHEAD_JWT_ISSUER: issuer,
      BULKHEAD_JWT_AUDIENCE: audience,
    });
    tenant = await server.createTenant('jwks');
  });
  afterAll(async () => {
    await server?.close();
    await new Promise((resolve) => jwks?.close(resolve));
  });

  const sign = (signingKey: CryptoKey, kid: string, claims: JWTPayload = {}) =>
    new SignJWT({ tenant_id: tenant.id, sub: 'idp|jwks-user', ...claims })
      .setProtectedHeader({ alg: 'RS256', kid })
      .setIssuer(issuer)
      .setAudience(audience)
      .setExpirationTime('5m')
      .sign(signingKey);

  it('accepts a token signed with the published key', async () => {
    const token = await sign(privateKey, 'test-key-1');
    const completion = await server.openai(token).chat.completions.create(chatBody);
    expect(completion.object).toBe('chat.completion');
    expect(jwksRequests).toBeGreaterThan(0);
  });

  it.each([
    ['another key under the published kid', 'test-key-1'],
    ['another key under an unknown kid', 'stranger'],
  ])('refuses a token signed with %s', async (_label, kid) => {
    const token = await sign(strangerKey, kid);
    expectError(await server.request('GET', '/v1/models', { token }), 401, 'BK_UNAUTHENTICATED');
  });

  it('refuses an HS256 token even when signed with the public key material', async () => {
    const jwk = JSON.stringify(await exportJWK(privateKey));
    const token = await new SignJWT({ tenant_id: tenant.id, sub: 'idp|confused' })
      .setProtectedHeader({ alg: 'HS256', kid: 'test-key-1' })
      .setIssuer(issuer)
      .setAudience(audience)
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode(jwk));
    expectError(await server.request('GET', '/v1/models', { token }), 401, 'BK_UNAUTHENTICATED');
  });
});
