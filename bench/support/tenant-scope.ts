import type { SqlSession } from '../../src/db/backend.ts';
import { APP_ROLE } from '../../src/db/roles.ts';
import type { Tables } from '../../src/db/schema.ts';
import type { Database, TenantTx } from '../../src/db/scope.ts';
import { kyselyForSession } from '../../src/db/session-dialect.ts';

const tenantIdPattern = /^tn_[0-9a-z]{26}$/;

/** A statement run through the transaction: its text and parameters. */
export interface RecordedQuery {
  text: string;
  params: readonly unknown[];
}

export interface ScopeHooks {
  /** Sees every statement before it runs (for EXPLAIN). */
  record?: (query: RecordedQuery) => void;
  /**
   * A script to run right after a statement, in the same transaction, or null: lets an experiment
   * override a setting the code under test has just made (`set_config(…, true)`).
   */
  after?: (query: RecordedQuery) => string | null;
}

/**
 * For benchmarks only: a tenant-scoped transaction set up exactly as `withTenant` does it (same
 * BEGIN, `set local role`, transaction-local `app.tenant_id`, in one script), so row-level security
 * applies as in production — without a TenantContext, which only authentication may mint. The
 * transaction is rolled back: a benchmark reads, and leaves nothing behind.
 */
export async function inTenantScope<T>(
  db: Database,
  tenantId: string,
  fn: (tx: TenantTx) => Promise<T>,
  hooks: ScopeHooks = {},
): Promise<T> {
  if (!tenantIdPattern.test(tenantId)) throw new Error(`not a tenant id: ${tenantId}`);
  const held = await db.backend.acquire();
  const session: SqlSession = {
    ...held,
    async query(text, params) {
      hooks.record?.({ text, params });
      const result = await held.query(text, params);
      const then = hooks.after?.({ text, params }) ?? null;
      if (then !== null) await held.script(then);
      return result as never;
    },
  };
  let failure: unknown;
  try {
    await held.script(
      `begin; set local role ${APP_ROLE}; select set_config('app.tenant_id', '${tenantId}', true);`,
    );
    return await fn(kyselyForSession<Tables>(session) as TenantTx);
  } catch (err) {
    failure = err;
    throw err;
  } finally {
    await held.script('rollback').catch(() => undefined);
    held.release(failure);
  }
}
