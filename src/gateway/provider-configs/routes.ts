import { BkError, notFound } from '../../core/errors.ts';
import { newId } from '../../core/ids.ts';
import { withTenant } from '../../db/scope.ts';
import type { App, AppDeps } from '../../http/app-types.ts';
import { listPage, pageQuery } from '../../http/pagination.ts';
import { assertPublicHost } from '../providers/upstream/address-guard.ts';
import { API_KEY_PURPOSE } from '../router.ts';
import { getProvider, listProviders, type ProviderRow } from './repository.ts';
import { recordChange } from '../../audit/append.ts';
import { createProviderBody, providerIdParams, updateProviderBody } from './schema.ts';
import { providerView } from './view.ts';
import { isUniqueViolation } from '../../db/pg-errors.ts';

function checkBaseUrl(deps: AppDeps, baseUrl: string): void {
  if (deps.config.allowPrivateUpstreams) return;
  try {
    assertPublicHost(new URL(baseUrl).hostname);
  } catch {
    throw new BkError(
      'BK_VALIDATION_FAILED',
      'baseUrl points at a loopback or private address, which this server does not allow (BULKHEAD_ALLOW_PRIVATE_UPSTREAMS).',
      { param: 'baseUrl' },
    );
  }
}

/** What the audit trail keeps of a provider: never its key. */
function auditedFields(row: ProviderRow) {
  return {
    name: row.name,
    kind: row.kind,
    baseUrl: row.base_url,
    region: row.region,
    models: row.models,
  };
}

/** BYOK: a tenant's own providers and keys. Keys are sealed with the tenant's data key and never returned. */
export function registerProviderRoutes(app: App, deps: AppDeps): void {
  const tags = ['providers'];

  app.post(
    '/v1/providers',
    {
      schema: {
        tags,
        summary: 'Register a provider and its key for this tenant',
        body: createProviderBody,
      },
    },
    async (request, reply) => {
      const ctx = await deps.auth.tenant(request, 'providers:write');
      const body = request.body;
      checkBaseUrl(deps, body.baseUrl);
      const row = await withTenant(deps.db, ctx, async (tx) => {
        const sealed =
          body.apiKey === undefined
            ? null
            : await deps.keyring.sealForTenant(tx, ctx.tenantId, API_KEY_PURPOSE, body.apiKey);
        const created = await tx
          .insertInto('providers')
          .values({
            tenant_id: ctx.tenantId,
            provider_id: newId('provider'),
            name: body.name,
            kind: body.kind,
            base_url: body.baseUrl,
            sealed_api_key: sealed,
            api_key_header: body.apiKeyHeader,
            default_query: JSON.stringify(body.defaultQuery),
            region: body.region ?? null,
            models: body.models,
          })
          .returningAll()
          .executeTakeFirstOrThrow();
        await recordChange(tx, deps.keyring, ctx, {
          action: 'provider.create',
          resource: { type: 'provider', id: created.provider_id },
          details: { ...auditedFields(created), apiKeySet: sealed !== null },
        });
        return created;
      }).catch((err: unknown) => {
        if (isUniqueViolation(err)) {
          throw new BkError('BK_CONFLICT', `A provider named '${body.name}' already exists.`, {
            param: 'name',
          });
        }
        throw err;
      });
      return reply.code(201).send(providerView(row));
    },
  );

  app.get(
    '/v1/providers',
    { schema: { tags, summary: "List this tenant's providers", querystring: pageQuery } },
    async (request) => {
      const ctx = await deps.auth.tenant(request, 'providers:read');
      const rows = await withTenant(deps.db, ctx, (tx) => listProviders(tx, request.query));
      return listPage(rows, request.query.limit, providerView);
    },
  );

  app.get(
    '/v1/providers/:providerId',
    { schema: { tags, summary: 'Get one provider', params: providerIdParams } },
    async (request) => {
      const ctx = await deps.auth.tenant(request, 'providers:read');
      const row = await withTenant(deps.db, ctx, (tx) =>
        getProvider(tx, request.params.providerId),
      );
      if (row === undefined) throw notFound('provider', request.params.providerId);
      return providerView(row);
    },
  );

  app.patch(
    '/v1/providers/:providerId',
    {
      schema: {
        tags,
        summary: 'Change a provider (send apiKey to rotate it, null to remove it)',
        params: providerIdParams,
        body: updateProviderBody,
      },
    },
    async (request) => {
      const ctx = await deps.auth.tenant(request, 'providers:write');
      const body = request.body;
      if (body.baseUrl !== undefined) checkBaseUrl(deps, body.baseUrl);
      const row = await withTenant(deps.db, ctx, async (tx) => {
        const sealed =
          body.apiKey === undefined || body.apiKey === null
            ? body.apiKey
            : await deps.keyring.sealForTenant(tx, ctx.tenantId, API_KEY_PURPOSE, body.apiKey);
        const updated = await tx
          .updateTable('providers')
          .set({
            ...(body.baseUrl !== undefined && { base_url: body.baseUrl }),
            ...(sealed !== undefined && { sealed_api_key: sealed }),
            ...(body.apiKeyHeader !== undefined && { api_key_header: body.apiKeyHeader }),
            ...(body.defaultQuery !== undefined && {
              default_query: JSON.stringify(body.defaultQuery),
            }),
            ...(body.region !== undefined && { region: body.region }),
            ...(body.models !== undefined && { models: body.models }),
            updated_at: deps.now(),
          })
          .where('provider_id', '=', request.params.providerId)
          .returningAll()
          .executeTakeFirst();
        if (updated !== undefined) {
          await recordChange(tx, deps.keyring, ctx, {
            action: 'provider.update',
            resource: { type: 'provider', id: updated.provider_id },
            details: {
              ...auditedFields(updated),
              changed: Object.keys(body),
              ...(body.apiKey !== undefined && {
                apiKey: body.apiKey === null ? 'removed' : 'replaced',
              }),
            },
          });
        }
        return updated;
      });
      if (row === undefined) throw notFound('provider', request.params.providerId);
      deps.router.forget(ctx, row.name);
      return providerView(row);
    },
  );

  app.delete(
    '/v1/providers/:providerId',
    { schema: { tags, summary: 'Delete a provider and its sealed key', params: providerIdParams } },
    async (request) => {
      const ctx = await deps.auth.tenant(request, 'providers:write');
      const deleted = await withTenant(deps.db, ctx, async (tx) => {
        const gone = await tx
          .deleteFrom('providers')
          .where('provider_id', '=', request.params.providerId)
          .returning(['provider_id', 'name'])
          .executeTakeFirst();
        if (gone !== undefined) {
          await recordChange(tx, deps.keyring, ctx, {
            action: 'provider.delete',
            resource: { type: 'provider', id: gone.provider_id },
            details: { name: gone.name },
          });
        }
        return gone;
      });
      if (deleted === undefined) throw notFound('provider', request.params.providerId);
      deps.router.forget(ctx, deleted.name);
      return { id: deleted.provider_id, object: 'provider' as const, deleted: true };
    },
  );
}
