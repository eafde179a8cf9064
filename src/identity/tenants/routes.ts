import type { Selectable } from 'kysely';
import type { FastifyRequest } from 'fastify';
import { notFound } from '../../core/errors.ts';
import { isId, newId } from '../../core/ids.ts';
import type { TenantsTable } from '../../db/schema.ts';
import { appendAuditEvent } from '../../audit/append.ts';
import { type OperatorTx, withOperator, withOperatorEverywhere } from '../../db/scope.ts';
import type { App, AppDeps } from '../../http/app-types.ts';
import { listPage, pageQuery } from '../../http/pagination.ts';
import {
  usageByTenant,
  usageQuery,
  usageReport,
  usageWindow,
} from '../../metering/usage-report.ts';
import { issueApiKey } from '../api-keys/issue.ts';
import { revokeKey } from '../api-keys/repository.ts';
import { keyView } from '../api-keys/view.ts';
import { operatorReason } from '../../http/operator-reason.ts';
import { createTenantBody, operatorKeyBody, tenantIdParams, tenantKeyParams } from './schema.ts';
import { assertTenantExists } from './repository.ts';

function tenantView(row: Selectable<TenantsTable>) {
  return {
    id: row.tenant_id,
    object: 'tenant' as const,
    name: row.name,
    status: row.status,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

function checkTenantId(tenantId: string): void {
  if (!isId('tenant', tenantId)) throw notFound('tenant', tenantId);
}

/** The operator surface. Every handler runs through `withOperator`, which records who and why. */
export function registerTenantAdminRoutes(app: App, deps: AppDeps): void {
  /** Operator changes land in the tenant's own audit trail, so the tenant sees them. */
  const operatorChange = (
    tx: OperatorTx,
    tenantId: string,
    operator: string,
    request: FastifyRequest,
    action: string,
    resource: { type: string; id: string },
    details: Record<string, unknown> = {},
  ) =>
    appendAuditEvent(tx, deps.keyring, {
      tenantId,
      actor: { kind: 'operator', id: operator },
      action,
      resource,
      decision: 'allowed',
      requestId: request.id,
      details: { ...details, reason: operatorReason(request, action) },
    });

  const tags = ['admin'];

  app.post(
    '/v1/admin/tenants',
    {
      schema: {
        tags,
        summary: 'Create a tenant and its initial owner API key',
        body: createTenantBody,
      },
    },
    async (request, reply) => {
      const operator = deps.auth.operator(request);
      const tenantId = newId('tenant');
      // The KEK first, in the key store (outside the transaction): if what follows fails, a KEK of
      // a tenant id that never came to exist is left behind, which opens nothing.
      await deps.keyring.ensureKek(tenantId);
      const result = await withOperator(
        deps.db,
        { operator, reason: operatorReason(request, 'create tenant'), tenantId },
        async (tx) => {
          const tenant = await tx
            .insertInto('tenants')
            .values({ tenant_id: tenantId, name: request.body.name })
            .returningAll()
            .executeTakeFirstOrThrow();
          await deps.keyring.createDataKey(tx, tenantId);
          const key = await issueApiKey(tx, {
            tenantId,
            name: 'initial owner key',
            role: 'owner',
            scopes: null,
            userId: null,
            createdBy: `operator:${operator}`,
            expiresAt: null,
          });
          await operatorChange(
            tx,
            tenantId,
            operator,
            request,
            'tenant.create',
            { type: 'tenant', id: tenantId },
            { name: tenant.name },
          );
          await operatorChange(
            tx,
            tenantId,
            operator,
            request,
            'api_key.create',
            { type: 'api_key', id: key.id },
            { role: 'owner' },
          );
          return { tenant, key };
        },
      );
      return reply
        .code(201)
        .send({ ...tenantView(result.tenant), apiKey: result.key.key, apiKeyId: result.key.id });
    },
  );

  app.get(
    '/v1/admin/tenants',
    { schema: { tags, summary: 'List tenants', querystring: pageQuery } },
    async (request) => {
      const operator = deps.auth.operator(request);
      const { limit, after } = request.query;
      const rows = await withOperator(
        deps.db,
        { operator, reason: operatorReason(request, 'list tenants') },
        (tx) => {
          let query = tx
            .selectFrom('tenants')
            .selectAll()
            .orderBy('tenant_id')
            .limit(limit + 1);
          if (after !== undefined) query = query.where('tenant_id', '>', after);
          return query.execute();
        },
      );
      return listPage(rows, limit, tenantView);
    },
  );

  app.get(
    '/v1/admin/tenants/:tenantId',
    { schema: { tags, summary: 'Get a tenant', params: tenantIdParams } },
    async (request) => {
      const operator = deps.auth.operator(request);
      const { tenantId } = request.params;
      checkTenantId(tenantId);
      const row = await withOperator(
        deps.db,
        { operator, reason: operatorReason(request, 'get tenant'), tenantId },
        (tx) =>
          tx.selectFrom('tenants').selectAll().where('tenant_id', '=', tenantId).executeTakeFirst(),
      );
      if (row === undefined) throw notFound('tenant', tenantId);
      return tenantView(row);
    },
  );

  for (const [action, status] of [
    ['suspend', 'suspended'],
    ['resume', 'active'],
  ] as const) {
    app.post(
      `/v1/admin/tenants/:tenantId/${action}`,
      {
        schema: {
          tags,
          summary:
            action === 'suspend'
              ? 'Suspend a tenant: its keys and tokens get 403 at once'
              : 'Resume a suspended tenant',
          params: tenantIdParams,
        },
      },
      async (request) => {
        const operator = deps.auth.operator(request);
        const { tenantId } = request.params;
        checkTenantId(tenantId);
        const row = await withOperator(
          deps.db,
          { operator, reason: operatorReason(request, `${action} tenant`), tenantId },
          async (tx) => {
            const updated = await tx
              .updateTable('tenants')
              .set({ status, updated_at: deps.now() })
              .where('tenant_id', '=', tenantId)
              .returningAll()
              .executeTakeFirst();
            if (updated !== undefined) {
              await operatorChange(tx, tenantId, operator, request, `tenant.${action}`, {
                type: 'tenant',
                id: tenantId,
              });
            }
            return updated;
          },
        );
        if (row === undefined) throw notFound('tenant', tenantId);
        const routing = deps.db.routing;
        if (routing !== undefined && routing.backendFor(tenantId) !== routing.pool) {
          // Served by its own database: the pool's registry row (the tenant list) follows.
          await withOperator(
            deps.db,
            { operator, reason: operatorReason(request, `${action} tenant (registry)`) },
            (tx) =>
              tx
                .updateTable('tenants')
                .set({ status, updated_at: row.updated_at })
                .where('tenant_id', '=', tenantId)
                .execute(),
          );
        }
        return tenantView(row);
      },
    );
  }

  app.post(
    '/v1/admin/tenants/:tenantId/keys',
    {
      schema: {
        tags,
        summary: 'Create an API key for a tenant',
        params: tenantIdParams,
        body: operatorKeyBody,
      },
    },
    async (request, reply) => {
      const operator = deps.auth.operator(request);
      const { tenantId } = request.params;
      checkTenantId(tenantId);
      const body = request.body;
      const key = await withOperator(
        deps.db,
        { operator, reason: operatorReason(request, 'create API key'), tenantId },
        async (tx) => {
          await assertTenantExists(tx, tenantId);
          const issued = await issueApiKey(tx, {
            tenantId,
            name: body.name,
            role: body.role,
            scopes: body.scopes ?? null,
            userId: null,
            createdBy: `operator:${operator}`,
            expiresAt: body.expiresAt === undefined ? null : new Date(body.expiresAt),
          });
          await operatorChange(
            tx,
            tenantId,
            operator,
            request,
            'api_key.create',
            { type: 'api_key', id: issued.id },
            { role: issued.role },
          );
          return issued;
        },
      );
      return reply.code(201).send(key);
    },
  );

  app.delete(
    '/v1/admin/tenants/:tenantId/keys/:keyId',
    { schema: { tags, summary: "Revoke one of a tenant's API keys", params: tenantKeyParams } },
    async (request) => {
      const operator = deps.auth.operator(request);
      const { tenantId, keyId } = request.params;
      checkTenantId(tenantId);
      const row = await withOperator(
        deps.db,
        { operator, reason: operatorReason(request, 'revoke API key'), tenantId },
        async (tx) => {
          const revoked = await revokeKey(tx, tenantId, keyId, deps.now());
          if (revoked !== undefined) {
            await operatorChange(tx, tenantId, operator, request, 'api_key.revoke', {
              type: 'api_key',
              id: keyId,
            });
          }
          return revoked;
        },
      );
      if (row === undefined) throw notFound('API key', keyId);
      return keyView(row);
    },
  );

  app.get(
    '/v1/admin/usage',
    { schema: { tags, summary: "Every tenant's usage totals", querystring: usageQuery } },
    async (request) => {
      const operator = deps.auth.operator(request);
      const window = usageWindow(request.query, deps.now());
      const parts = await withOperatorEverywhere(
        deps.db,
        { operator, reason: operatorReason(request, 'usage summary') },
        (tx) => usageByTenant(tx, window),
      );
      // Each tenant's records are in exactly one database: the pool's and the silos' lists join.
      const tenants = parts
        .flatMap((p) => p.tenants)
        .sort((a, b) => (a.tenantId < b.tenantId ? -1 : 1));
      return { ...parts[0]!, tenants };
    },
  );

  app.get(
    '/v1/admin/tenants/:tenantId/usage',
    {
      schema: {
        tags,
        summary: "One tenant's usage report",
        params: tenantIdParams,
        querystring: usageQuery,
      },
    },
    async (request) => {
      const operator = deps.auth.operator(request);
      const { tenantId } = request.params;
      checkTenantId(tenantId);
      const window = usageWindow(request.query, deps.now());
      return withOperator(
        deps.db,
        { operator, reason: operatorReason(request, 'tenant usage report'), tenantId },
        (tx) => usageReport(tx, tenantId, window),
      );
    },
  );
}
