import { setTimeout as delay } from 'node:timers/promises';
import { actorOf, appendAuditEvent } from '../../audit/append.ts';
import { newId } from '../../core/ids.ts';
import type { TenantContext } from '../../core/tenant-context.ts';
import { withTenant } from '../../db/scope.ts';
import type { AppDeps } from '../../http/app-types.ts';
import type { ChatPlan } from '../../gateway/chat/plan.ts';
import type { Decision } from '../decisions.ts';
import type { PolicyDocument } from '../policy/schema.ts';
import {
  APPROVAL_REQUEST_PURPOSE,
  type ApprovalRow,
  findApproval,
  insertApproval,
} from './repository.ts';

/**
 * Holds a request for a human: the request (as the provider would see it, PII already redacted) is
 * sealed with the tenant's key and stored with the rule that held it; the hold is an audit event
 * in the same transaction.
 */
export async function holdForApproval(
  deps: AppDeps,
  ctx: TenantContext,
  policy: PolicyDocument,
  plan: ChatPlan,
  hold: Decision,
): Promise<ApprovalRow> {
  const actor = actorOf(ctx);
  const now = deps.now();
  const approvalId = newId('approval');
  const model = plan.request.model;
  return withTenant(deps.db, ctx, async (tx) => {
    const sealed = await deps.keyring.sealForTenant(
      tx,
      ctx.tenantId,
      APPROVAL_REQUEST_PURPOSE,
      JSON.stringify({ ...plan.request, stream: false, stream_options: undefined }),
    );
    const row = await insertApproval(tx, {
      tenant_id: ctx.tenantId,
      approval_id: approvalId,
      status: 'pending',
      operation: 'chat',
      model,
      rule: hold.rule,
      reason: hold.reason,
      estimated_cost_nano_usd: plan.estimate.costNanoUsd,
      estimated_tokens: plan.estimate.inputTokens + plan.estimate.outputTokens,
      requested_by_kind: actor.kind === 'api_key' ? 'api_key' : 'user',
      requested_by: actor.id,
      requested_by_user: ctx.principal.userId,
      requested_role: ctx.role,
      request_id: ctx.requestId,
      sealed_request: sealed,
      expires_at: new Date(now.getTime() + policy.approvals.expiresAfterSeconds * 1000),
    });
    await appendAuditEvent(tx, deps.keyring, {
      tenantId: ctx.tenantId,
      actor,
      action: 'chat.completion',
      resource: { type: 'approval', id: approvalId },
      decision: 'held',
      rule: hold.rule,
      requestId: ctx.requestId,
      details: { model, reason: hold.reason, decisions: plan.decisions },
    });
    return row;
  });
}

/** Polls until the approval is no longer waiting for a decision or a run, or the time is up. */
export async function waitForDecision(
  deps: AppDeps,
  ctx: TenantContext,
  approvalId: string,
  seconds: number,
  signal: AbortSignal,
): Promise<ApprovalRow | undefined> {
  const deadline = Date.now() + seconds * 1000;
  let row: ApprovalRow | undefined;
  do {
    await delay(250, undefined, { signal }).catch(() => undefined);
    row = await withTenant(deps.db, ctx, (tx) => findApproval(tx, approvalId));
    const waiting = row?.status === 'pending' || row?.status === 'approved';
    if (!waiting || signal.aborted) return row;
  } while (Date.now() < deadline && (row?.expires_at ?? new Date(0)) > deps.now());
  return row;
}
