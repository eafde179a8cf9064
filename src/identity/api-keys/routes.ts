import { BkError, notFound } from '../../core/errors.ts';
import { principalId, type Role } from '../../core/tenant-context.ts';
import { recordChange } from '../../audit/append.ts';
import { withTenant } from '../../db/scope.ts';
import type { App, AppDeps } from '../../http/app-types.ts';
import { listPage, pageQuery } from '../../http/pagination.ts';
import { assertCanGrant, roleRank } from '../permissions.ts';
import { issueApiKey } from './issue.ts';
import { getKey, listKeys, revokeKey } from './repository.ts';
import { createKeyBody, keyIdParams } from './schema.ts';
import { keyView } from './view.ts';

export function registerApiKeyRoutes(app: App, deps: AppDeps): void {
  const tags = ['keys'];

  app.post(
    '/v1/keys',
    {
      schema: {
        tags,
        summary: 'Create an API key (the secret is in this response only)',
        body: createKeyBody,
      },
    },
    async (request, reply) => {
      const ctx = await deps.auth.tenant(request, 'keys:write');
      const body = request.body;
      assertCanGrant(ctx, body.role, body.scopes ?? null);
      const created = await withTenant(deps.db, ctx, async (tx) => {
        if (body.userId !== undefined) {
          const user = await tx
            .selectFrom('users')
            .select('user_id')
            .where('user_id', '=', body.userId)
            .executeTakeFirst();
          if (user === undefined) {
            throw new BkError('BK_VALIDATION_FAILED', `No user with id '${body.userId}'.`, {
              param: 'userId',
            });
          }
        }
        const actor = principalId(ctx);
        const issued = await issueApiKey(tx, {
          tenantId: ctx.tenantId,
          name: body.name,
          role: body.role,
          scopes: body.scopes ?? null,
          userId: body.userId ?? null,
          createdBy: `${actor.kind}:${actor.id}`,
          expiresAt: body.expiresAt === undefined ? null : new Date(body.expiresAt),
        });
        await recordChange(tx, deps.keyring, ctx, {
          action: 'api_key.create',
          resource: { type: 'api_key', id: issued.id },
          details: {
            name: issued.name,
            role: issued.role,
            scopes: issued.scopes,
            expiresAt: issued.expiresAt,
          },
        });
        return issued;
      });
      return reply.code(201).send(created);
    },
  );

  app.get(
    '/v1/keys',
    {
      schema: {
        tags,
        summary: "List this tenant's API keys (never their secrets)",
        querystring: pageQuery,
      },
    },
    async (request) => {
      const ctx = await deps.auth.tenant(request, 'keys:read');
      const rows = await withTenant(deps.db, ctx, (tx) => listKeys(tx, request.query));
      return listPage(rows, request.query.limit, keyView);
    },
  );

  app.get(
    '/v1/keys/:keyId',
    { schema: { tags, summary: 'Get one API key', params: keyIdParams } },
    async (request) => {
      const ctx = await deps.auth.tenant(request, 'keys:read');
      const row = await withTenant(deps.db, ctx, (tx) => getKey(tx, request.params.keyId));
      if (row === undefined) throw notFound('API key', request.params.keyId);
      return keyView(row);
    },
  );

  app.delete(
    '/v1/keys/:keyId',
    {
      schema: {
        tags,
        summary: 'Revoke an API key (effective on the next request)',
        params: keyIdParams,
      },
    },
    async (request) => {
      const ctx = await deps.auth.tenant(request, 'keys:write');
      const { keyId } = request.params;
      const row = await withTenant(deps.db, ctx, async (tx) => {
        const key = await getKey(tx, keyId);
        if (key === undefined) return undefined;
        if (roleRank(key.role as Role) > roleRank(ctx.role)) {
          throw new BkError(
            'BK_FORBIDDEN',
            `A ${ctx.role} cannot revoke a key with the ${key.role} role.`,
          );
        }
        const revoked = await revokeKey(tx, ctx.tenantId, keyId, deps.now());
        await recordChange(tx, deps.keyring, ctx, {
          action: 'api_key.revoke',
          resource: { type: 'api_key', id: keyId },
        });
        return revoked;
      });
      if (row === undefined) throw notFound('API key', keyId);
      return keyView(row);
    },
  );
}
