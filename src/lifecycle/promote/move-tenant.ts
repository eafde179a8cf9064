import { assertTenantExists } from '../../identity/tenants/repository.ts';
import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import type { FastifyBaseLogger } from 'fastify';
import { appendAuditEvent } from '../../audit/append.ts';
import { BkError } from '../../core/errors.ts';
import type { SqlBackend } from '../../db/backend.ts';
import { migrate } from '../../db/migrate.ts';
import { type OperatorAction, type OperatorTx, withOperatorAt } from '../../db/scope.ts';
import { siloId, siloLabel, type TenantRouting } from '../../db/tenant-routing.ts';
import type { TenantKeyring } from '../../secrets/tenant-keyring.ts';
import { deleteTenantRows, digestTable, insertRows, readRowsInPages } from './copy-rows.ts';
import type { SiloUrlBox } from './silo-url-box.ts';
import { readTableShapes, shapeDifferences, type TableShape } from './table-shapes.ts';

export interface MoveDeps {
  routing: TenantRouting;
  /** Tenants this node is moving now. */
  moving: Set<string>;
  keyring: TenantKeyring;
  urls: SiloUrlBox;
  log: FastifyBaseLogger;
}

export interface MoveRequest {
  tenantId: string;
  operator: string;
  reason: string;
  requestId: string;
}

export interface MoveReport {
  object: 'tenant_move';
  tenantId: string;
  direction: 'promote' | 'demote';
  placement: 'silo' | 'pool';
  silo: string;
  tables: { table: string; rows: number; sha256: string }[];
  rows: number;
  /** From marking the tenant as moving to its new home taking over: its requests waited this long. */
  pausedMs: number;
  durationMs: number;
  /** Whether the database it left still holds a copy to clean up (only after a failed clean-up). */
  leftoverCopy: boolean;
}

/** The pool keeps its registry row of every tenant; placements are each database's own state. */
const KEPT_IN_POOL = new Set(['tenants', 'tenant_placements']);

/**
 * One move of a tenant at a time: in this process, and across nodes by a session advisory lock
 * held in the database the tenant is moving out of for the whole move. (An embedded database
 * belongs to one process, so the first guard covers it.)
 */
async function exclusively<T>(
  moving: Set<string>,
  tenantId: string,
  source: SqlBackend,
  work: () => Promise<T>,
): Promise<T> {
  if (moving.has(tenantId))
    throw new BkError('BK_CONFLICT', 'This tenant is already being moved by this node.');
  moving.add(tenantId);
  const session = source.kind === 'postgres' ? await source.acquire() : null;
  const key = [`bulkhead.move:${tenantId}`];
  try {
    if (session !== null) {
      const locked = await session.query<{ ok: boolean }>(
        'select pg_try_advisory_lock(hashtextextended($1, 0)) as ok',
        key,
      );
      if (locked.rows[0]?.ok !== true)
        throw new BkError('BK_CONFLICT', 'This tenant is being moved by another node.');
      try {
        return await work();
      } finally {
        await session.query('select pg_advisory_unlock(hashtextextended($1, 0))', key);
      }
    }
    return await work();
  } finally {
    session?.release();
    moving.delete(tenantId);
  }
}

