import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/core/config.ts';
import { buildApp, type Bulkhead } from '../src/http/build-app.ts';
import { open, seal } from '../src/secrets/envelope.ts';
import { startFakeOpenAI } from './support/fake-openai-upstream.ts';
import { createTestDatabase, type TestDatabase } from './support/test-database.ts';

/**
 * Rotating the master key: nodes run with the new key and still read the old one, the rotation
 * re-wraps every tenant's KEK in the key store (here the `database` one) and moves data keys made
 * before KEKs (wrapped by the master key directly) under their tenant's KEK; afterwards the old key
 * opens nothing — while provider keys and audit payloads sealed before keep working, untouched.
 */
const adminToken = 'r'.repeat(40);
const oldKey = randomBytes(32);
const newKey = randomBytes(32);
let database: TestDatabase;
let upstream: Awaited<ReturnType<typeof startFakeOpenAI>>;
let tenant: { id: string; apiKey: string };
/** A tenant as every deployment before KEKs had it: its data key wrapped by the master key. */
let legacy: { id: string; apiKey: string };

async function node(masterKey: Buffer, previousMasterKeys: Buffer[] = []) {
  const config = loadConfig({
    LOG_LEVEL: 'silent',
    BULKHEAD_ADMIN_TOKEN: adminToken,
    BULKHEAD_ALLOW_PRIVATE_UPSTREAMS: 'true',
  });
  const bulkhead: Bulkhead = await buildApp({
    config,
    db: database.db,
    masterKey,
    previousMasterKeys,
  });
  await bulkhead.app.listen({ port: 0, host: '127.0.0.1' });
  const url = `http://127.0.0.1:${(bulkhead.app.server.address() as AddressInfo).port}`;
  const client = (key: string) => new OpenAI({ apiKey: key, baseURL: `${url}/v1`, maxRetries: 0 });
  return { url, bulkhead, client };
}

const chat = (client: OpenAI) =>
  client.chat.completions.create({
    model: 'up/m',
    messages: [{ role: 'user', content: 'sealed before rotation' }],
  });

