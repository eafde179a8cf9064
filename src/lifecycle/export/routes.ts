import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { appendAuditEvent, recordChange } from '../../audit/append.ts';
import { BkError, notFound } from '../../core/errors.ts';
import { isId } from '../../core/ids.ts';
import type { Scope } from '../../core/tenant-context.ts';
import { withOperator, withTenant } from '../../db/scope.ts';
import type { App, AppDeps } from '../../http/app-types.ts';
import { requireScope } from '../../identity/permissions.ts';
import { countExportRows, readExportTables } from './catalog.ts';
import { EXPECTED_ROWS_HEADER, exportArchive } from './export-archive.ts';
import { type ExportSource, exportLines } from './export-lines.ts';
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
const exportQuery = z.strictObject({
  format: z
    .enum(['tar', 'jsonl'])
    .default('tar')
    .describe('tar: bulkhead-export/2 (the default); jsonl: the single stream bulkhead-export/1'),
});
type ExportFormat = z.output<typeof exportQuery>['format'];

/**
 * Streams the export out, waiting for the socket to drain between chunks so a slow client holds a
 * little memory and no transaction. The status line goes first, so a failure part-way can only
 * cut the transfer: the client sees no `manifest.json` (tar) or no `end` line (JSONL) and knows the
 * export is incomplete.
 */
async function streamExport(
  request: FastifyRequest,
  reply: FastifyReply,
  deps: AppDeps,
  format: ExportFormat,
  source: ExportSource,
  expectedRows: ReadonlyMap<string, number>,
): Promise<FastifyReply> {
  const total = [...expectedRows.values()].reduce((sum, n) => sum + n, 0);
  const body: AsyncIterable<string | Uint8Array> =
    format === 'tar'
      ? exportArchive(source, {
          expectedRows,
          partBytes: deps.config.exportPartBytes,
          now: deps.now,
        })
      : exportLines(source);
  reply.hijack();
  reply.raw.writeHead(200, {
    'content-type': format === 'tar' ? 'application/x-tar' : 'application/x-ndjson',
    'content-disposition': `attachment; filename="${source.tenantId}-export.${format}"`,
    'cache-control': 'no-store',
    [EXPECTED_ROWS_HEADER]: String(total),
    'x-request-id': request.id,
  });
  // The status and the expected rows reach the client now, before the first page is read.
  reply.raw.flushHeaders();
  try {
    for await (const chunk of body) {
      if (reply.raw.destroyed) break;
      if (!reply.raw.write(chunk)) {
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
 * Tenant export: every row of every tenant table (found in the catalog at run time), as a tar
 * archive of JSONL files with a checksummed manifest (or, with `?format=jsonl`, the single JSONL
 * stream of `bulkhead-export/1`). Secrets are withheld. The tenant's own owners and admins get
 * sealed content (audit payloads, thread messages, held requests) in plain text; operators never do.
 */
export function registerTenantExportRoutes(app: App, deps: AppDeps): void {
  app.get(
    '/v1/export',
    {
      schema: {
        tags: ['lifecycle'],
        summary:
          "Export this tenant's data as a tar of JSONL files with a checksummed manifest, or ?format=jsonl (owner or admin; secrets withheld)",
        querystring: exportQuery,
      },
    },
    async (request, reply) => {
      const ctx = await deps.auth.tenant(request, 'models:read');
      if (ctx.role !== 'owner' && ctx.role !== 'admin')
        throw new BkError('BK_FORBIDDEN', 'Only an owner or admin can export the workspace.');
      for (const scope of exportScopes) requireScope(ctx, scope);
      const { format } = request.query;
      const exportedAt = deps.now();
      const { tables, counts } = await withTenant(deps.db, ctx, async (tx) => {
        const found = await readExportTables(tx);
        // Recorded before the first byte goes out, in its own transaction; counted after, so the
        // expected rows include this event, which the export carries.
        await recordChange(tx, deps.keyring, ctx, {
          action: 'tenant.export',
          resource: { type: 'tenant', id: ctx.tenantId },
          details: { tables: found.length, auditPayloads: 'included', format },
        });
        return { tables: found, counts: await countExportRows(tx, found, ctx.tenantId) };
      });
      return streamExport(
        request,
        reply,
        deps,
        format,
        {
          tenantId: ctx.tenantId,
          tables,
          exportedAt,
          inTransaction: (fn) => withTenant(deps.db, ctx, fn),
          openSealed: (tx, purpose, sealed) =>
            deps.keyring.openManyForTenant(tx, ctx.tenantId, purpose, sealed),
        },
        counts,
      );
    },
  );

  app.get(
    '/v1/admin/tenants/:tenantId/export',
    {
      schema: {
        tags: ['admin'],
        summary:
          "Export a tenant's data as a tar of JSONL files with a checksummed manifest, or ?format=jsonl (secrets and sealed content withheld)",
        params: tenantIdParams,
        querystring: exportQuery,
      },
    },
    async (request, reply) => {
      const operator = deps.auth.operator(request);
      const { tenantId } = request.params;
      if (!isId('tenant', tenantId)) throw notFound('tenant', tenantId);
      const { format } = request.query;
      const why = operatorReason(request, 'export tenant');
      const exportedAt = deps.now();
      const { tables, counts } = await withOperator(
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
            details: { tables: found.length, auditPayloads: 'withheld', reason: why, format },
          });
          return { tables: found, counts: await countExportRows(tx, found, tenantId) };
        },
      );
      return streamExport(
        request,
        reply,
        deps,
        format,
        {
          tenantId,
          tables,
          exportedAt,
          // Each page is its own recorded operator action, with the same reason.
          inTransaction: (fn) => withOperator(deps.db, { operator, reason: why, tenantId }, fn),
        },
        counts,
      );
    },
  );
}
