import { assertTenantExists } from '../../identity/tenants/repository.ts';
import { z } from 'zod';
import { notFound } from '../../core/errors.ts';
import { isId } from '../../core/ids.ts';
import { withOperator } from '../../db/scope.ts';
import { siloLabel, type TenantRouting } from '../../db/tenant-routing.ts';
import type { App, AppDeps } from '../../http/app-types.ts';
import { operatorReason } from '../../http/operator-reason.ts';
import { demoteTenant, type MoveDeps, promoteTenant } from './move-tenant.ts';

const tenantIdParams = z.strictObject({ tenantId: z.string().min(1).max(64) });

const promoteBody = z.strictObject({
  databaseUrl: z
    .url({ protocol: /^postgres(ql)?$/, error: 'must be a postgres:// URL' })
    .max(2000)
    .describe(
      'The silo: a PostgreSQL database whose role may create tables (Bulkhead migrates it). Stored sealed with the master key; reports show only host and database.',
    ),
});

/** Moving one tenant between the shared pool and a database of its own, and back. */
export function registerTenantPlacementRoutes(
  app: App,
  deps: AppDeps,
  routing: TenantRouting,
): void {
  const moving = new Set<string>();
  const moveDeps = (): MoveDeps => ({
    routing,
    moving,
    keyring: deps.keyring,
    urls: deps.siloUrls,
    log: app.log,
  });
  const checkTenantId = (tenantId: string) => {
    if (!isId('tenant', tenantId)) throw notFound('tenant', tenantId);
  };

  app.post(
    '/v1/admin/tenants/:tenantId/promote',
    {
      schema: {
        tags: ['admin'],
        summary:
          'Move a tenant from the shared pool to its own PostgreSQL database: copy, verify counts and checksums, switch, remove the pooled rows',
        params: tenantIdParams,
        body: promoteBody,
      },
    },
    async (request) => {
      const operator = deps.auth.operator(request);
      const { tenantId } = request.params;
      checkTenantId(tenantId);
      return promoteTenant(moveDeps(), {
        tenantId,
        databaseUrl: request.body.databaseUrl,
        operator,
        reason: operatorReason(request, 'promote tenant to its own database'),
        requestId: request.id,
      });
    },
  );

  app.post(
    '/v1/admin/tenants/:tenantId/demote',
    {
      schema: {
        tags: ['admin'],
        summary: 'Move a promoted tenant back into the shared pool',
        params: tenantIdParams,
      },
    },
    async (request) => {
      const operator = deps.auth.operator(request);
      const { tenantId } = request.params;
      checkTenantId(tenantId);
      return demoteTenant(moveDeps(), {
        tenantId,
        operator,
        reason: operatorReason(request, 'demote tenant to the shared pool'),
        requestId: request.id,
      });
    },
  );

  app.get(
    '/v1/admin/tenants/:tenantId/placement',
    {
      schema: {
        tags: ['admin'],
        summary: 'Where a tenant is served from: the shared pool, its own database, or moving',
        params: tenantIdParams,
      },
    },
    async (request) => {
      const operator = deps.auth.operator(request);
      const { tenantId } = request.params;
      checkTenantId(tenantId);
      const found = await withOperator(
        deps.db,
        { operator, reason: operatorReason(request, 'read tenant placement') },
        async (tx) => {
          await assertTenantExists(tx, tenantId);
          return tx
            .selectFrom('tenant_placements')
            .select(['state', 'sealed_url', 'updated_at'])
            .where('tenant_id', '=', tenantId)
            .executeTakeFirst();
        },
      );
      const silo =
        found?.sealed_url == null
          ? null
          : siloLabel(deps.siloUrls.open(tenantId, found.sealed_url));
      return {
        object: 'tenant_placement' as const,
        tenantId,
        placement: found === undefined ? ('pool' as const) : found.state,
        silo,
        since: found?.updated_at.toISOString() ?? null,
      };
    },
  );
}
