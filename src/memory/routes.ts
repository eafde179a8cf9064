import { recordChange } from '../audit/append.ts';
import { notFound } from '../core/errors.ts';
import { newId } from '../core/ids.ts';
import { withTenant } from '../db/scope.ts';
import type { App, AppDeps } from '../http/app-types.ts';
import { listOf, listPage, pageQuery } from '../http/pagination.ts';
import { addMessages, openMessages } from './messages.ts';
import { threadOwner, threadScope } from './ownership.ts';
import {
  countMessages,
  deleteThread,
  findThread,
  insertThread,
  listMessages,
  listThreads,
  updateThread,
} from './repository.ts';
import {
  appendMessageBody,
  createThreadBody,
  listThreadsQuery,
  threadIdParams,
  updateThreadBody,
} from './schema.ts';
import { messageView, threadView } from './views.ts';

/**
 * Conversation memory. A thread belongs to the principal that created it (its user, else its API
 * key); tenant admins and owners manage every thread of the tenant. Anyone else's thread is not
 * found, exactly like one that does not exist (and another tenant's is not found by RLS).
 */
export function registerThreadRoutes(app: App, deps: AppDeps): void {
  const tags = ['memory'];

  app.post(
    '/v1/threads',
    { schema: { tags, summary: 'Start a thread owned by the caller', body: createThreadBody } },
    async (request, reply) => {
      const ctx = await deps.auth.tenant(request, 'inference');
      const body = request.body ?? {};
      const owner = threadOwner(ctx);
      const now = deps.now();
      const row = await withTenant(deps.db, ctx, async (tx) => {
        const created = await insertThread(tx, {
          tenant_id: ctx.tenantId,
          thread_id: newId('thread', now.getTime()),
          owner_kind: owner.kind,
          owner_id: owner.id,
          title: body.title ?? null,
          metadata: JSON.stringify(body.metadata ?? {}),
          created_at: now,
          updated_at: now,
        });
        await recordChange(tx, deps.keyring, ctx, {
          action: 'thread.create',
          resource: { type: 'thread', id: created.thread_id },
          details: { owner },
        });
        return created;
      });
      return reply.code(201).send(threadView(row, { messageCount: 0 }));
    },
  );

  app.get(
    '/v1/threads',
    {
      schema: {
        tags,
        summary: "List the caller's threads, newest first (admins: every thread; ?owner=me)",
        querystring: listThreadsQuery,
      },
    },
    async (request) => {
      const ctx = await deps.auth.tenant(request, 'inference');
      const { limit, after, owner } = request.query;
      const scope = threadScope(ctx, { onlyOwn: owner === 'me' });
      const rows = await withTenant(deps.db, ctx, (tx) => listThreads(tx, scope, { limit, after }));
      return listPage(rows, limit, (row) => threadView(row));
    },
  );

  app.get(
    '/v1/threads/:threadId',
    { schema: { tags, summary: 'Get one thread', params: threadIdParams } },
    async (request) => {
      const ctx = await deps.auth.tenant(request, 'inference');
      const { threadId } = request.params;
      const found = await withTenant(deps.db, ctx, async (tx) => {
        const row = await findThread(tx, threadScope(ctx), threadId);
        return row === undefined ? undefined : { row, count: await countMessages(tx, threadId) };
      });
      if (found === undefined) throw notFound('thread', threadId);
      return threadView(found.row, { messageCount: found.count });
    },
  );

  app.patch(
    '/v1/threads/:threadId',
    {
      schema: {
        tags,
        summary: 'Rename a thread or replace its metadata (title null clears it)',
        params: threadIdParams,
        body: updateThreadBody,
      },
    },
    async (request) => {
      const ctx = await deps.auth.tenant(request, 'inference');
      const { threadId } = request.params;
      const body = request.body;
      const found = await withTenant(deps.db, ctx, async (tx) => {
        const row = await updateThread(tx, threadScope(ctx), threadId, {
          ...body,
          updatedAt: deps.now(),
        });
        if (row === undefined) return undefined;
        await recordChange(tx, deps.keyring, ctx, {
          action: 'thread.update',
          resource: { type: 'thread', id: threadId },
          // Which fields changed, not their values: titles and metadata are the tenant's content.
          details: { changed: Object.keys(body) },
        });
        return { row, count: await countMessages(tx, threadId) };
      });
      if (found === undefined) throw notFound('thread', threadId);
      return threadView(found.row, { messageCount: found.count });
    },
  );

  app.delete(
    '/v1/threads/:threadId',
    { schema: { tags, summary: 'Delete a thread and all its messages', params: threadIdParams } },
    async (request) => {
      const ctx = await deps.auth.tenant(request, 'inference');
      const { threadId } = request.params;
      const deleted = await withTenant(deps.db, ctx, async (tx) => {
        const scope = threadScope(ctx);
        if ((await findThread(tx, scope, threadId)) === undefined) return undefined;
        const messages = await countMessages(tx, threadId);
        const gone = await deleteThread(tx, scope, threadId);
        if (gone === undefined) return undefined;
        await recordChange(tx, deps.keyring, ctx, {
          action: 'thread.delete',
          resource: { type: 'thread', id: threadId },
          details: { owner: { kind: gone.owner_kind, id: gone.owner_id }, messages },
        });
        return gone;
      });
      if (deleted === undefined) throw notFound('thread', threadId);
      return { id: deleted.thread_id, object: 'thread.deleted' as const, deleted: true };
    },
  );

  app.get(
    '/v1/threads/:threadId/messages',
    {
      schema: {
        tags,
        summary: "A thread's messages, oldest first",
        params: threadIdParams,
        querystring: pageQuery,
      },
    },
    async (request) => {
      const ctx = await deps.auth.tenant(request, 'inference');
      const { threadId } = request.params;
      const { limit, after } = request.query;
      const page = await withTenant(deps.db, ctx, async (tx) => {
        if ((await findThread(tx, threadScope(ctx), threadId)) === undefined) return undefined;
        const rows = await listMessages(tx, threadId, { limit, after });
        const shown = rows.slice(0, limit);
        const contents = await openMessages(tx, deps.keyring, ctx.tenantId, shown);
        return {
          data: shown.map((row, i) => messageView(row, contents[i]!)),
          hasMore: rows.length > limit,
        };
      });
      if (page === undefined) throw notFound('thread', threadId);
      return listOf(page.data, page.hasMore);
    },
  );

  app.post(
    '/v1/threads/:threadId/messages',
    {
      schema: {
        tags,
        summary: 'Append a message to a thread',
        params: threadIdParams,
        body: appendMessageBody,
      },
    },
    async (request, reply) => {
      const ctx = await deps.auth.tenant(request, 'inference');
      const { threadId } = request.params;
      const message = request.body;
      const [row] = await withTenant(deps.db, ctx, (tx) =>
        addMessages(tx, deps.keyring, ctx, threadId, [message], {
          requestId: ctx.requestId,
          now: deps.now(),
        }),
      );
      return reply.code(201).send(messageView(row!, message.content));
    },
  );
}