/** The same key `bulkhead_tenant_placement` takes shared at the start of the tenant's transactions. */
async function lockTenant(tx: OperatorTx, tenantId: string): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtextextended(${`bulkhead.tenant:${tenantId}`}, 0))`.execute(
    tx,
  );
}

/**
 * Marks the tenant as moving in the database that serves it. Taking the lock exclusively waits for
 * the tenant's transactions in flight; every later one finds the mark and waits for the move.
 */
async function markMoving(
  tx: OperatorTx,
  tenantId: string,
  target: { siloId: string; sealedUrl: Buffer | null },
): Promise<void> {
  await lockTenant(tx, tenantId);
  await tx
    .insertInto('tenant_placements')
    .values({
      tenant_id: tenantId,
      state: 'moving',
      silo_id: target.siloId,
      sealed_url: target.sealedUrl,
    })
    .onConflict((oc) =>
      oc.column('tenant_id').doUpdateSet({
        state: 'moving',
        silo_id: target.siloId,
        sealed_url: target.sealedUrl,
        updated_at: new Date(),
      }),
    )
    .execute();
}

/** What a failed move answers: refusals as they are; anything else says the move was undone. */
function rolledBack(err: unknown, servedFrom: string): unknown {
  if (err instanceof BkError) return err;
  return new BkError(
    'BK_UNAVAILABLE',
    `The move failed and was rolled back; the tenant is still served from ${servedFrom}: ${(err as Error).message}`,
    { cause: err },
  );
}

async function unmarkMoving(backend: SqlBackend, action: OperatorAction, deps: MoveDeps) {
  try {
    await withOperatorAt(backend, action, (tx) =>
      tx
        .deleteFrom('tenant_placements')
        .where('tenant_id', '=', action.tenantId!)
        .where('state', '=', 'moving')
        .execute(),
    );
  } catch (err) {
    deps.log.error({ err, tenantId: action.tenantId }, 'could not lift the pause of a failed move');
  }
}

/** Both sides print rows the same way: timestamps in UTC. */
async function copySettings(tx: OperatorTx): Promise<void> {
  await sql`set local timezone = 'UTC'`.execute(tx);
}

async function prepareTarget(
  source: SqlBackend,
  target: SqlBackend,
  action: OperatorAction,
  migrateTarget: boolean,
): Promise<{ sourceShapes: TableShape[]; targetShapes: TableShape[] }> {
  if (migrateTarget) {
    try {
      await migrate(target);
    } catch (err) {
      throw new BkError(
        'BK_SILO_UNSUITABLE',
        `Could not prepare that database (the URL's role must be able to create tables and roles there): ${(err as Error).message}`,
        { cause: err },
      );
    }
  }
  const [sourceShapes, targetShapes] = await Promise.all([
    withOperatorAt(source, action, readTableShapes),
    withOperatorAt(target, action, readTableShapes),
  ]);
  const differences = shapeDifferences(sourceShapes, targetShapes);
  if (differences.length > 0) {
    throw new BkError(
      'BK_SILO_UNSUITABLE',
      `The two databases' tenant tables differ, so a copy would lose data: ${differences.slice(0, 10).join('; ')}.`,
    );
  }
  return { sourceShapes, targetShapes };
}

/**
 * Copies every row of the tenant (except the tables in `skip`) from `source` into the open
 * transaction `dest`, parents first; then reads the copy back and compares row counts and SHA-256
 * per table.
 */
async function copyAndVerify(
  dest: OperatorTx,
  source: SqlBackend,
  shapes: readonly TableShape[],
  action: OperatorAction,
  skip: ReadonlySet<string>,
): Promise<MoveReport['tables']> {
  const tenantId = action.tenantId!;
  const tables: MoveReport['tables'] = [];
  for (const table of shapes) {
    if (skip.has(table.name)) continue;
    const hash = createHash('sha256');
    let rows = 0;
    // One read of the table in the source (the tenant is paused, so it does not change meanwhile).
    await withOperatorAt(source, action, async (tx) => {
      await copySettings(tx);
      await readRowsInPages(tx, table, tenantId, async (docs) => {
        await insertRows(dest, table, docs);
        for (const doc of docs) hash.update(`${doc}\n`, 'utf8');
        rows += docs.length;
      });
    });
    const expected = { rows, sha256: hash.digest('hex') };
    const copied = await digestTable(dest, table, tenantId);
    if (copied.rows !== expected.rows || copied.sha256 !== expected.sha256) {
      throw new Error(
        `the copy of ${table.name} does not match: ${expected.rows} rows (${expected.sha256}) copied as ${copied.rows} rows (${copied.sha256})`,
      );
    }
    tables.push({ table: table.name, ...expected });
  }
  return tables;
}

async function deleteAll(
  tx: OperatorTx,
  shapes: readonly TableShape[],
  tenantId: string,
  keep: ReadonlySet<string>,
): Promise<void> {
  for (const table of [...shapes].reverse()) {
    if (!keep.has(table.name)) await deleteTenantRows(tx, table.name, tenantId);
  }
}

