import { notFound } from '../../core/errors.ts';
import { newId } from '../../core/ids.ts';
import { principalId } from '../../core/tenant-context.ts';
import { withTenant } from '../../db/scope.ts';
import type { App, AppDeps } from '../../http/app-types.ts';
import { listPage, pageQuery } from '../../http/pagination.ts';
import { recordChange } from '../append.ts';
import { grantView } from './repository.ts';
import { createGrantBody, grantIdParams } from './schema.ts';

/** Tenant admins decide whether, why and until when operators may read their content. */
export function registerGrantRoutes(app: App, deps: AppDeps): void {
  const tags = ['access grants'];

  app.post(
    '/v1/access-grants',
    {
      schema: {
        tags,
        summary: 'Let operators read this tenant’s content in plain text, until a time',
        body: createGrantBody,
      },
    },
    async (request, reply) => {
      const ctx = await deps.auth.tenant(request, 'grants:write');
      const body = request.body;
      const actor = principalId(ctx);
      const row = await withTenant(deps.db, ctx, async (tx) => {
        const created = await tx
          .insertInto('access_grants')
          .values({
            tenant_id: ctx.tenantId,
            grant_id: newId('accessGrant'),
            scope: body.scope,
            reason: body.reason,
            granted_by: `${actor.kind}:${actor.id}`,
            expires_at: new Date(body.expiresAt),
          })
          .returningAll()
          .executeTakeFirstOrThrow();
        await recordChange(tx, deps.keyring, ctx, {
          action: 'access_grant.create',
          resource: { type: 'access_grant', id: created.grant_id },
          details: {
            scope: created.scope,
            reason: created.reason,
            expiresAt: created.expires_at.toISOString(),
          },
        });
        return created;
      });
      return reply.code(201).send(grantView(row, deps.now()));
    },
  );

  app.get(
    '/v1/access-grants',
    { schema: { tags, summary: "List this tenant's access grants", querystring: pageQuery } },
    async (request) => {
      const ctx = await deps.auth.tenant(request, 'grants:read');
      const { limit, after } = request.query;
      const rows = await withTenant(deps.db, ctx, (tx) => {
        let query = tx
          .selectFrom('access_grants')
          .selectAll()
          .orderBy('grant_id')
          .limit(limit + 1);
        if (after !== undefined) query = query.where('grant_id', '>', after);
        return query.execute();
      });
      const now = deps.now();
      return listPage(rows, limit, (row) => grantView(row, now));
    },
  );

  app.delete(
    '/v1/access-grants/:grantId',
    {
      schema: {
        tags,
        summary: 'Revoke an access grant (effective on the next operator read)',
        params: grantIdParams,
      },
    },
    async (request) => {
      const ctx = await deps.auth.tenant(request, 'grants:write');
      const { grantId } = request.params;
      const row = await withTenant(deps.db, ctx, async (tx) => {
        const revoked = await tx
          .updateTable('access_grants')
          .set({ revoked_at: deps.now() })
          .where('grant_id', '=', grantId)
          .where('revoked_at', 'is', null)
          .returningAll()
          .executeTakeFirst();
        if (revoked !== undefined) {
          await recordChange(tx, deps.keyring, ctx, {
            action: 'access_grant.revoke',
            resource: { type: 'access_grant', id: grantId },
          });
          return revoked;
        }
        return tx
          .selectFrom('access_grants')
          .selectAll()
          .where('grant_id', '=', grantId)
          .executeTakeFirst();
      });
      if (row === undefined) throw notFound('access grant', grantId);
      return grantView(row, deps.now());
    },
  );
}
