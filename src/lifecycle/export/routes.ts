import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { appendAuditEvent, recordChange } from '../../audit/append.ts';
import { BkError, notFound } from '../../core/errors.ts';
import { isId } from '../../core/ids.ts';
import type { Scope } from '../../core/tenant-context.ts';
import { withOperator, withTenant } from '../../db/scope.ts';
import type { App, AppDeps } from '../../http/app-types.ts';
import { requireScope } from '../../identity/permissions.ts';
import { readExportTables } from './catalog.ts';
import { exportLines } from './export-lines.ts';
import { operatorReason } from '../../http/operator-reason.ts';
import { assertTenantExists } from '../../identity/tenants/repository.ts';

/** The export reads everything, so the credential must be able to read everything. */
const exportScopes: Scope[] = [
  'keys:read',
  'users:read',
  'providers:read',
  'usage:read',
  'audit:read',
  'grants:read',
];

const tenantIdParams = z.strictObject({ tenantId: z.string().min(1).max(64) });

/**
 * Streams the lines out, waiting for the socket to drain between pages so a slow client holds a
 * little memory and no transaction. The status line goes first, so a failure part-way can only
 * cut the transfer: the client sees no `end` line and knows the archive is incomplete.
 */
async function streamExport(
  request: FastifyRequest,
  reply: FastifyReply,
  tenantId: string,
  lines: AsyncGenerator<string>,
): Promise<FastifyReply> {
  reply.hijack();
  reply.raw.writeHead(200, {
    'content-type': 'application/x-ndjson',
    'content-disposition': `attachment; filename="${tenantId}-export.jsonl"`,
    'cache-control': 'no-store',
    'x-request-id': request.id,
  });
  try {
    for await (const text of lines) {
      if (reply.raw.destroyed) break;
      if (!reply.raw.write(text)) {
        await new Promise<void>((resolve) => {
          const go = () => {
            reply.raw.off('drain', go).off('close', go);
            resolve();
          };
          reply.raw.on('drain', go).on('close', go);
        });
      }
    }
    reply.raw.end();
  } catch (err) {
    request.log.error({ err }, 'tenant export failed part-way');
    reply.raw.destroy();
  }
  return reply;
}

/**
 * Tenant export: every row of every tenant table (found in the catalog at run time), as one JSONL
 * stream with per-table and total checksums. Secrets are withheld. The tenant's own owners and
 * admins get audit payloads in plain text; operators never do.
 */
export function registerTenantExportRoutes(app: App, deps: AppDeps): void {
  app.get(
    '/v1/export',
    {
      schema: {
        tags: ['lifecycle'],
        summary:
          "Export this tenant's data as one JSONL stream with checksums (owner or admin; secrets withheld)",
      },
    },
    async (request, reply) => {
      const ctx = await deps.auth.tenant(request, 'models:read');
      if (ctx.role !== 'owner' && ctx.role !== 'admin')
        throw new BkError('BK_FORBIDDEN', 'Only an owner or admin can export the workspace.');
      for (const scope of exportScopes) requireScope(ctx, scope);
      const exportedAt = deps.now();
      const tables = await withTenant(deps.db, ctx, async (tx) => {
        const found = await readExportTables(tx);
        // Recorded before the first byte goes out, in its own transaction.
        await recordChange(tx, deps.keyring, ctx, {
          action: 'tenant.export',
          resource: { type: 'tenant', id: ctx.tenantId },
          details: { tables: found.length, auditPayloads: 'included' },
        });
        return found;
      });
      return streamExport(
        request,
        reply,
        ctx.tenantId,
        exportLines({
          tenantId: ctx.tenantId,
          tables,
          exportedAt,
          inTransaction: (fn) => withTenant(deps.db, ctx, fn),
          openSealed: (tx, purpose, sealed) =>
            deps.keyring.openManyForTenant(tx, ctx.tenantId, purpose, sealed),
        }),
      );
    },
  );

  app.get(
    '/v1/admin/tenants/:tenantId/export',
    {
      schema: {
        tags: ['admin'],
        summary:
          "Export a tenant's data as one JSONL stream with checksums (secrets and audit payloads withheld)",
        params: tenantIdParams,
      },
    },
    async (request, reply) => {
      const operator = deps.auth.operator(request);
      const { tenantId } = request.params;
      if (!isId('tenant', tenantId)) throw notFound('tenant', tenantId);
      const why = operatorReason(request, 'export tenant');
      const exportedAt = deps.now();
      const tables = await withOperator(
        deps.db,
        { operator, reason: why, tenantId },
        async (tx) => {
          await assertTenantExists(tx, tenantId);
          const found = await readExportTables(tx);
          await appendAuditEvent(tx, deps.keyring, {
            tenantId,
            actor: { kind: 'operator', id: operator },
            action: 'tenant.export',
            resource: { type: 'tenant', id: tenantId },
            decision: 'allowed',
            requestId: request.id,
            details: { tables: found.length, auditPayloads: 'withheld', reason: why },
          });
          return found;
        },
      );
      return streamExport(
        request,
        reply,
        tenantId,
        exportLines({
          tenantId,
          tables,
          exportedAt,
          // Each page is its own recorded operator action, with the same reason.
          inTransaction: (fn) => withOperator(deps.db, { operator, reason: why, tenantId }, fn),
        }),
      );
    },
  );
}
