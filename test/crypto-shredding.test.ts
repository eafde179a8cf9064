import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/core/config.ts';
import type { SqlBackend } from '../src/db/backend.ts';
import { openDatabase } from '../src/db/database.ts';
import { migrate } from '../src/db/migrate.ts';
import { APP_ROLE } from '../src/db/roles.ts';
import {
  populateTenant,
  startBulkhead,
  type RunningBulkhead,
  type SharedCluster,
  type TestTenant,
} from './support/bulkhead-server.ts';
import { SERVER_URL } from './support/silo-database.ts';
import { createTestDatabase, type TestDatabase } from './support/test-database.ts';

/**
 * Crypto-shredding that reaches backups. A backup of the tenant database taken before a tenant is
 * deleted, restored afterwards and served with the same master key and the same key store, opens
 * nothing of that tenant — its KEK is gone from the key store — while the same backup restored
 * before the deletion, and the neighbour in it, open fine.
 *
 * PGlite pass: the key store is a directory (`file://`), the backup every row of every tenant
 * table, restored into a fresh database. PostgreSQL pass: the key store is a separate PostgreSQL
 * database, the backup the machine's `pg_dump`, restored with `pg_restore` into a fresh database.
 */
const onServer = Boolean(process.env.DATABASE_URL);

interface KeyStoreUnderTest {
  url: string;
  has(tenantId: string): Promise<boolean>;
  /** Makes destroying this tenant's KEK fail; the returned function repairs it. */
  breakDestroy(tenantId: string): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

function fileKeyStore(): KeyStoreUnderTest & { dir: string } {
  const dir = join(mkdtempSync(join(tmpdir(), 'bk-keys-')), 'keys');
  const path = (tenantId: string) => join(dir, `${tenantId}.kek`);
  return {
    dir,
    url: `file://${dir}`,
    has: (tenantId) => Promise.resolve(existsSync(path(tenantId))),
    breakDestroy(tenantId) {
      // A directory where the file was: unlink fails (EISDIR), even for root.
      const aside = `${path(tenantId)}.aside`;
      renameSync(path(tenantId), aside);
      mkdirSync(path(tenantId));
      return Promise.resolve(() => {
        rmSync(path(tenantId), { recursive: true });
        renameSync(aside, path(tenantId));
        return Promise.resolve();
      });
    },
    close: () => Promise.resolve(rmSync(join(dir, '..'), { recursive: true, force: true })),
  };
}

async function adminQuery(text: string): Promise<void> {
  const admin = new pg.Client({ connectionString: SERVER_URL });
  await admin.connect();
  try {
    await admin.query(text);
  } finally {
    await admin.end();
  }
}

const urlOf = (name: string) => {
  const url = new URL(SERVER_URL);
  url.pathname = `/${name}`;
  return url.toString();
};

async function postgresKeyStore(): Promise<KeyStoreUnderTest> {
  const name = `bk_test_keys_${randomBytes(6).toString('hex')}`;
  await adminQuery(`create database ${name}`);
  const client = new pg.Client({ connectionString: urlOf(name) });
  await client.connect();
  return {
    url: urlOf(name),
    async has(tenantId) {
      const { rows } = await client.query('select 1 from tenant_keks where tenant_id = $1', [
        tenantId,
      ]);
      return rows.length === 1;
    },
    async breakDestroy() {
      await client.query('alter table tenant_keks rename to tenant_keks_away');
      return async () => {
        await client.query('alter table tenant_keks_away rename to tenant_keks');
      };
    },
    async close() {
      await client.end();
      await adminQuery(`drop database if exists ${name} with (force)`);
    },
  };
}

function queryOn(backend: SqlBackend): TestDatabase['ownerQuery'] {
  return async (text, params = []) => {
    const session = await backend.acquire();
    try {
      return (await session.query(text, params)).rows as never;
    } finally {
      session.release();
    }
  };
}

/** A fresh database on the machine's server, filled by `fill` (as its owner), served as the app. */
async function serverDatabase(
  fill: (ownerUrl: string) => Promise<void>,
): Promise<TestDatabase & { ownerUrl: string }> {
  const name = `bk_test_${randomBytes(6).toString('hex')}`;
  await adminQuery(`create database ${name}`);
  const ownerUrl = urlOf(name);
  await fill(ownerUrl);
  const owner = await openDatabase({ url: ownerUrl, dataDir: null });
  await queryOn(owner.backend)(`alter role ${APP_ROLE} login`);
  const appUrl = new URL(ownerUrl);
  appUrl.username = APP_ROLE;
  appUrl.password = '';
  const db = await openDatabase({ url: appUrl.toString(), dataDir: null });
  return {
    db,
    kind: 'postgres',
    ownerUrl,
    ownerQuery: queryOn(owner.backend),
    async close() {
      await db.close();
      await owner.close();
      await adminQuery(`drop database if exists ${name} with (force)`);
    },
  };
}

interface Backup {
  restore(): Promise<TestDatabase>;
  discard(): void;
}

/** Every row of every tenant table (as JSON, so every column type survives), as the owner. */
async function rowBackup(database: TestDatabase): Promise<Backup> {
  const tables = await database.ownerQuery<{ table_name: string }>(
    `select c.relname as table_name from pg_class c join pg_namespace n on n.oid = c.relnamespace
     join pg_attribute a on a.attrelid = c.oid
     where n.nspname = 'public' and c.relkind = 'r' and a.attname = 'tenant_id' and not a.attisdropped`,
  );
  const rows = new Map<string, string[]>();
  for (const { table_name } of tables) {
    const found = await database.ownerQuery<{ j: string }>(
      `select row_to_json(t)::text as j from ${table_name} t`,
    );
    rows.set(
      table_name,
      found.map((r) => r.j),
    );
  }
  return {
    async restore() {
      const fresh = await createTestDatabase();
      // Superuser, replica mode: foreign keys are not checked while the rows go back in.
      await fresh.ownerQuery('set session_replication_role = replica');
      for (const [table, lines] of rows) {
        // Generated columns (a search vector) are computed again, not restored.
        const columns = (
          await fresh.ownerQuery<{ name: string }>(
            `select attname as name from pg_attribute where attrelid = $1::regclass
             and attnum > 0 and not attisdropped and attgenerated = ''`,
            [table],
          )
        )
          .map((c) => `"${c.name}"`)
          .join(', ');
        for (const line of lines) {
          await fresh.ownerQuery(
            `insert into ${table} (${columns})
             select ${columns} from json_populate_record(null::${table}, $1::json)`,
            [line],
          );
        }
      }
      await fresh.ownerQuery('set session_replication_role = origin');
      return fresh;
    },
    discard() {},
  };
}

/** The machine's pg_dump, custom format; restored with pg_restore into a fresh database. */
function pgDumpBackup(database: TestDatabase & { ownerUrl: string }): Backup {
  const dir = mkdtempSync(join(tmpdir(), 'bk-dump-'));
  const file = join(dir, 'tenant-db.dump');
  execFileSync('pg_dump', ['--format=custom', `--file=${file}`, database.ownerUrl]);
  return {
    restore: () =>
      serverDatabase((url) => {
        execFileSync('pg_restore', ['--exit-on-error', `--dbname=${url}`, file]);
        return Promise.resolve();
      }),
    discard: () => rmSync(dir, { recursive: true, force: true }),
  };
}

async function mainDatabase(): Promise<TestDatabase & { ownerUrl?: string }> {
  if (!onServer) return createTestDatabase();
  return serverDatabase(async (url) => {
    const owner = await openDatabase({ url, dataDir: null });
    try {
      await migrate(owner.backend);
    } finally {
      await owner.close();
    }
  });
}

async function threadOf(node: RunningBulkhead, tenant: TestTenant): Promise<string> {
  const threads = await node.request('GET', '/v1/threads', { token: tenant.apiKey });
  expect(threads.status).toBe(200);
  return threads.body.data[0].id as string;
}

async function deleteTenant(node: RunningBulkhead, tenantId: string) {
  await node.request('POST', `/v1/admin/tenants/${tenantId}/suspend`, { token: node.adminToken });
  return node.request('DELETE', `/v1/admin/tenants/${tenantId}`, {
    token: node.adminToken,
    headers: { 'x-bulkhead-reason': 'customer left' },
  });
}

describe(`crypto-shredding with a ${onServer ? 'postgres' : 'file'} key store`, () => {
  let keyStore: KeyStoreUnderTest & { dir?: string };
  let main: TestDatabase & { ownerUrl?: string };
  let cluster: SharedCluster;
  let env: Record<string, string>;
  const nodes: RunningBulkhead[] = [];
  const restored: TestDatabase[] = [];
  let node: RunningBulkhead;
  let a: TestTenant;
  let b: TestTenant;
  let threads: { a: string; b: string };
  let backup: Backup;

  const nodeOn = async (database: TestDatabase) => {
    const started = await startBulkhead(env, { ...cluster, database });
    nodes.push(started);
    return started;
  };
  const restore = async () => {
    const database = await backup.restore();
    restored.push(database);
    return database;
  };

  beforeAll(async () => {
    keyStore = onServer ? await postgresKeyStore() : fileKeyStore();
    main = await mainDatabase();
    cluster = {
      database: main,
      masterKey: randomBytes(32),
      adminToken: `test-admin-${randomBytes(24).toString('hex')}`,
    };
    env = { BULKHEAD_KEY_STORE_URL: keyStore.url };
    node = await nodeOn(main);
    a = await node.createTenant('shredded');
    b = await node.createTenant('neighbour');
    for (const t of [a, b]) await populateTenant(node, t);
    threads = { a: await threadOf(node, a), b: await threadOf(node, b) };
    backup = onServer
      ? pgDumpBackup(main as TestDatabase & { ownerUrl: string })
      : await rowBackup(main);
  });
  afterAll(async () => {
    for (const n of nodes) await n.close();
    for (const d of restored) await d.close();
    backup?.discard();
    await main?.close();
    await keyStore?.close();
  });

  const opensFine = async (on: RunningBulkhead, tenant: TestTenant, threadId: string) => {
    const messages = await on.request('GET', `/v1/threads/${threadId}/messages`, {
      token: tenant.apiKey,
    });
    expect(messages.status).toBe(200);
    expect(JSON.stringify(messages.body)).toContain(`remember ${tenant.name}`);
    const verify = await on.request('GET', '/v1/audit/verify', { token: tenant.apiKey });
    expect(verify.body).toMatchObject({ ok: true });
    const trail = await on.request('GET', '/v1/audit?action=chat.completion', {
      token: tenant.apiKey,
    });
    expect(JSON.stringify(trail.body)).toContain(`secret of ${tenant.name}`);
  };

  it('keeps each KEK in the key store only: none in the tenant database', async () => {
    expect(await keyStore.has(a.id)).toBe(true);
    expect(await keyStore.has(b.id)).toBe(true);
    const [inMain] = await main.ownerQuery<{ n: number }>(
      'select count(*)::int as n from bulkhead_keystore.tenant_keks',
    );
    expect(inMain!.n).toBe(0);
    if (keyStore.dir !== undefined) {
      expect(statSync(join(keyStore.dir, `${a.id}.kek`)).mode & 0o777).toBe(0o600);
      // Written atomically: no temporary file left behind.
      expect(readdirSync(keyStore.dir).filter((f) => f.startsWith('.tmp-'))).toEqual([]);
    }
  });

  it('the backup, restored before the deletion, opens both tenants', async () => {
    const before = await nodeOn(await restore());
    await opensFine(before, a, threads.a);
    await opensFine(before, b, threads.b);
  });

  it('deleting the tenant destroys its KEK in the key store, and says so', async () => {
    const deleted = await deleteTenant(node, a.id);
    expect(deleted.status).toBe(200);
    expect(deleted.body).toMatchObject({
      object: 'tenant_deletion',
      keyStore: onServer ? 'postgres' : 'file',
      keyDestroyed: true,
      backupsUnreadable: true,
      rowsRemaining: 0,
    });
    expect(await keyStore.has(a.id)).toBe(false);
    expect(await keyStore.has(b.id)).toBe(true);
    const [tombstone] = await main.ownerQuery<{ key_destroyed: boolean }>(
      'select key_destroyed from tenant_tombstones where deleted_tenant_id = $1',
      [a.id],
    );
    expect(tombstone).toEqual({ key_destroyed: true });
  });

  it('the same backup, restored after the deletion, opens nothing of the tenant — the neighbour still opens', async () => {
    const database = await restore();
    // The backup does hold the tenant's wrapped data key and sealed values...
    const [held] = await database.ownerQuery<{ keys: number; messages: number }>(
      `select (select count(*)::int from tenant_data_keys where tenant_id = $1) as keys,
              (select count(*)::int from thread_messages where tenant_id = $1) as messages`,
      [a.id],
    );
    expect(held!.keys).toBeGreaterThan(0);
    expect(held!.messages).toBeGreaterThan(0);
    // ... and a node with the same master key and key store cannot open them.
    const after = await nodeOn(database);
    const messages = await after.request('GET', `/v1/threads/${threads.a}/messages`, {
      token: a.apiKey,
    });
    expect(messages.status).toBe(410);
    expect(messages.body.error.code).toBe('BK_TENANT_KEY_DESTROYED');
    expect(JSON.stringify(messages.body)).not.toContain('remember shredded');
    const verify = await after.request('GET', '/v1/audit/verify', { token: a.apiKey });
    expect(verify.body).toMatchObject({ ok: false });
    expect(verify.body.reason).toContain('does not open');
    const trail = await after.request('GET', '/v1/audit?action=chat.completion', {
      token: a.apiKey,
    });
    expect(trail.status).toBe(410);
    expect(JSON.stringify(trail.body)).not.toContain('secret of shredded');
    // Its provider key is sealed too: the model cannot even be resolved.
    const chat = await after.request('POST', '/v1/chat/completions', {
      token: a.apiKey,
      body: { model: 'p/m', messages: [{ role: 'user', content: 'hello' }] },
    });
    expect(chat.status).toBe(410);
    await opensFine(after, b, threads.b);
  });

  it('a KEK that cannot be destroyed: the deletion says so, and a retry of the delete finishes it', async () => {
    const c = await node.createTenant('stuck');
    await node.openai(c.apiKey).chat.completions.create({
      model: 'local/extractive',
      messages: [{ role: 'user', content: 'x' }],
    });
    const repair = await keyStore.breakDestroy(c.id);
    const first = await deleteTenant(node, c.id);
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ keyDestroyed: false, backupsUnreadable: false });
    expect(first.body.keyDestroyError).toContain('repeat this DELETE');
    const tombstone = () =>
      main.ownerQuery<{ key_destroyed: boolean }>(
        'select key_destroyed from tenant_tombstones where deleted_tenant_id = $1',
        [c.id],
      );
    expect(await tombstone()).toEqual([{ key_destroyed: false }]);
    await repair();
    expect(await keyStore.has(c.id)).toBe(true);
    const retry = await node.request('DELETE', `/v1/admin/tenants/${c.id}`, {
      token: node.adminToken,
    });
    expect(retry.status).toBe(200);
    expect(retry.body).toMatchObject({ tenantId: c.id, keyDestroyed: true });
    expect(await keyStore.has(c.id)).toBe(false);
    expect(await tombstone()).toEqual([{ key_destroyed: true }]);
    const again = await node.request('DELETE', `/v1/admin/tenants/${c.id}`, {
      token: node.adminToken,
    });
    expect(again.status).toBe(404);
  });