beforeAll(async () => {
  database = await createTestDatabase();
  upstream = await startFakeOpenAI();
  const first = await node(oldKey);
  const created: any = await (
    await fetch(`${first.url}/v1/admin/tenants`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'rotating' }),
    })
  ).json();
  tenant = { id: created.id, apiKey: created.apiKey };
  await fetch(`${first.url}/v1/providers`, {
    method: 'POST',
    headers: { authorization: `Bearer ${tenant.apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      name: 'up',
      kind: 'openai',
      baseUrl: upstream.url,
      apiKey: 'sk-sealed-under-old',
      models: ['m'],
    }),
  });
  await chat(first.client(tenant.apiKey));
  const made: any = await (
    await fetch(`${first.url}/v1/admin/tenants`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'legacy' }),
    })
  ).json();
  legacy = { id: made.id, apiKey: made.apiKey };
  await first.bulkhead.close();
  await makeLegacy(legacy.id, oldKey);
});

/** Rewrites a tenant's data keys as the code before KEKs wrote them, and removes its KEK. */
async function makeLegacy(tenantId: string, masterKey: Buffer): Promise<void> {
  const [stored] = await database.ownerQuery<{ wrapped_kek: Uint8Array }>(
    'select wrapped_kek from bulkhead_keystore.tenant_keks where tenant_id = $1',
    [tenantId],
  );
  const kek = open(masterKey, stored!.wrapped_kek, `tenant-kek:${tenantId}`);
  const keys = await database.ownerQuery<{ key_version: number; wrapped_key: Uint8Array }>(
    'select key_version, wrapped_key from tenant_data_keys where tenant_id = $1',
    [tenantId],
  );
  for (const key of keys) {
    const dataKey = open(
      kek,
      key.wrapped_key,
      `tenant-data-key:${tenantId}:v${key.key_version}:kek`,
    );
    await database.ownerQuery(
      'update tenant_data_keys set wrapped_key = $1 where tenant_id = $2 and key_version = $3',
      [seal(masterKey, dataKey, `tenant-data-key:${tenantId}`), tenantId, key.key_version],
    );
  }
  await database.ownerQuery('delete from bulkhead_keystore.tenant_keks where tenant_id = $1', [
    tenantId,
  ]);
}
afterAll(async () => {
  await upstream.close();
  await database.close();
});

const wrappedKeys = (tenantId: string) =>
  database.ownerQuery<{ wrapped_key: Uint8Array }>(
    `select wrapped_key from tenant_data_keys where tenant_id = $1`,
    [tenantId],
  );
const storedKeks = () =>
  database.ownerQuery<{ tenant_id: string; wrapped_kek: Uint8Array }>(
    'select tenant_id, wrapped_kek from bulkhead_keystore.tenant_keks order by tenant_id',
  );
const opens = (key: Buffer, wrapped: Uint8Array, aad: string) => {
  try {
    open(key, wrapped, aad);
    return true;
  } catch {
    return false;
  }
};
/** The envelope header's key version: 0 a master key, 1 the tenant's KEK. */
const wrappedBy = (wrapped: Uint8Array) => Buffer.from(wrapped).readUInt32BE(1);

describe('master key rotation', () => {
  it('keeps serving with the new key while the old one is still listed, then re-wraps everything once', async () => {
    const transition = await node(newKey, [oldKey]);
    upstream.reset();
    await chat(transition.client(tenant.apiKey));
    expect(upstream.seen[0]!.headers.authorization).toBe('Bearer sk-sealed-under-old');

    const rotate = () =>
      fetch(`${transition.url}/v1/admin/master-key/rotate`, {
        method: 'POST',
        headers: { authorization: `Bearer ${adminToken}`, 'x-bulkhead-reason': 'yearly rotation' },
      }).then((r) => r.json());
    // The legacy tenant works before the rotation too: both forms of data key are read.
    const legacyChat = await fetch(`${transition.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${legacy.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'local/extractive',
        messages: [{ role: 'user', content: 'legacy before rotation' }],
      }),
    });
    expect(legacyChat.status).toBe(200);
    const dataKeysBefore = await wrappedKeys(tenant.id);
    expect(dataKeysBefore.map((k) => wrappedBy(k.wrapped_key))).toEqual([1]);
    expect((await wrappedKeys(legacy.id)).map((k) => wrappedBy(k.wrapped_key))).toEqual([0]);

    const first: any = await rotate();
    expect(first).toMatchObject({
      object: 'master_key_rotation',
      keyStore: 'database',
      alreadyCurrent: 0,
      rewrapped: 2,
      keks: { rewrapped: 1, alreadyCurrent: 0, created: 1, unreadable: 0 },
      dataKeys: { movedUnderKek: 1, underKek: 1 },
    });
    const again: any = await rotate();
    expect(again).toMatchObject({
      rewrapped: 0,
      alreadyCurrent: 2,
      keks: { rewrapped: 0, alreadyCurrent: 2, created: 0 },
      dataKeys: { movedUnderKek: 0, underKek: 2 },
    });
    await transition.bulkhead.close();

    // Every KEK is wrapped by the new master key only; every data key by its tenant's KEK.
    const keks = await storedKeks();
    expect(keks.map((k) => k.tenant_id).sort()).toEqual([tenant.id, legacy.id].sort());
    for (const { tenant_id, wrapped_kek } of keks) {
      expect(opens(newKey, wrapped_kek, `tenant-kek:${tenant_id}`)).toBe(true);
      expect(opens(oldKey, wrapped_kek, `tenant-kek:${tenant_id}`)).toBe(false);
    }
    for (const id of [tenant.id, legacy.id]) {
      for (const { wrapped_key } of await wrappedKeys(id)) {
        expect(wrappedBy(wrapped_key)).toBe(1);
        expect(opens(oldKey, wrapped_key, `tenant-data-key:${id}`)).toBe(false);
        expect(opens(newKey, wrapped_key, `tenant-data-key:${id}`)).toBe(false);
      }
    }
    // The data key under a KEK did not change at all: only its KEK was re-wrapped.
    expect(await wrappedKeys(tenant.id)).toEqual(dataKeysBefore);
  });

  it('works with the new key alone afterwards: provider keys and audit payloads sealed before still open', async () => {
    const after = await node(newKey);
    upstream.reset();
    await chat(after.client(tenant.apiKey));
    expect(upstream.seen[0]!.headers.authorization).toBe('Bearer sk-sealed-under-old');
    const trail: any = await (
      await fetch(`${after.url}/v1/audit?action=chat.completion`, {
        headers: { authorization: `Bearer ${tenant.apiKey}` },
      })
    ).json();
    expect(JSON.stringify(trail.data[0].payload)).toContain('sealed before rotation');
    const verify: any = await (
      await fetch(`${after.url}/v1/audit/verify`, {
        headers: { authorization: `Bearer ${tenant.apiKey}` },
      })
    ).json();
    expect(verify.ok).toBe(true);
    // The legacy tenant, now under a KEK: what it sealed before still opens, chain intact.
    const legacyVerify: any = await (
      await fetch(`${after.url}/v1/audit/verify`, {
        headers: { authorization: `Bearer ${legacy.apiKey}` },
      })
    ).json();
    expect(legacyVerify).toMatchObject({ ok: true });
    expect(legacyVerify.events).toBeGreaterThanOrEqual(3);
    const legacyTrail: any = await (
      await fetch(`${after.url}/v1/audit?action=chat.completion`, {
        headers: { authorization: `Bearer ${legacy.apiKey}` },
      })
    ).json();
    expect(JSON.stringify(legacyTrail.data[0].payload)).toContain('legacy before rotation');
    await after.bulkhead.close();
  });

  it('refuses a malformed list of previous keys at start-up, naming the variable', () => {
    expect(() => loadConfig({ BULKHEAD_PREVIOUS_MASTER_KEYS: 'not-a-key' })).toThrow(
      'BULKHEAD_PREVIOUS_MASTER_KEYS',
    );
  });
});
