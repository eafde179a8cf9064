import { type Kysely, sql } from 'kysely';
import { BkError } from '../core/errors.ts';
import type { TenantContext } from '../core/tenant-context.ts';
import { newId } from '../core/ids.ts';
import type { SqlBackend } from './backend.ts';
import { APP_ROLE, OPERATOR_ROLE } from './roles.ts';
import type { Tables } from './schema.ts';
import { kyselyForSession } from './session-dialect.ts';
import type { TenantRouting } from './tenant-routing.ts';

declare const tenantScoped: unique symbol;
declare const operatorScoped: unique symbol;

/** A transaction that sees exactly one tenant's rows. Only `withTenant` makes one. */
export type TenantTx = Kysely<Tables> & { readonly [tenantScoped]: string };
/** A transaction that sees every tenant's rows. Only `withOperator` makes one. */
export type OperatorTx = Kysely<Tables> & { readonly [operatorScoped]: true };

export interface Database {
  /** The shared pool: pooled tenants, and the registry of every tenant and where it lives. */
  readonly backend: SqlBackend;
  /** Tenants promoted to a database of their own; without it, every tenant is in the pool. */
  readonly routing?: TenantRouting;
}

const tenantIdPattern = /^tn_[0-9a-z]{26}$/;

/** The check at the start of a tenant's transaction found it elsewhere (BK001) or moving (BK002). */
class TenantNotHere extends Error {
  constructor(readonly moving: boolean) {
    super(moving ? 'tenant is moving' : 'tenant is served by another database');
  }
}

async function inTransaction<T, Tx>(
  backend: SqlBackend,
  setup: string,
  fn: (tx: Tx) => Promise<T>,
): Promise<T> {
  const session = await backend.acquire();
  let failure: unknown;
  try {
    // BEGIN, the role, the tenant setting and the placement check go in one round trip; they are
    // LOCAL, so they end with the transaction and a pooled connection never carries them on.
    try {
      await session.script(`begin; ${setup}`);
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'BK001' || code === 'BK002') throw new TenantNotHere(code === 'BK002');
      throw err;
    }
    const result = await fn(kyselyForSession<Tables>(session) as Tx);
    await session.script('commit');
    return result;
  } catch (err) {
    failure = err instanceof TenantNotHere ? undefined : err;
    await session.script('rollback').catch(() => undefined);
    throw err;
  } finally {
    session.release(failure);
  }
}

function checkTenantId(tenantId: string): void {
  // The id is inlined (a script takes no parameters), so it must match the id grammar exactly.
  if (!tenantIdPattern.test(tenantId)) throw new Error(`not a tenant id: ${tenantId}`);
}

/** One statement: (for tenant scope) the tenant setting, then the check that it is served here. */
const enter = (tenantId: string, scoped: boolean) =>
  `select bulkhead_enter_tenant('${tenantId}', ${scoped});`;

