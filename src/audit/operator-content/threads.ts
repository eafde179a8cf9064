import { notFound } from '../../core/errors.ts';
import type { App, AppDeps } from '../../http/app-types.ts';
import { listOf, pageQuery } from '../../http/pagination.ts';
import { THREAD_MESSAGE_PURPOSE } from '../../memory/messages.ts';
import { messageView, threadView } from '../../memory/views.ts';
import { UNREADABLE } from '../routes.ts';
import { readTenantContent } from './access.ts';
import { operatorFindThread, operatorListMessages, operatorListThreads } from './repository.ts';
import { tenantParams, threadParams } from './schema.ts';

const tags = ['admin'];
const scope = 'threads:content';

/**
 * Operators' view of a tenant's conversation memory: every thread with its owner, title, times;
 * messages with role, size and time. Message content (and a thread's free-form metadata) is
 * redacted unless the tenant granted `threads:content`; it is not even decrypted without one.
 */
export function registerOperatorThreadRoutes(app: App, deps: AppDeps): void {
  app.get(
    '/v1/admin/tenants/:tenantId/threads',
    {
      schema: {
        tags,
        summary: "A tenant's threads, newest first: metadata objects redacted unless granted",
        params: tenantParams,
        querystring: pageQuery,
      },
    },
    async (request) => {
      const { tenantId } = request.params;
      const { limit, after } = request.query;
      return readTenantContent(
        deps,
        request,
        { tenantId, scope, what: 'read threads' },
        async (read) => {
          const rows = await operatorListThreads(read.tx, tenantId, { limit, after });
          const page = rows.slice(0, limit);
          const data = page.map((row) => ({
            ...threadView(row),
            metadata: read.show(() => row.metadata as Record<string, unknown>),
          }));
          return {
            body: { ...listOf(data, rows.length > limit), access: read.access },
            shown: { threads: page.map((row) => row.thread_id) },
          };
        },
      );
    },
  );

  app.get(
    '/v1/admin/tenants/:tenantId/threads/:threadId/messages',
    {
      schema: {
        tags,
        summary:
          "A tenant thread's messages, oldest first: content redacted unless the tenant granted 'threads:content'",
        params: threadParams,
        querystring: pageQuery,
      },
    },
    async (request) => {
      const { tenantId, threadId } = request.params;
      const { limit, after } = request.query;
      return readTenantContent(
        deps,
        request,
        { tenantId, scope, what: 'read thread messages' },
        async (read) => {
          const thread = await operatorFindThread(read.tx, tenantId, threadId);
          if (thread === undefined) throw notFound('thread', threadId);
          const rows = await operatorListMessages(read.tx, tenantId, threadId, { limit, after });
          const page = rows.slice(0, limit);
          const opened = read.granted
            ? await deps.keyring.openManyForTenant(
                read.tx,
                tenantId,
                THREAD_MESSAGE_PURPOSE,
                page.map((row) => row.sealed_content),
              )
            : [];
          const data = page.map((row, i) => ({
            ...messageView(row, ''),
            // One message that does not open (altered, or its key destroyed) spoils no other.
            content: read.show(() => opened[i] ?? UNREADABLE),
          }));
          return {
            body: { ...listOf(data, rows.length > limit), access: read.access },
            shown: { threads: [threadId], messages: page.map((row) => row.message_id) },
          };
        },
      );
    },
  );
}