function report(
  request: MoveRequest,
  direction: MoveReport['direction'],
  url: string,
  tables: MoveReport['tables'],
  times: { started: number; paused: number; resumed: number },
  leftoverCopy: boolean,
): MoveReport {
  return {
    object: 'tenant_move',
    tenantId: request.tenantId,
    direction,
    placement: direction === 'promote' ? 'silo' : 'pool',
    silo: siloLabel(url),
    tables,
    rows: tables.reduce((n, t) => n + t.rows, 0),
    pausedMs: times.resumed - times.paused,
    durationMs: Date.now() - times.started,
    leftoverCopy,
  };
}

/**
 * Pool → silo. The tenant is paused (its requests wait, no one else's do), copied into one
 * transaction of the silo, verified table by table, and only then does the pool hand it over and
 * drop its rows. A failure at any point before that leaves the pool serving the tenant as before.
 */
export function promoteTenant(
  deps: MoveDeps,
  request: MoveRequest & { databaseUrl: string },
): Promise<MoveReport> {
  const { tenantId, databaseUrl: url } = request;
  const action = { operator: request.operator, reason: request.reason, tenantId };
  const pool = deps.routing.pool;
  return exclusively(deps.moving, tenantId, pool, async () => {
    const started = Date.now();
    const silo = deps.routing.silo(url);
    const target = { siloId: siloId(url), sealedUrl: deps.urls.seal(tenantId, url) };
    await withOperatorAt(pool, action, async (tx) => {
      await assertTenantExists(tx, tenantId);
      const placed = await tx
        .selectFrom('tenant_placements')
        .select(['state', 'silo_id'])
        .where('tenant_id', '=', tenantId)
        .executeTakeFirst();
      if (placed?.state === 'silo')
        throw new BkError('BK_CONFLICT', 'This tenant already has its own database.');
      if (placed?.state === 'moving' && placed.silo_id !== target.siloId)
        throw new BkError('BK_CONFLICT', 'This tenant is being moved to another database.');
    });
    const { sourceShapes, targetShapes } = await prepareTarget(pool, silo, action, true);

    await withOperatorAt(pool, action, (tx) => markMoving(tx, tenantId, target));
    const paused = Date.now();
    let tables: MoveReport['tables'];
    try {
      tables = await withOperatorAt(silo, action, async (dest) => {
        await copySettings(dest);
        const self = await dest
          .selectFrom('tenant_placements')
          .select('state')
          .where('tenant_id', '=', tenantId)
          .where('state', '=', 'moving')
          .where('silo_id', '=', target.siloId)
          .executeTakeFirst();
        if (self !== undefined)
          throw new BkError('BK_SILO_UNSUITABLE', 'That URL names the shared pool itself.');
        // A copy left by an earlier attempt, or the rows of an earlier stay, go first.
        await deleteAll(dest, targetShapes, tenantId, new Set());
        const copied = await copyAndVerify(
          dest,
          pool,
          sourceShapes,
          action,
          new Set(['tenant_placements']),
        );
        await appendAuditEvent(dest, deps.keyring, {
          tenantId,
          actor: { kind: 'operator', id: request.operator },
          action: 'tenant.promote',
          resource: { type: 'tenant', id: tenantId },
          decision: 'allowed',
          requestId: request.requestId,
          details: { reason: request.reason, silo: siloLabel(url), rows: sum(copied) },
        });
        return copied;
      });
      await withOperatorAt(pool, action, async (tx) => {
        const handedOver = await tx
          .updateTable('tenant_placements')
          .set({ state: 'silo', updated_at: new Date() })
          .where('tenant_id', '=', tenantId)
          .where('state', '=', 'moving')
          .where('silo_id', '=', target.siloId)
          .executeTakeFirst();
        if (Number(handedOver.numUpdatedRows) !== 1)
          throw new Error('the move was taken over by someone else');
        await deleteAll(tx, sourceShapes, tenantId, KEPT_IN_POOL);
      });
    } catch (err) {
      await unmarkMoving(pool, action, deps);
      throw rolledBack(err, 'the shared pool');
    }
    const resumed = Date.now();
    deps.routing.placed(tenantId, url);
    return report(request, 'promote', url, tables, { started, paused, resumed }, false);
  });
}