function tenantSetup(tenantId: string): string {
  checkTenantId(tenantId);
  return `set local role ${APP_ROLE}; ${enter(tenantId, true)}`;
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs a transaction in the database that serves the tenant now. If the check at its start says
 * the tenant is elsewhere, the route is read again and the transaction retried there; if the tenant
 * is being moved, it waits (briefly: the move pauses only its own tenant) and then retries.
 */
async function atTenantHome<T, Tx>(
  db: Database,
  tenantId: string,
  setup: string,
  fn: (tx: Tx) => Promise<T>,
): Promise<T> {
  const routing = db.routing;
  const deadline = Date.now() + (routing?.pauseMaxMs ?? 0);
  for (let attempt = 0; ; attempt++) {
    try {
      return await inTransaction(routing?.backendFor(tenantId) ?? db.backend, setup, fn);
    } catch (err) {
      if (!(err instanceof TenantNotHere)) throw err;
      if (routing === undefined || Date.now() >= deadline) {
        throw new BkError(
          'BK_TENANT_MOVING',
          'This workspace is being moved to another database; retry in a few seconds.',
          { headers: { 'retry-after': '5' } },
        );
      }
      if (err.moving) await pause(Math.min(25 * 2 ** attempt, 500));
      await routing.relocate(tenantId);
    }
  }
}

/** The one door to tenant data: every query inside sees only `ctx.tenantId`'s rows (RLS). */
export function withTenant<T>(
  db: Database,
  ctx: TenantContext,
  fn: (tx: TenantTx) => Promise<T>,
): Promise<T> {
  return atTenantHome(db, ctx.tenantId, tenantSetup(ctx.tenantId), fn);
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
  return atTenantHome(db, tenantId, tenantSetup(tenantId), fn);
}

export interface OperatorAction {
  operator: string;
  reason: string;
  tenantId?: string;
}

async function recordOperatorAction(tx: OperatorTx, action: OperatorAction): Promise<void> {
  await tx
    .insertInto('operator_actions')
    .values({
      action_id: newId('operatorAction'),
      operator: action.operator,
      reason: action.reason,
      target_tenant_id: action.tenantId ?? null,
    })
    .execute();
}

/**
 * The separate, recorded door for cross-tenant operator work. The reason is written in the same
 * transaction as the work, so there is no operator action without its record. With a tenant id,
 * the work runs in the database that serves that tenant (and is recorded there); without one, in
 * the pool.
 */
export function withOperator<T>(
  db: Database,
  action: OperatorAction,
  fn: (tx: OperatorTx) => Promise<T>,
): Promise<T> {
  const work = async (tx: OperatorTx) => {
    await recordOperatorAction(tx, action);
    return fn(tx);
  };
  if (action.tenantId === undefined) {
    return inTransaction(db.backend, `set local role ${OPERATOR_ROLE};`, work);
  }
  checkTenantId(action.tenantId);
  return atTenantHome(
    db,
    action.tenantId,
    `set local role ${OPERATOR_ROLE}; ${enter(action.tenantId, false)}`,
    work,
  );
}

/**
 * Operator work in one given database, without the placement check: for moving a tenant between
 * databases, which is what that check waits for.
 */
export function withOperatorAt<T>(
  backend: SqlBackend,
  action: OperatorAction,
  fn: (tx: OperatorTx) => Promise<T>,
): Promise<T> {
  return inTransaction(backend, `set local role ${OPERATOR_ROLE};`, async (tx: OperatorTx) => {
    await recordOperatorAction(tx, action);
    return fn(tx);
  });
}

/**
 * Every database that serves a tenant now: the pool first, then each silo (read in the pool, in a
 * recorded operator transaction). For operator work that spans all tenants.
 */
export async function everyDatabase(db: Database, action: OperatorAction): Promise<SqlBackend[]> {
  const routing = db.routing;
  if (routing === undefined) return [db.backend];
  const placed = await withOperator(db, action, (tx) =>
    tx
      .selectFrom('tenant_placements')
      .select(['tenant_id', 'sealed_url'])
      .where('state', '=', 'silo')
      .execute(),
  );
  return [db.backend, ...routing.silosOf(placed)];
}

/**
 * Operator work that spans every tenant (sweeps, platform totals): once in each database that
 * serves tenants, the pool first. Results come back in that order.
 */
export async function withOperatorEverywhere<T>(
  db: Database,
  action: OperatorAction,
  fn: (tx: OperatorTx) => Promise<T>,
): Promise<T[]> {
  const results: T[] = [];
  for (const backend of await everyDatabase(db, action)) {
    results.push(await withOperatorAt(backend, action, fn));
  }
  return results;
}

/**
 * Usage records arrive from every tenant at once. This writes each pooled tenant's group under that
 * tenant's setting, all in one transaction of the pool. `take` runs only once the connection is
 * held, so everything queued while waiting for it shares this commit (group commit). The groups of
 * tenants served by another database, or being moved, are left out and returned: write each with
 * `withTenantGroup`.
 */
export async function withTenantGroups<T>(
  db: Database,
  take: () => ReadonlyMap<string, T>,
  fn: (tenantId: string, group: T, tx: TenantTx) => Promise<void>,
): Promise<ReadonlyMap<string, T>> {
  const elsewhere = new Map<string, T>();
  await inTransaction(db.backend, `set local role ${APP_ROLE};`, async (tx: TenantTx) => {
    for (const [tenantId, group] of take()) {
      checkTenantId(tenantId);
      if (db.routing !== undefined && db.routing.backendFor(tenantId) !== db.backend) {
        elsewhere.set(tenantId, group);
        continue;
      }
      const placed = await sql<{ state: string | null }>`
        select set_config('app.tenant_id', ${tenantId}, true),
          bulkhead_tenant_placement(${tenantId}) as state`.execute(tx);
      if ((placed.rows[0]?.state ?? null) !== null) {
        elsewhere.set(tenantId, group);
        continue;
      }
      await fn(tenantId, group, tx);
    }
  });
  return elsewhere;
}

/** One tenant's group, written in the database that serves the tenant (waiting out a move). */
export function withTenantGroup(
  db: Database,
  tenantId: string,
  fn: (tx: TenantTx) => Promise<void>,
): Promise<void> {
  return atTenantHome(db, tenantId, tenantSetup(tenantId), fn);
}
