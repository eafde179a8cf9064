import { z } from 'zod';
import { BkError } from '../core/errors.ts';
import { isId } from '../core/ids.ts';
import { withOperator } from '../db/scope.ts';
import type { App, AppDeps } from '../http/app-types.ts';
import { listOf } from '../http/pagination.ts';
import { AUDIT_PAYLOAD_PURPOSE, appendAuditEvent } from './append.ts';
import { activeGrant } from './grants/repository.ts';
import { redactedFor } from './grants/redacted.ts';
import { auditPage, auditQuery, eventView, UNREADABLE } from './routes.ts';
import { operatorReason } from '../http/operator-reason.ts';
import { assertTenantExists } from '../identity/tenants/repository.ts';

const operatorAuditQuery = auditQuery.omit({ format: true });

export const REDACTED = redactedFor('audit:payloads');

/**
 * Operators read a tenant's trail redacted by default: metadata yes, content no. With an active
 * grant from the tenant, payloads come in plain text — and that read is itself an event in the
 * tenant's own trail, so the tenant sees it happened.
 */
export function registerOperatorAuditRoutes(app: App, deps: AppDeps): void {
  app.get(
    '/v1/admin/tenants/:tenantId/audit',
    {
      schema: {
        tags: ['admin'],
        summary: "Read a tenant's audit trail: payloads redacted unless the tenant granted access",
        params: z.strictObject({ tenantId: z.string().min(1).max(64) }),
        querystring: operatorAuditQuery,
      },
    },
    async (request) => {
      const operator = deps.auth.operator(request);
      const { tenantId } = request.params;
      const query = request.query;
      if (!isId('tenant', tenantId))
        throw new BkError('BK_NOT_FOUND', `No tenant with id '${tenantId}'.`);
      const reason = operatorReason(request, 'read audit trail');
      return withOperator(deps.db, { operator, reason, tenantId }, async (tx) => {
        await assertTenantExists(tx, tenantId);
        const grant = await activeGrant(tx, tenantId, 'audit:payloads', deps.now());
        const rows = await auditPage(tx, tenantId, query, query.after);
        const page = rows.slice(0, query.limit);
        const opened =
          grant === undefined
            ? page.map(() => null)
            : await deps.keyring.openManyForTenant(
                tx,
                tenantId,
                AUDIT_PAYLOAD_PURPOSE,
                page.map((r) => r.sealed_payload),
              );
        const data = page.map((row, i) => {
          const text = opened[i];
          const payload =
            row.sealed_payload === null
              ? null
              : grant === undefined
                ? REDACTED
                : text == null
                  ? UNREADABLE
                  : (JSON.parse(text) as unknown);
          return eventView(row, payload);
        });
        if (grant !== undefined && page.some((row) => row.sealed_payload !== null)) {
          await appendAuditEvent(tx, deps.keyring, {
            tenantId,
            actor: { kind: 'operator', id: operator },
            action: 'operator.read_audit_payloads',
            resource: { type: 'access_grant', id: grant.grant_id },
            decision: 'allowed',
            requestId: request.id,
            details: {
              reason,
              events: page.filter((r) => r.sealed_payload !== null).map((r) => r.event_id),
            },
          });
        }
        return {
          ...listOf(data, rows.length > query.limit),
          payloads: grant === undefined ? ('redacted' as const) : ('granted' as const),
        };
      });
    },
  );
}
