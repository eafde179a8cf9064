import { z } from 'zod';
import { everyDatabase, withOperator, withOperatorAt } from '../db/scope.ts';
import type { App, AppDeps } from '../http/app-types.ts';
import { operatorReason } from '../http/operator-reason.ts';
import { listPage, pageQuery } from '../http/pagination.ts';

const operatorLogQuery = pageQuery.extend({
  tenantId: z
    .string()
    .regex(/^tn_[0-9a-z]{26}$/, 'must be a tenant id')
    .optional(),
});

/**
 * The operator log: every operator action (who, why, which tenant), oldest first. Work on a
 * promoted tenant is recorded in its own database, so the log is read from the pool and every silo
 * and merged by id (ids sort by time). Reading it is itself recorded.
 */
export function registerOperatorLogRoutes(app: App, deps: AppDeps): void {
  app.get(
    '/v1/admin/operator-actions',
    {
      schema: {
        tags: ['admin'],
        summary: 'The operator log, across the pool and every silo (optionally for one tenant)',
        querystring: operatorLogQuery,
      },
    },
    async (request) => {
      const operator = deps.auth.operator(request);
      const { limit, after, tenantId } = request.query;
      const action = { operator, reason: operatorReason(request, 'read the operator log') };
      const rows = [];
      for (const database of await everyDatabase(deps.db, action)) {
        const page = await withOperatorAt(database, action, (tx) => {
          let query = tx
            .selectFrom('operator_actions')
            .selectAll()
            .orderBy('action_id')
            .limit(limit + 1);
          if (after !== undefined) query = query.where('action_id', '>', after);
          if (tenantId !== undefined) query = query.where('target_tenant_id', '=', tenantId);
          return query.execute();
        });
        rows.push(...page);
      }
      rows.sort((a, b) => (a.action_id < b.action_id ? -1 : 1));
      return listPage(rows, limit, (row) => ({
        id: row.action_id,
        object: 'operator_action' as const,
        at: row.at.toISOString(),
        operator: row.operator,
        reason: row.reason,
        tenantId: row.target_tenant_id,
      }));
    },
  );

  app.get(
    '/v1/admin/tombstones',
    {
      schema: {
        tags: ['admin'],
        summary: 'Deleted tenants: when, by whom, why, and the rows removed from each table',
        querystring: pageQuery,
      },
    },
    async (request) => {
      const operator = deps.auth.operator(request);
      const { limit, after } = request.query;
      const rows = await withOperator(
        deps.db,
        { operator, reason: operatorReason(request, 'read tombstones') },
        (tx) => {
          let query = tx
            .selectFrom('tenant_tombstones')
            .selectAll()
            .orderBy('deleted_tenant_id')
            .limit(limit + 1);
          if (after !== undefined) query = query.where('deleted_tenant_id', '>', after);
          return query.execute();
        },
      );
      return listPage(rows, limit, (row) => ({
        id: row.deleted_tenant_id,
        object: 'tenant_tombstone' as const,
        name: row.name,
        deletedAt: row.deleted_at.toISOString(),
        operator: row.operator,
        reason: row.reason,
        rowsRemoved: row.rows_removed,
        keyDestroyed: row.key_destroyed,
      }));
    },
  );
}