/**
 * Silo → pool, the same way round: paused in the silo, copied into one transaction of the pool,
 * verified, handed over; then the silo drops its copy and keeps a mark that the tenant is away.
 */
export async function demoteTenant(deps: MoveDeps, request: MoveRequest): Promise<MoveReport> {
  const { tenantId } = request;
  const action = { operator: request.operator, reason: request.reason, tenantId };
  const pool = deps.routing.pool;
  const placement = () =>
    withOperatorAt(pool, action, async (tx) => {
      await assertTenantExists(tx, tenantId);
      const placed = await tx
        .selectFrom('tenant_placements')
        .select(['state', 'sealed_url'])
        .where('tenant_id', '=', tenantId)
        .executeTakeFirst();
      if (placed === undefined)
        throw new BkError('BK_CONFLICT', 'This tenant is in the shared pool already.');
      if (placed.state !== 'silo' || placed.sealed_url === null)
        throw new BkError(
          'BK_CONFLICT',
          'A promotion of this tenant is unfinished: promote it again to finish it first.',
        );
      return deps.urls.open(tenantId, placed.sealed_url);
    });
  const started = Date.now();
  const url = await placement();
  const silo = deps.routing.silo(url);
  return exclusively(deps.moving, tenantId, silo, async () => {
    // Another node may have moved it between the first look and the lock.
    if ((await placement()) !== url)
      throw new BkError('BK_CONFLICT', 'This tenant was moved meanwhile; look again.');
    const { sourceShapes, targetShapes } = await prepareTarget(silo, pool, action, false);

    await withOperatorAt(silo, action, (tx) =>
      markMoving(tx, tenantId, { siloId: 'pool', sealedUrl: null }),
    );
    const paused = Date.now();
    let tables: MoveReport['tables'];
    try {
      tables = await withOperatorAt(pool, action, async (dest) => {
        await copySettings(dest);
        await deleteAll(dest, targetShapes, tenantId, KEPT_IN_POOL);
        const copied = await copyAndVerify(dest, silo, sourceShapes, action, KEPT_IN_POOL);
        // The registry row takes the tenant's current name and status from the silo.
        const current = await withOperatorAt(silo, action, (tx) =>
          tx
            .selectFrom('tenants')
            .select(['name', 'status', 'updated_at'])
            .where('tenant_id', '=', tenantId)
            .executeTakeFirstOrThrow(),
        );
        await dest.updateTable('tenants').set(current).where('tenant_id', '=', tenantId).execute();
        await appendAuditEvent(dest, deps.keyring, {
          tenantId,
          actor: { kind: 'operator', id: request.operator },
          action: 'tenant.demote',
          resource: { type: 'tenant', id: tenantId },
          decision: 'allowed',
          requestId: request.requestId,
          details: { reason: request.reason, silo: siloLabel(url), rows: sum(copied) },
        });
        await dest.deleteFrom('tenant_placements').where('tenant_id', '=', tenantId).execute();
        return copied;
      });
    } catch (err) {
      await unmarkMoving(silo, action, deps);
      throw rolledBack(err, 'its own database');
    }
    const resumed = Date.now();
    deps.routing.placed(tenantId, null);
    let leftoverCopy = false;
    try {
      await withOperatorAt(silo, action, async (tx) => {
        await deleteAll(tx, sourceShapes, tenantId, new Set(['tenant_placements']));
        await tx
          .updateTable('tenant_placements')
          .set({ state: 'away', updated_at: new Date() })
          .where('tenant_id', '=', tenantId)
          .execute();
      });
    } catch (err) {
      // The silo's mark still says `moving`, so no node serves the tenant from there; its copy
      // stays until the next move to that silo clears it.
      leftoverCopy = true;
      deps.log.error({ err, tenantId }, "could not remove a demoted tenant's rows from its silo");
    }
    return report(request, 'demote', url, tables, { started, paused, resumed }, leftoverCopy);
  });
}

const sum = (tables: MoveReport['tables']) => tables.reduce((n, t) => n + t.rows, 0);
