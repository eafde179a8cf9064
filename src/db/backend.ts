import { mkdirSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import pg from 'pg';

export interface QueryRows<R = Record<string, unknown>> {
  rows: R[];
  rowCount: number;
}

/** One connection held by one caller until `release`. */
export interface SqlSession {
  query<R = Record<string, unknown>>(
    text: string,
    params: readonly unknown[],
  ): Promise<QueryRows<R>>;
  /** Several statements, no parameters, one round trip (simple query protocol). */
  script(text: string): Promise<void>;
  release(error?: unknown): void;
}

export interface SqlBackend {
  readonly kind: 'pglite' | 'postgres';
  acquire(): Promise<SqlSession>;
  close(): Promise<void>;
}

/**
 * PGlite is a single connection: sessions are handed out one at a time, in order, so a transaction
 * never interleaves with another caller's statements.
 */
export async function openPglite(dataDir: string | null): Promise<SqlBackend> {
  if (dataDir !== null) mkdirSync(dataDir, { recursive: true });
  const db = await PGlite.create({
    ...(dataDir === null ? {} : { dataDir }),
    extensions: { vector },
  });
  let tail: Promise<void> = Promise.resolve();
  const session: Omit<SqlSession, 'release'> = {
    async query<R>(text: string, params: readonly unknown[]) {
      const result = await db.query<R>(text, params as unknown[]);
      // PGlite reports affectedRows 0 for a SELECT; pg's rowCount counts the rows returned.
      return { rows: result.rows, rowCount: result.rows.length || (result.affectedRows ?? 0) };
    },
    async script(text: string) {
      await db.exec(text);
    },
  };
  return {
    kind: 'pglite',
    acquire() {
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      const turn = tail.then(() => ({ ...session, release: () => release() }));
      tail = tail.then(() => held);
      return turn;
    },
    async close() {
      await tail;
      await db.close();
    },
  };
}

export function openPostgres(url: string, maxConnections = 10): SqlBackend {
  const pool = new pg.Pool({ connectionString: url, max: maxConnections });
  // An idle client that errors (server restart) must not crash the process; the pool drops it.
  pool.on('error', () => {});
  return {
    kind: 'postgres',
    async acquire() {
      const client = await pool.connect();
      return {
        async query<R>(text: string, params: readonly unknown[]) {
          const result = await client.query(text, params as unknown[]);
          return { rows: result.rows as R[], rowCount: result.rowCount ?? result.rows.length };
        },
        async script(text: string) {
          await client.query(text);
        },
        release(error?: unknown) {
          client.release(error instanceof Error ? error : undefined);
        },
      };
    },
    close: () => pool.end(),
  };
}
