import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { SqlBackend } from '../../src/db/backend.ts';
import { openDatabase } from '../../src/db/database.ts';
import { migrate } from '../../src/db/migrate.ts';
import type { Database } from '../../src/db/scope.ts';
import { APP_ROLE } from '../../src/db/roles.ts';

export interface TestDatabase {
  db: Database;
  kind: 'pglite' | 'postgres';
  /** A connection as the schema owner, for tests that inspect or tamper with rows directly. */
  ownerQuery<R = Record<string, unknown>>(text: string, params?: unknown[]): Promise<R[]>;
  close(): Promise<void>;
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

/**
 * With DATABASE_URL set (the CI PostgreSQL suite), each call creates a fresh database on that server,
 * migrates it as the owner, connects the application as the `bulkhead_app` login role, and drops the
 * database at close. Without it, an in-memory PGlite.
 */
export async function createTestDatabase(): Promise<TestDatabase> {
  const serverUrl = process.env.DATABASE_URL;
  if (serverUrl === undefined || serverUrl === '') {
    const db = await openDatabase({ dataDir: null });
    await migrate(db.backend);
    return {
      db,
      kind: 'pglite',
      ownerQuery: queryOn(db.backend),
      close: () => db.close(),
    };
  }

  const name = `bk_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();

  const ownerUrl = new URL(serverUrl);
  ownerUrl.pathname = `/${name}`;
  const owner = await openDatabase({ url: ownerUrl.toString(), dataDir: null });
  await migrate(owner.backend);
  const appUrl = new URL(ownerUrl);
  appUrl.username = APP_ROLE;
  appUrl.password = '';
  // trust authentication on the test server; the role needs LOGIN for it.
  await owner.backend.acquire().then(async (s) => {
    try {
      await s.script(`alter role ${APP_ROLE} login`);
    } finally {
      s.release();
    }
  });
  const db = await openDatabase({ url: appUrl.toString(), dataDir: null });
  return {
    db,
    kind: 'postgres',
    ownerQuery: queryOn(owner.backend),
    async close() {
      await db.close();
      await owner.close();
      const dropper = new pg.Client({ connectionString: serverUrl });
      await dropper.connect();
      await dropper.query(`drop database if exists ${name} with (force)`);
      await dropper.end();
    },
  };
}
