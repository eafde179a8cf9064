import { sql } from 'kysely';
import { z } from 'zod';
import { BkError, notFound } from '../../core/errors.ts';
import { isId } from '../../core/ids.ts';
import { withOperator } from '../../db/scope.ts';
import type { App, AppDeps } from '../../http/app-types.ts';
import { countTenantRows, tenantTablesChildrenFirst } from './tenant-tables.ts';
import { operatorReason } from '../../http/operator-reason.ts';

/**
 * Deleting a tenant: it must be suspended first (so nothing of it is in flight). Every row with its
 * id goes, from every table the catalog lists, in one transaction — its data key with them, so its
 * sealed values (provider keys, audit payloads) cannot be opened again by this deployment. A scan
 * of the catalog proves nothing is left before the transaction commits; a tombstone with the row
 * counts stays in the operator log.
 */
export function registerTenantDeleteRoutes(app: App, deps: AppDeps): void {
  app.delete(
    '/v1/admin/tenants/:tenantId',
    {
      schema: {
        tags: ['admin'],
        summary: 'Delete a suspended tenant and all its rows; its data key is destroyed',
        params: z.strictObject({ tenantId: z.string().min(1).max(64) }),
      },
    },
    async (request) => {
      const operator = deps.auth.operator(request);
      const { tenantId } = request.params;
      if (!isId('tenant', tenantId)) throw notFound('tenant', tenantId);
      const reason = operatorReason(request, 'delete tenant');
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
          })
          .returningAll()
          .executeTakeFirstOrThrow();
        return { tombstone, tablesScanned: tables.length };
      });
      deps.router.forgetTenant(tenantId);
      deps.policies.forget(tenantId);
      deps.responseCache.forgetTenant(tenantId);
      return {
        object: 'tenant_deletion' as const,
        tenantId,
        name: result.tombstone.name,
        deletedAt: result.tombstone.deleted_at.toISOString(),
        operator: result.tombstone.operator,
        reason: result.tombstone.reason,
        rowsRemoved: result.tombstone.rows_removed,
        tablesScanned: result.tablesScanned,
        rowsRemaining: 0,
      };
    },
  );
}
