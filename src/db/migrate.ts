import type { SqlBackend, SqlSession } from './backend.ts';
import { knowledgeVectorSql } from './migrations/0007-knowledge.ts';
import { migrations } from './migrations/index.ts';
import { APP_ROLE, OPERATOR_ROLE } from './roles.ts';

export interface MigrationReport {
  applied: string[];
  /** Whether the pgvector extension is installed; knowledge search needs it. */
  vector: boolean;
}

const quoteLiteral = (value: string) => `'${value.replace(/'/g, "''")}'`;

/**
 * Roles are cluster-wide, so two databases migrating at once (parallel test runs, two nodes
 * starting together) can race on creating them; a lost race is retried, not fatal.
 */
async function ensureRoles(session: SqlSession, appPassword: string | undefined): Promise<void> {
  const login = appPassword === undefined ? '' : ` login password ${quoteLiteral(appPassword)}`;
  const script = `
do $$ begin
  if not exists (select from pg_roles where rolname = '${APP_ROLE}') then
    create role ${APP_ROLE} nologin noinherit nosuperuser nobypassrls nocreatedb nocreaterole;
  end if;
  if not exists (select from pg_roles where rolname = '${OPERATOR_ROLE}') then
    create role ${OPERATOR_ROLE} nologin nosuperuser nobypassrls nocreatedb nocreaterole;
  end if;
end $$;
alter role ${APP_ROLE} noinherit nosuperuser nobypassrls${login};
grant ${OPERATOR_ROLE} to ${APP_ROLE};
grant ${APP_ROLE} to current_user;
grant ${OPERATOR_ROLE} to current_user;`;
  for (let attempt = 1; ; attempt++) {
    try {
      await session.script(script);
      return;
    } catch (err) {
      const code = (err as { code?: string }).code;
      const raced = code === '23505' || code === '42710' || code === 'XX000';
      if (!raced || attempt >= 5) throw err;
      await new Promise((r) => setTimeout(r, 50 * attempt));
    }
  }
}

async function ensureVector(session: SqlSession): Promise<boolean> {
  const available = await session.query(
    `select 1 from pg_available_extensions where name = 'vector'`,
    [],
  );
  if (available.rowCount === 0) return false;
  await session.script('create extension if not exists vector');
  return true;
}

/** Runs as the schema owner. Safe to call from several processes at once. */
export async function migrate(
  backend: SqlBackend,
  options: { appPassword?: string } = {},
): Promise<MigrationReport> {
  const session = await backend.acquire();
  try {
    await ensureRoles(session, options.appPassword);
    const vector = await ensureVector(session);
    await session.script(`
create table if not exists schema_migrations (id text primary key, applied_at timestamptz not null default now());
grant usage on schema public to ${APP_ROLE}, ${OPERATOR_ROLE};`);
    const applied: string[] = [];
    for (const migration of migrations) {
      await session.script('begin');
      try {
        await session.query(`select pg_advisory_xact_lock(hashtext('bulkhead.migrate'))`, []);
        const done = await session.query('select 1 from schema_migrations where id = $1', [
          migration.id,
        ]);
        if (done.rowCount === 0) {
          await session.script(migration.sql);
          await session.query('insert into schema_migrations (id) values ($1)', [migration.id]);
          applied.push(migration.id);
        }
        await session.script('commit');
      } catch (err) {
        await session.script('rollback');
        throw err;
      }
    }
    if (vector) await session.script(knowledgeVectorSql);
    return { applied, vector };
  } finally {
    session.release();
  }
}
