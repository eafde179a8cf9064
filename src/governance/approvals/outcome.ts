import { BkError, type ErrorCode } from '../../core/errors.ts';
import type { TenantContext } from '../../core/tenant-context.ts';
import { withTenant } from '../../db/scope.ts';
import type { AppDeps } from '../../http/app-types.ts';
import { APPROVAL_RESULT_PURPOSE, type ApprovalRow, effectiveStatus } from './repository.ts';

export function openResult(deps: AppDeps, ctx: TenantContext, row: ApprovalRow): Promise<unknown> {
  const sealed = row.sealed_result;
  if (sealed === null) return Promise.resolve(undefined);
  return withTenant(deps.db, ctx, (tx) =>
    deps.keyring.openForTenant(tx, ctx.tenantId, APPROVAL_RESULT_PURPOSE, sealed),
  ).then((json) => JSON.parse(json) as unknown);
}

/**
 * What a caller that waited for its held request gets: the completion once it ran, the refusal
 * once it was denied, expired or failed, or null while it is still undecided.
 */
export async function approvalOutcome(
  deps: AppDeps,
  ctx: TenantContext,
  row: ApprovalRow,
): Promise<unknown> {
  const status = effectiveStatus(row, deps.now());
  switch (status) {
    case 'pending':
    case 'approved':
      return null;
    case 'completed':
      return openResult(deps, ctx, row);
    case 'denied':
      throw new BkError(
        'BK_APPROVAL_DENIED',
        `Approval ${row.approval_id} was denied${row.decision_note === null ? '' : `: ${row.decision_note}`}.`,
      );
    case 'expired':
      throw new BkError(
        'BK_APPROVAL_DENIED',
        `Approval ${row.approval_id} expired before anyone decided; the request did not run.`,
      );
    case 'failed':
      throw new BkError(
        (row.error_code ?? 'BK_UPSTREAM_ERROR') as ErrorCode,
        `Approval ${row.approval_id} was approved, but running the request failed (${row.error_code}).`,
      );
  }
}
