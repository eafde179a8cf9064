import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** The machine's PostgreSQL: silos are created there on both test passes (PGlite has no server). */
export const SERVER_URL = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';

export type Query = <R = Record<string, unknown>>(text: string, params?: unknown[]) => Promise<R[]>;

export interface Silo {
  /** The owner's URL, as an operator hands it to `promote`. */
  url: string;
  query: Query;
  drop(): Promise<void>;
}

/** A fresh, empty database to promote a tenant into; dropped (forcibly) at the end. */
export async function createSilo(): Promise<Silo> {
  const name = `bk_silo_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: SERVER_URL });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(SERVER_URL);
  url.pathname = `/${name}`;
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  return {
    url: url.toString(),
    query: async (text, params = []) => (await client.query(text, params)).rows,
    async drop() {
      await client.end();
      const dropper = new pg.Client({ connectionString: SERVER_URL });
      await dropper.connect();
      await dropper.query(`drop database if exists ${name} with (force)`);
      await dropper.end();
    },
  };
}
