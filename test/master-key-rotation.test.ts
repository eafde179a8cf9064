import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/core/config.ts';
import { buildApp, type Bulkhead } from '../src/http/build-app.ts';
import { open } from '../src/secrets/envelope.ts';
import { startFakeOpenAI } from './support/fake-openai-upstream.ts';
import { createTestDatabase, type TestDatabase } from './support/test-database.ts';

/**
 * Rotating the master key: nodes run with the new key and still read the old one, the rotation
 * re-wraps every data key, and afterwards the old key opens nothing — while provider keys and
 * audit payloads sealed before keep working, untouched.
 */
const adminToken = 'r'.repeat(40);
const oldKey = randomBytes(32);
const newKey = randomBytes(32);
let database: TestDatabase;
let upstream: Awaited<ReturnType<typeof startFakeOpenAI>>;
let tenant: { id: string; apiKey: string };

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
  await first.bulkhead.close();
});
afterAll(async () => {
  await upstream.close();
  await database.close();
});

const wrappedKeys = () =>
  database.ownerQuery<{ wrapped_key: Uint8Array }>(
    `select wrapped_key from tenant_data_keys where tenant_id = $1`,
    [tenant.id],
  );
const opens = (key: Buffer, wrapped: Uint8Array) => {
  try {
    open(key, wrapped, `tenant-data-key:${tenant.id}`);
    return true;
  } catch {
    return false;
  }
};

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
    const first: any = await rotate();
    expect(first).toMatchObject({ object: 'master_key_rotation', alreadyCurrent: 0 });
    expect(first.rewrapped).toBeGreaterThanOrEqual(1);
    const again: any = await rotate();
    expect(again).toMatchObject({ rewrapped: 0, alreadyCurrent: first.rewrapped });
    await transition.bulkhead.close();

    for (const { wrapped_key } of await wrappedKeys()) {
      expect(opens(newKey, wrapped_key)).toBe(true);
      expect(opens(oldKey, wrapped_key)).toBe(false);
    }
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
    await after.bulkhead.close();
  });

  it('refuses a malformed list of previous keys at start-up, naming the variable', () => {
    expect(() => loadConfig({ BULKHEAD_PREVIOUS_MASTER_KEYS: 'not-a-key' })).toThrow(
      'BULKHEAD_PREVIOUS_MASTER_KEYS',
    );
  });
});
