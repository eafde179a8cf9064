import type { FastifyBaseLogger } from 'fastify';
import { sql } from 'kysely';
import { z } from 'zod';
import { BkError, notFound } from '../../core/errors.ts';
import { isId } from '../../core/ids.ts';
import { type OperatorAction, withOperator } from '../../db/scope.ts';
import type { Selectable } from 'kysely';
import type { TenantTombstonesTable } from '../../db/schema.ts';
import type { App, AppDeps } from '../../http/app-types.ts';
import { wrappedByKek } from '../../secrets/tenant-keyring.ts';
import { countTenantRows, tenantTablesChildrenFirst } from './tenant-tables.ts';
import { operatorReason } from '../../http/operator-reason.ts';

type Tombstone = Selectable<TenantTombstonesTable>;

interface KeyDestruction {
  keyDestroyed: boolean;
  /** Why the KEK could not be destroyed: the deletion is done, the shredding is not yet. */
  keyDestroyError?: string;
}

/**
 * Destroys a deleted tenant's KEK in the key store, then marks its tombstone in the pool. Run
 * after the deletion committed (a KEK destroyed for a deletion that then rolled back would lose the
 * tenant's data); again by a retry of the delete, or the start-up sweep, if it failed. Destroying
 * twice is harmless.
 */
async function destroyTenantKek(
  deps: Pick<AppDeps, 'db' | 'keyring'>,
  action: OperatorAction,
  tenantId: string,
  log: FastifyBaseLogger,
): Promise<KeyDestruction> {
  try {
    await deps.keyring.destroyKek(tenantId);
  } catch (err) {
    log.error(
      { err, tenantId, keyStore: deps.keyring.store.location },
      'could not destroy the KEK of a deleted tenant; a retry of the delete, or the next start, finishes it',
    );
    return { keyDestroyed: false, keyDestroyError: (err as Error).message };
  }
  await withOperator(deps.db, action, (tx) =>
    tx
      .updateTable('tenant_tombstones')
      .set({ key_destroyed: true })
      .where('deleted_tenant_id', '=', tenantId)
      .where('key_destroyed', '=', false)
      .execute(),
  );
  return { keyDestroyed: true };
}

/**
 * At start: every tenant deleted while its KEK could not be destroyed (the tombstone says
 * `key_destroyed = false`) has it destroyed now. Failures are logged and left for the next start.
 */
export async function sweepUndestroyedKeks(
  deps: Pick<AppDeps, 'db' | 'keyring'>,
  log: FastifyBaseLogger,
): Promise<number> {
  const action = { operator: 'system', reason: 'destroy the KEKs of deleted tenants' };
  const pending = await withOperator(deps.db, action, (tx) =>
    tx
      .selectFrom('tenant_tombstones')
      .select('deleted_tenant_id')
      .where('key_destroyed', '=', false)
      .execute(),
  );
  let destroyed = 0;
  for (const { deleted_tenant_id: tenantId } of pending) {
    if ((await destroyTenantKek(deps, action, tenantId, log)).keyDestroyed) destroyed++;
  }
  if (destroyed > 0) log.info({ destroyed }, 'destroyed the KEKs left by earlier deletions');
  return destroyed;
}

function deletionAnswer(
  deps: AppDeps,
  tombstone: Tombstone,
  destruction: KeyDestruction,
  details: { tablesScanned: number | null; legacyDataKeys: boolean | null },
) {
  return {
    object: 'tenant_deletion' as const,
    tenantId: tombstone.deleted_tenant_id,
    name: tombstone.name,
    deletedAt: tombstone.deleted_at.toISOString(),
    operator: tombstone.operator,
    reason: tombstone.reason,
    rowsRemoved: tombstone.rows_removed,
    tablesScanned: details.tablesScanned,
    rowsRemaining: 0,
    keyStore: deps.keyring.store.kind,
    keyDestroyed: destruction.keyDestroyed,
    ...(destruction.keyDestroyError !== undefined && {
      keyDestroyError: `${destruction.keyDestroyError} — the tenant's rows are deleted, but its key-encryption key is not destroyed yet: repeat this DELETE (or restart a node) to finish.`,
    }),
    /**
     * Whether copies of its data in backups of the tenant databases are now unreadable: the KEK is
     * gone from a key store kept apart from them, and no data key was still wrapped by the master
     * key directly (legacy keys: rotate the master key before deleting to cover them).
     */
    backupsUnreadable:
      destruction.keyDestroyed &&
      deps.keyring.store.kind !== 'database' &&
      details.legacyDataKeys === false,
  };
}

