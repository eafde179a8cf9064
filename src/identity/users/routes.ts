import { type Selectable, sql } from 'kysely';
import { BkError, notFound } from '../../core/errors.ts';
import { newId } from '../../core/ids.ts';
import type { Role, TenantContext } from '../../core/tenant-context.ts';
import type { UsersTable } from '../../db/schema.ts';
import { recordChange } from '../../audit/append.ts';
import { type TenantTx, withTenant } from '../../db/scope.ts';
import type { App, AppDeps } from '../../http/app-types.ts';
import { listPage, pageQuery } from '../../http/pagination.ts';
import { assertCanGrant, roleRank } from '../permissions.ts';
import { createUserBody, updateUserBody, userIdParams } from './schema.ts';
import { isUniqueViolation } from '../../db/pg-errors.ts';

function userView(row: Selectable<UsersTable>) {
  return {
    id: row.user_id,
    object: 'user' as const,
    email: row.email,
    subject: row.subject,
    displayName: row.display_name,
    role: row.role,
    groups: row.groups,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

/** A user may be changed only by someone whose role is at least theirs. */
async function manageableUser(tx: TenantTx, ctx: TenantContext, userId: string) {
  const row = await tx
    .selectFrom('users')
    .selectAll()
    .where('user_id', '=', userId)
    .executeTakeFirst();
  if (row === undefined) throw notFound('user', userId);
  if (roleRank(row.role as Role) > roleRank(ctx.role)) {
    throw new BkError('BK_FORBIDDEN', `A ${ctx.role} cannot change a ${row.role}.`);
  }
  return row;
}

export function registerUserRoutes(app: App, deps: AppDeps): void {
  const tags = ['users'];

  app.post(
    '/v1/users',
    { schema: { tags, summary: 'Add a user to this tenant', body: createUserBody } },
    async (request, reply) => {
      const ctx = await deps.auth.tenant(request, 'users:write');
      const body = request.body;
      assertCanGrant(ctx, body.role, null);
      const row = await withTenant(deps.db, ctx, async (tx) => {
        const user = await tx
          .insertInto('users')
          .values({
            tenant_id: ctx.tenantId,
            user_id: newId('user'),
            email: body.email ?? null,
            subject: body.subject ?? null,
            display_name: body.displayName ?? null,
            role: body.role,
            groups: [...new Set(body.groups)],
          })
          .returningAll()
          .executeTakeFirstOrThrow();
        await recordChange(tx, deps.keyring, ctx, {
          action: 'user.create',
          resource: { type: 'user', id: user.user_id },
          details: {
            role: user.role,
            email: user.email,
            subject: user.subject,
            groups: user.groups,
          },
        });
        return user;
      }).catch((err: unknown) => {
        if (isUniqueViolation(err))
          throw new BkError('BK_CONFLICT', 'A user with this email or subject already exists.');
        throw err;
      });
      return reply.code(201).send(userView(row));
    },
  );

  app.get(
    '/v1/users',
    { schema: { tags, summary: "List this tenant's users", querystring: pageQuery } },
    async (request) => {
      const ctx = await deps.auth.tenant(request, 'users:read');
      const { limit, after } = request.query;
      const rows = await withTenant(deps.db, ctx, (tx) => {
        let query = tx
          .selectFrom('users')
          .selectAll()
          .orderBy('user_id')
          .limit(limit + 1);
        if (after !== undefined) query = query.where('user_id', '>', after);
        return query.execute();
      });
      return listPage(rows, limit, userView);
    },
  );

  app.get(
    '/v1/users/:userId',
    { schema: { tags, summary: 'Get one user', params: userIdParams } },
    async (request) => {
      const ctx = await deps.auth.tenant(request, 'users:read');
      const row = await withTenant(deps.db, ctx, (tx) =>
        tx
          .selectFrom('users')
          .selectAll()
          .where('user_id', '=', request.params.userId)
          .executeTakeFirst(),
      );
      if (row === undefined) throw notFound('user', request.params.userId);
      return userView(row);
    },
  );

  app.patch(
    '/v1/users/:userId',
    {
      schema: {
        tags,
        summary: "Change a user's role, name or groups",
        params: userIdParams,
        body: updateUserBody,
      },
    },
    async (request) => {
      const ctx = await deps.auth.tenant(request, 'users:write');
      const body = request.body;
      if (body.role !== undefined) assertCanGrant(ctx, body.role, null);
      const row = await withTenant(deps.db, ctx, async (tx) => {
        const before = await manageableUser(tx, ctx, request.params.userId);
        const user = await tx
          .updateTable('users')
          .set({
            ...(body.role !== undefined && { role: body.role }),
            ...(body.displayName !== undefined && { display_name: body.displayName }),
            ...(body.groups !== undefined && { groups: [...new Set(body.groups)] }),
            updated_at: deps.now(),
          })
          .where('user_id', '=', request.params.userId)
          .returningAll()
          .executeTakeFirstOrThrow();
        await recordChange(tx, deps.keyring, ctx, {
          action: 'user.update',
          resource: { type: 'user', id: user.user_id },
          details: {
            role: { from: before.role, to: user.role },
            displayNameChanged: body.displayName !== undefined,
            ...(body.groups !== undefined && { groups: { from: before.groups, to: user.groups } }),
          },
        });
        return user;
      });
      return userView(row);
    },
  );

  app.delete(
    '/v1/users/:userId',
    {
      schema: { tags, summary: 'Remove a user; their API keys are revoked', params: userIdParams },
    },
    async (request) => {
      const ctx = await deps.auth.tenant(request, 'users:write');
      const userId = request.params.userId;
      await withTenant(deps.db, ctx, async (tx) => {
        await manageableUser(tx, ctx, userId);
        await tx
          .updateTable('api_keys')
          .set({ revoked_at: sql`coalesce(revoked_at, ${deps.now()})`, user_id: null })
          .where('user_id', '=', userId)
          .execute();
        await tx.deleteFrom('users').where('user_id', '=', userId).execute();
        await recordChange(tx, deps.keyring, ctx, {
          action: 'user.delete',
          resource: { type: 'user', id: userId },
        });
      });
      return { id: userId, object: 'user' as const, deleted: true };
    },
  );
}
