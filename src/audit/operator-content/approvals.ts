import { notFound } from '../../core/errors.ts';
import {
  APPROVAL_REQUEST_PURPOSE,
  APPROVAL_RESULT_PURPOSE,
  listApprovals,
} from '../../governance/approvals/repository.ts';
import { approvalView } from '../../governance/approvals/view.ts';
import type { App, AppDeps } from '../../http/app-types.ts';
import { listOf } from '../../http/pagination.ts';
import { UNREADABLE } from '../routes.ts';
import { readTenantContent } from './access.ts';
import { operatorFindApproval } from './repository.ts';
import { approvalListQuery, approvalParams, tenantParams } from './schema.ts';

const tags = ['admin'];
const scope = 'approvals:content';

function parsed(text: string | null | undefined): unknown {
  return text == null ? UNREADABLE : (JSON.parse(text) as unknown);
}

/**
 * Operators' view of a tenant's held requests: status, rule, model, estimates, who asked and who
 * decided, as the tenant's own list shows them. The held request and its result are content:
 * redacted unless the tenant granted `approvals:content`, and not decrypted without it.
 */
export function registerOperatorApprovalRoutes(app: App, deps: AppDeps): void {
  app.get(
    '/v1/admin/tenants/:tenantId/approvals',
    {
      schema: {
        tags,
        summary: "A tenant's held requests, newest first (metadata only, like the tenant's list)",
        params: tenantParams,
        querystring: approvalListQuery,
      },
    },
    async (request) => {
      const { tenantId } = request.params;
      const { limit, after, status } = request.query;
      const now = deps.now();
      return readTenantContent(
        deps,
        request,
        { tenantId, scope, what: 'read approvals' },
        async (read) => {
          const rows = await listApprovals(read.tx, tenantId, {
            limit,
            after,
            now,
            ...(status !== undefined && { status }),
          });
          const data = rows.slice(0, limit).map((row) => approvalView(row, now));
          // No content in a list, granted or not: nothing for the tenant's trail.
          return { body: listOf(data, rows.length > limit), shown: {} };
        },
      );
    },
  );

  app.get(
    '/v1/admin/tenants/:tenantId/approvals/:approvalId',
    {
      schema: {
        tags,
        summary:
          "One held request: the request and its result redacted unless the tenant granted 'approvals:content'",
        params: approvalParams,
      },
    },
    async (request) => {
      const { tenantId, approvalId } = request.params;
      return readTenantContent(
        deps,
        request,
        { tenantId, scope, what: 'read an approval' },
        async (read) => {
          const row = await operatorFindApproval(read.tx, tenantId, approvalId);
          if (row === undefined) throw notFound('approval', approvalId);
          const open = async (purpose: string, sealed: Uint8Array | null) =>
            (await deps.keyring.openManyForTenant(read.tx, tenantId, purpose, [sealed]))[0];
          const held = read.granted
            ? await open(APPROVAL_REQUEST_PURPOSE, row.sealed_request)
            : null;
          const result = read.granted
            ? await open(APPROVAL_RESULT_PURPOSE, row.sealed_result)
            : null;
          return {
            body: {
              ...approvalView(row, deps.now(), {
                request: read.show(() => parsed(held)),
                ...(row.sealed_result !== null && { result: read.show(() => parsed(result)) }),
              }),
              access: read.access,
            },
            shown: { approvals: [approvalId] },
          };
        },
      );
    },
  );
}
