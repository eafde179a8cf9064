import { z } from 'zod';
import { recordChange } from '../../audit/append.ts';
import { BkError, notFound } from '../../core/errors.ts';
import { principalId, type TenantContext } from '../../core/tenant-context.ts';
import { withTenant } from '../../db/scope.ts';
import type { App, AppDeps } from '../../http/app-types.ts';
import { listPage, pageQuery } from '../../http/pagination.ts';
import { openResult } from './outcome.ts';
import {
  APPROVAL_REQUEST_PURPOSE,
  type ApprovalRow,
  decidePending,
  effectiveStatus,
  expireIfDue,
  findApproval,
  listApprovals,
} from './repository.ts';
import { runApproved } from './run.ts';
import { approvalView } from './view.ts';

const statuses = ['pending', 'approved', 'denied', 'expired', 'completed', 'failed'] as const;
const listQuery = pageQuery.extend({ status: z.enum(statuses).optional() });
const approvalParams = z.strictObject({ approvalId: z.string().min(1).max(64) });
// Optional: a bare POST (no body at all) decides without a note.
const decisionBody = z.strictObject({ note: z.string().min(1).max(1000).optional() }).nullish();

function isRequester(ctx: TenantContext, row: ApprovalRow): boolean {
  const me = principalId(ctx);
  return me.kind === row.requested_by_kind && me.id === row.requested_by;
}

async function decideApproval(
  deps: AppDeps,
  ctx: TenantContext,
  approvalId: string,
  status: 'approved' | 'denied',
  note: string | null,
) {
  const actor = principalId(ctx);
  const now = deps.now();
  const decided = await withTenant(deps.db, ctx, async (tx) => {
    const row = await findApproval(tx, approvalId);
    if (row === undefined) throw notFound('approval', approvalId);
    if (isRequester(ctx, row)) {
      throw new BkError(
        'BK_FORBIDDEN',
        'A request cannot be approved or denied by whoever made it.',
      );
    }
    const changed = await decidePending(tx, approvalId, {
      status,
      decidedBy: `${actor.kind}:${actor.id}`,
      note,
      now,
    });
    if (changed === undefined) {
      await expireIfDue(tx, approvalId, now);
      throw new BkError(
        'BK_CONFLICT',
        `Approval ${approvalId} is ${effectiveStatus(row, now)}; only a pending approval can be decided.`,
      );
    }
    await recordChange(tx, deps.keyring, ctx, {
      action: status === 'approved' ? 'approval.approve' : 'approval.deny',
      resource: { type: 'approval', id: approvalId },
      details: { rule: row.rule, model: row.model, note },
    });
    return changed;
  });
  const final = status === 'approved' ? await runApproved(deps, ctx, decided) : decided;
  const result = await openResult(deps, ctx, final);
  return approvalView(final, deps.now(), result === undefined ? {} : { result });
}

/**
 * Requests held by the tenant's policy. Approvers list them and approve or deny; an approved
 * request runs once, as its requester, and its result stays retrievable. Approvals are tenant rows
 * under RLS: another tenant's id is simply not found.
 */
export function registerApprovalRoutes(app: App, deps: AppDeps): void {
  const tags = ['approvals'];

  app.get(
    '/v1/approvals',
    {
      schema: { tags, summary: 'Requests held for approval, newest first', querystring: listQuery },
    },
    async (request) => {
      const ctx = await deps.auth.tenant(request, 'approvals:read');
      const { limit, after, status } = request.query;
      const now = deps.now();
      const rows = await withTenant(deps.db, ctx, (tx) =>
        listApprovals(tx, ctx.tenantId, {
          limit,
          now,
          ...(after !== undefined && { after }),
          ...(status !== undefined && { status }),
        }),
      );
      return listPage(rows, limit, (row) => approvalView(row, now));
    },
  );

  app.get(
    '/v1/approvals/:approvalId',
    {
      schema: {
        tags,
        summary:
          'One approval: approvers see the held request; approvers and the requester see the result once it ran',
        params: approvalParams,
      },
    },
    async (request) => {
      const ctx = await deps.auth.tenant(request, ['approvals:read', 'inference']);
      const { approvalId } = request.params;
      const row = await withTenant(deps.db, ctx, (tx) => findApproval(tx, approvalId));
      const approver = ctx.scopes.has('approvals:read');
      if (row === undefined || (!approver && !isRequester(ctx, row))) {
        throw notFound('approval', approvalId);
      }
      const held = approver
        ? await withTenant(deps.db, ctx, (tx) =>
            deps.keyring.openForTenant(
              tx,
              ctx.tenantId,
              APPROVAL_REQUEST_PURPOSE,
              row.sealed_request,
            ),
          ).then((json) => JSON.parse(json) as unknown)
        : undefined;
      const result = await openResult(deps, ctx, row);
      return approvalView(row, deps.now(), {
        ...(held !== undefined && { request: held }),
        ...(result !== undefined && { result }),
      });
    },
  );

  app.post(
    '/v1/approvals/:approvalId/approve',
    {
      schema: {
        tags,
        summary: 'Approve a held request: it runs once, now, and the answer carries its result',
        params: approvalParams,
        body: decisionBody,
      },
    },
    async (request) => {
      const ctx = await deps.auth.tenant(request, 'approvals:decide');
      const note = request.body?.note ?? null;
      return decideApproval(deps, ctx, request.params.approvalId, 'approved', note);
    },
  );

  app.post(
    '/v1/approvals/:approvalId/deny',
    {
      schema: {
        tags,
        summary: 'Deny a held request: final',
        params: approvalParams,
        body: decisionBody,
      },
    },
    async (request) => {
      const ctx = await deps.auth.tenant(request, 'approvals:decide');
      const note = request.body?.note ?? null;
      return decideApproval(deps, ctx, request.params.approvalId, 'denied', note);
    },
  );
}
