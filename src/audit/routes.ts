import type { Selectable } from 'kysely';
import { z } from 'zod';
import { BkError } from '../core/errors.ts';
import { isId } from '../core/ids.ts';
import type { AuditEventsTable } from '../db/schema.ts';
import { type OperatorTx, type TenantTx, withOperator, withTenant } from '../db/scope.ts';
import type { App, AppDeps } from '../http/app-types.ts';
import { listOf } from '../http/pagination.ts';
import type { TenantKeyring } from '../secrets/tenant-keyring.ts';
import { AUDIT_PAYLOAD_PURPOSE } from './append.ts';
import { verifyChain } from './verify.ts';
import { assertTenantExists } from '../identity/tenants/repository.ts';

const idChars = /^[a-z0-9_]+$/;

export const auditQuery = z.strictObject({
  from: z.iso.datetime({ offset: true }).optional(),
  to: z.iso.datetime({ offset: true }).optional(),
  actor: z
    .string()
    .min(1)
    .max(64)
    .regex(/^[A-Za-z0-9_.:-]+$/, 'must be an actor id as shown in the trail')
    .optional(),
  action: z
    .string()
    .min(1)
    .max(100)
    .regex(/^[a-z_.]+\*?$/, "must be an action like 'api_key.create', or a prefix ending in '*'")
    .optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  after: z
    .string()
    .min(1)
    .max(64)
    .regex(idChars, 'must be an event id from a previous page')
    .optional(),
  format: z.enum(['json', 'jsonl']).default('json'),
});
type AuditQuery = z.infer<typeof auditQuery>;

/** How an event looks through the API; the payload is whatever the reader may see of it. */
export function eventView(row: Selectable<AuditEventsTable>, payload: unknown) {
  return {
    id: row.event_id,
    object: 'audit_event' as const,
    seq: Number(row.seq),
    at: row.at.toISOString(),
    actor: { kind: row.actor_kind, id: row.actor_id },
    action: row.action,
    resource: { type: row.resource_type, id: row.resource_id },
    decision: row.decision,
    rule: row.rule,
    requestId: row.request_id,
    details: row.details,
    payload,
    hash: Buffer.from(row.hash).toString('hex'),
  };
}

export const UNREADABLE = {
  unreadable: true,
  reason: 'the sealed payload does not open: it was altered, or its key no longer exists',
};

/** The tenant's own admins see their content in plain text; one bad payload spoils no other. */
async function ownViews(
  tx: TenantTx,
  keyring: TenantKeyring,
  rows: Selectable<AuditEventsTable>[],
) {
  if (rows.length === 0) return [];
  const opened = await keyring.openManyForTenant(
    tx,
    rows[0]!.tenant_id,
    AUDIT_PAYLOAD_PURPOSE,
    rows.map((r) => r.sealed_payload),
  );
  return rows.map((row, i) => {
    const text = opened[i];
    const payload =
      row.sealed_payload === null
        ? null
        : text == null
          ? UNREADABLE
          : (JSON.parse(text) as unknown);
    return eventView(row, payload);
  });
}

export async function auditPage(
  tx: TenantTx | OperatorTx,
  tenantId: string,
  query: Pick<AuditQuery, 'from' | 'to' | 'actor' | 'action' | 'limit'>,
  after: string | undefined,
) {
  let q = tx.selectFrom('audit_events').selectAll().where('tenant_id', '=', tenantId);
  if (query.from !== undefined) q = q.where('at', '>=', new Date(query.from));
  if (query.to !== undefined) q = q.where('at', '<', new Date(query.to));
  if (query.actor !== undefined) q = q.where('actor_id', '=', query.actor);
  if (query.action !== undefined) {
    q = query.action.endsWith('*')
      ? q.where('action', 'like', `${query.action.slice(0, -1)}%`)
      : q.where('action', '=', query.action);
  }
  if (after !== undefined) {
    q = q.where('seq', '>', (eb) =>
      eb
        .selectFrom('audit_events')
        .select('seq')
        .where('tenant_id', '=', tenantId)
        .where('event_id', '=', after),
    );
  }
  return q
    .orderBy('seq')
    .limit(query.limit + 1)
    .execute();
}

/** Tenant admins read their own workspace's trail, content included; nobody else's. */
export function registerAuditRoutes(app: App, deps: AppDeps): void {
  app.get(
    '/v1/audit',
    {
      schema: {
        tags: ['audit'],
        summary:
          "This tenant's audit trail, oldest first; filters by time, actor and action; format=jsonl exports every matching event",
        querystring: auditQuery,
      },
    },
    async (request, reply) => {
      const ctx = await deps.auth.tenant(request, 'audit:read');
      const query = request.query;
      if (query.after !== undefined && !isId('auditEvent', query.after)) {
        throw new BkError('BK_VALIDATION_FAILED', 'after must be an audit event id.', {
          param: 'after',
        });
      }
      if (query.format === 'json') {
        const rows = await withTenant(deps.db, ctx, async (tx) => {
          const found = await auditPage(tx, ctx.tenantId, query, query.after);
          return ownViews(tx, deps.keyring, found);
        });
        return listOf(rows.slice(0, query.limit), rows.length > query.limit);
      }
      // The export goes out page by page, each read in its own short transaction.
      reply.hijack();
      reply.raw.writeHead(200, {
        'content-type': 'application/x-ndjson',
        'x-request-id': request.id,
      });
      let after = query.after;
      try {
        for (;;) {
          const views = await withTenant(deps.db, ctx, async (tx) => {
            const found = await auditPage(tx, ctx.tenantId, query, after);
            return ownViews(tx, deps.keyring, found.slice(0, query.limit));
          });
          for (const view of views) reply.raw.write(`${JSON.stringify(view)}\n`);
          if (views.length < query.limit || reply.raw.destroyed) break;
          after = views.at(-1)!.id;
        }
        reply.raw.end();
      } catch (err) {
        // The status line is gone already: cut the transfer so the client sees it incomplete.
        request.log.error({ err }, 'audit export failed part-way');
        reply.raw.destroy();
      }
      return reply;
    },
  );

  app.get(
    '/v1/audit/verify',
    {
      schema: {
        tags: ['audit'],
        summary: "Verify this tenant's hash chain; reports the first broken link",
      },
    },
    async (request) => {
      const ctx = await deps.auth.tenant(request, 'audit:read');
      return withTenant(deps.db, ctx, (tx) => verifyChain(tx, ctx.tenantId, deps.keyring));
    },
  );

  app.get(
    '/v1/admin/tenants/:tenantId/audit/verify',
    {
      schema: {
        tags: ['admin'],
        summary: "Verify a tenant's audit hash chain (reads hashes, never payloads)",
        params: z.strictObject({ tenantId: z.string().min(1).max(64) }),
      },
    },
    async (request) => {
      const operator = deps.auth.operator(request);
      const { tenantId } = request.params;
      if (!isId('tenant', tenantId))
        throw new BkError('BK_NOT_FOUND', `No tenant with id '${tenantId}'.`);
      return withOperator(
        deps.db,
        { operator, reason: 'verify audit chain', tenantId },
        async (tx) => {
          await assertTenantExists(tx, tenantId);
          return verifyChain(tx, tenantId, deps.keyring);
        },
      );
    },
  );
}