/**
 * Deleting a tenant: it must be suspended first (so nothing of it is in flight). Every row with its
 * id goes, from every table the catalog lists, in one transaction — its data keys with them. A
 * scan of the catalog proves nothing is left before the transaction commits; a tombstone with the
 * row counts stays in the operator log. Then its key-encryption key is destroyed in the key store,
 * which makes the copies of its data keys in backups — and so of its sealed values — unreadable.
 */
export function registerTenantDeleteRoutes(app: App, deps: AppDeps): void {
  app.delete(
    '/v1/admin/tenants/:tenantId',
    {
      schema: {
        tags: ['admin'],
        summary:
          'Delete a suspended tenant and all its rows; its key-encryption key is destroyed (crypto-shredding)',
        params: z.strictObject({ tenantId: z.string().min(1).max(64) }),
      },
    },
    async (request) => {
      const operator = deps.auth.operator(request);
      const { tenantId } = request.params;
      if (!isId('tenant', tenantId)) throw notFound('tenant', tenantId);
      const reason = operatorReason(request, 'delete tenant');
      const poolAction = { operator, reason };

      // A deletion whose KEK could not be destroyed: this retry finishes it.
      const unfinished = await withOperator(deps.db, poolAction, (tx) =>
        tx
          .selectFrom('tenant_tombstones')
          .selectAll()
          .where('deleted_tenant_id', '=', tenantId)
          .where('key_destroyed', '=', false)
          .executeTakeFirst(),
      );
      if (unfinished !== undefined) {
        const destruction = await destroyTenantKek(deps, poolAction, tenantId, request.log);
        return deletionAnswer(deps, unfinished, destruction, {
          tablesScanned: null,
          legacyDataKeys: null,
        });
      }

      const routing = deps.db.routing;
      const inSilo = routing !== undefined && routing.backendFor(tenantId) !== routing.pool;
      const result = await withOperator(deps.db, { operator, reason, tenantId }, async (tx) => {
        const tenant = await tx
          .selectFrom('tenants')
          .select(['name', 'status'])
          .where('tenant_id', '=', tenantId)
          .executeTakeFirst();
        if (tenant === undefined) throw notFound('tenant', tenantId);
        if (tenant.status !== 'suspended') {
          throw new BkError(
            'BK_CONFLICT',
            'Suspend the tenant first (POST /v1/admin/tenants/{id}/suspend), then delete it.',
          );
        }
        const keys = await tx
          .selectFrom('tenant_data_keys')
          .select('wrapped_key')
          .where('tenant_id', '=', tenantId)
          .execute();
        const legacyDataKeys = keys.some((k) => !wrappedByKek(k.wrapped_key));
        const tables = await tenantTablesChildrenFirst(tx);
        const rowsRemoved: Record<string, number> = {};
        for (const table of tables) {
          const deleted =
            await sql`delete from ${sql.table(table)} where tenant_id = ${tenantId}`.execute(tx);
          rowsRemoved[table] = Number(deleted.numAffectedRows ?? 0);
        }
        for (const table of tables) {
          const left = await countTenantRows(tx, table, tenantId);
          if (left !== 0)
            throw new Error(`${left} rows of ${tenantId} remain in ${table} after deletion`);
        }
        const tombstone = await tx
          .insertInto('tenant_tombstones')
          .values({
            deleted_tenant_id: tenantId,
            name: tenant.name,
            operator,
            reason,
            rows_removed: JSON.stringify(rowsRemoved),
            // The pool's tombstone tracks the KEK; a silo's copy does not.
            key_destroyed: inSilo ? null : false,
          })
          .returningAll()
          .executeTakeFirstOrThrow();
        return { tombstone, tablesScanned: tables.length, legacyDataKeys };
      });
      let tombstone = result.tombstone;
      if (routing !== undefined && inSilo) {
        // It lived in its own database, where its rows and key were just destroyed; the pool
        // still has its registry row and placement, and keeps the tombstone too.
        tombstone = await withOperator(deps.db, poolAction, async (tx) => {
          for (const table of ['tenant_placements', 'tenants'] as const) {
            await tx.deleteFrom(table).where('tenant_id', '=', tenantId).execute();
          }
          return tx
            .insertInto('tenant_tombstones')
            .values({
              deleted_tenant_id: tenantId,
              name: result.tombstone.name,
              operator,
              reason,
              rows_removed: JSON.stringify(result.tombstone.rows_removed),
              key_destroyed: false,
            })
            .returningAll()
            .executeTakeFirstOrThrow();
        });
        routing.placed(tenantId, null);
      }
      deps.router.forgetTenant(tenantId);
      deps.policies.forget(tenantId);
      deps.responseCache.forgetTenant(tenantId);
      const destruction = await destroyTenantKek(deps, poolAction, tenantId, request.log);
      return deletionAnswer(deps, tombstone, destruction, {
        tablesScanned: result.tablesScanned,
        legacyDataKeys: result.legacyDataKeys,
      });
    },
  );
}
