import { type Kysely, sql } from 'kysely';
import type { TenantContext } from '../core/tenant-context.ts';
import { newId } from '../core/ids.ts';
import type { SqlBackend } from './backend.ts';
import { APP_ROLE, OPERATOR_ROLE } from './roles.ts';
import type { Tables } from './schema.ts';
import { kyselyForSession } from './session-dialect.ts';

declare const tenantScoped: unique symbol;
declare const operatorScoped: unique symbol;

/** A transaction that sees exactly one tenant's rows. Only `withTenant` makes one. */
export type TenantTx = Kysely<Tables> & { readonly [tenantScoped]: string };
/** A transaction that sees every tenant's rows. Only `withOperator` makes one. */
export type OperatorTx = Kysely<Tables> & { readonly [operatorScoped]: true };

export interface Database {
  readonly backend: SqlBackend;
}

const tenantIdPattern = /^tn_[0-9a-z]{26}$/;

async function inTransaction<T, Tx>(
  db: Database,
  setup: string,
  fn: (tx: Tx) => Promise<T>,
): Promise<T> {
  const session = await db.backend.acquire();
  let failure: unknown;
  try {
    // BEGIN, the role and the tenant setting go in one round trip; they are LOCAL, so they end with
    // the transaction and a pooled connection never carries them into the next one.
    await session.script(`begin; ${setup}`);
    const result = await fn(kyselyForSession<Tables>(session) as Tx);
    await session.script('commit');
    return result;
  } catch (err) {
    failure = err;
    await session.script('rollback').catch(() => undefined);
    throw err;
  } finally {
    session.release(failure);
  }
}

function tenantSetup(tenantId: string): string {
  // The id is inlined (a script takes no parameters), so it must match the id grammar exactly.
  if (!tenantIdPattern.test(tenantId)) throw new Error(`not a tenant id: ${tenantId}`);
  return `set local role ${APP_ROLE}; select set_config('app.tenant_id', '${tenantId}', true);`;
}

/** The one door to tenant data: every query inside sees only `ctx.tenantId`'s rows (RLS). */
export function withTenant<T>(
  db: Database,
  ctx: TenantContext,
  fn: (tx: TenantTx) => Promise<T>,
): Promise<T> {
  return inTransaction(db, tenantSetup(ctx.tenantId), fn);
}

/**
 * For authentication only: a tenant-scoped transaction for a tenant id that a credential claims
 * but that is not verified yet (the API key lookup runs inside the claimed tenant, so a forged
 * claim finds nothing).
 */
export function withClaimedTenant<T>(
  db: Database,
  tenantId: string,
  fn: (tx: TenantTx) => Promise<T>,
): Promise<T> {
  return inTransaction(db, tenantSetup(tenantId), fn);
}

/**
 * The separate, recorded door for cross-tenant operator work. The reason is written in the same
 * transaction as the work, so there is no operator action without its record.
 */
export function withOperator<T>(
  db: Database,
  action: { operator: string; reason: string; tenantId?: string },
  fn: (tx: OperatorTx) => Promise<T>,
): Promise<T> {
  return inTransaction<T, OperatorTx>(db, `set local role ${OPERATOR_ROLE};`, async (tx) => {
    await tx
      .insertInto('operator_actions')
      .values({
        action_id: newId('operatorAction'),
        operator: action.operator,
        reason: action.reason,
        target_tenant_id: action.tenantId ?? null,
      })
      .execute();
    return fn(tx);
  });
}

/**
 * Usage records arrive from every tenant at once. This writes each tenant's group under that
 * tenant's setting, all in one transaction. `take` runs only once the connection is held, so
 * everything queued while waiting for it shares this commit (group commit).
 */
export function withTenantGroups<T>(
  db: Database,
  take: () => ReadonlyMap<string, T>,
  fn: (tenantId: string, group: T, tx: TenantTx) => Promise<void>,
): Promise<void> {
  return inTransaction(db, `set local role ${APP_ROLE};`, async (tx: TenantTx) => {
    for (const [tenantId, group] of take()) {
      if (!tenantIdPattern.test(tenantId)) throw new Error(`not a tenant id: ${tenantId}`);
      await sql`select set_config('app.tenant_id', ${tenantId}, true)`.execute(tx);
      await fn(tenantId, group, tx);
    }
  });
}