  it('... or the next node to start finishes it (start-up sweep)', async () => {
    const d = await node.createTenant('swept');
    const repair = await keyStore.breakDestroy(d.id);
    expect((await deleteTenant(node, d.id)).body).toMatchObject({ keyDestroyed: false });
    await repair();
    expect(await keyStore.has(d.id)).toBe(true);
    await nodeOn(main);
    expect(await keyStore.has(d.id)).toBe(false);
    const [tombstone] = await main.ownerQuery<{ key_destroyed: boolean }>(
      'select key_destroyed from tenant_tombstones where deleted_tenant_id = $1',
      [d.id],
    );
    expect(tombstone).toEqual({ key_destroyed: true });
  });
});

describe('the `database` key store (nothing configured)', () => {
  let server: RunningBulkhead;
  beforeAll(async () => {
    server = await startBulkhead();
  });
  afterAll(() => server.close());

  it('warns once at start, naming BULKHEAD_KEY_STORE_URL', () => {
    const warnings = server.logs.filter(
      (l) => l.level === 40 && String(l.msg).includes('BULKHEAD_KEY_STORE_URL'),
    );
    expect(warnings).toHaveLength(1);
    expect(String(warnings[0]!.msg)).toContain('does not make its data in database backups');
  });

  it('keeps KEKs in the main database, and deleting a tenant still destroys its KEK there', async () => {
    const t = await server.createTenant('in-db');
    const chat = await server.openai(t.apiKey).chat.completions.create({
      model: 'local/extractive',
      messages: [{ role: 'user', content: 'x' }],
    });
    expect(chat.choices).toHaveLength(1);
    const kekRows = () =>
      server.database.ownerQuery(
        'select 1 from bulkhead_keystore.tenant_keks where tenant_id = $1',
        [t.id],
      );
    expect(await kekRows()).toHaveLength(1);
    const deleted = await deleteTenant(server, t.id);
    expect(deleted.body).toMatchObject({
      keyStore: 'database',
      keyDestroyed: true,
      backupsUnreadable: false,
    });
    expect(await kekRows()).toHaveLength(0);
  });
});

describe('BULKHEAD_KEY_STORE_URL', () => {
  it.each([
    ['postgres://keys.internal/bulkhead_keys', 'postgres'],
    ['postgresql://keys.internal/bulkhead_keys', 'postgres'],
    ['file:///var/lib/bulkhead/keys', 'file'],
    ['database', 'database'],
  ])('accepts %s', (value, kind) => {
    expect(loadConfig({ BULKHEAD_KEY_STORE_URL: value }).keyStore).toMatchObject({ kind });
  });

  it.each(['file://relative/keys', 'mysql://x/y', 'keys'])('refuses %j at start', (value) => {
    expect(() => loadConfig({ BULKHEAD_KEY_STORE_URL: value })).toThrow('BULKHEAD_KEY_STORE_URL');
  });
});
