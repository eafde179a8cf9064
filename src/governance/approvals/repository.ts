import type { Insertable, Selectable } from 'kysely';
import type { ApprovalStatus, ApprovalsTable } from '../../db/schema.ts';
import type { OperatorTx, TenantTx } from '../../db/scope.ts';

export type ApprovalRow = Selectable<ApprovalsTable>;

export const APPROVAL_REQUEST_PURPOSE = 'approval-request';
export const APPROVAL_RESULT_PURPOSE = 'approval-result';

export function insertApproval(
  tx: TenantTx,
  row: Insertable<ApprovalsTable>,
): Promise<ApprovalRow> {
  return tx.insertInto('approvals').values(row).returningAll().executeTakeFirstOrThrow();
}

export function findApproval(tx: TenantTx, approvalId: string): Promise<ApprovalRow | undefined> {
  return tx
    .selectFrom('approvals')
    .selectAll()
    .where('approval_id', '=', approvalId)
    .executeTakeFirst();
}

/** Newest first. The tenant filter is explicit, so operators (who see every tenant) can use it too. */
export function listApprovals(
  tx: TenantTx | OperatorTx,
  tenantId: string,
  options: { limit: number; after?: string | undefined; status?: ApprovalStatus; now: Date },
): Promise<ApprovalRow[]> {
  let query = tx
    .selectFrom('approvals')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .orderBy('approval_id', 'desc')
    .limit(options.limit + 1);
  if (options.after !== undefined) query = query.where('approval_id', '<', options.after);
  if (options.status === 'pending') {
    query = query.where('status', '=', 'pending').where('expires_at', '>', options.now);
  } else if (options.status === 'expired') {
    query = query.where((eb) =>
      eb.or([
        eb('status', '=', 'expired'),
        eb.and([eb('status', '=', 'pending'), eb('expires_at', '<=', options.now)]),
      ]),
    );
  } else if (options.status !== undefined) {
    query = query.where('status', '=', options.status);
  }
  return query.execute();
}

/**
 * Moves a pending, unexpired approval to its decision. The `status = 'pending'` condition makes it
 * happen once: of two approvers deciding at the same moment, one gets the row and the other none.
 */
export function decidePending(
  tx: TenantTx,
  approvalId: string,
  decision: { status: 'approved' | 'denied'; decidedBy: string; note: string | null; now: Date },
): Promise<ApprovalRow | undefined> {
  return tx
    .updateTable('approvals')
    .set({
      status: decision.status,
      decided_by: decision.decidedBy,
      decision_note: decision.note,
      decided_at: decision.now,
    })
    .where('approval_id', '=', approvalId)
    .where('status', '=', 'pending')
    .where('expires_at', '>', decision.now)
    .returningAll()
    .executeTakeFirst();
}

export function expireIfDue(tx: TenantTx, approvalId: string, now: Date): Promise<unknown> {
  return tx
    .updateTable('approvals')
    .set({ status: 'expired' })
    .where('approval_id', '=', approvalId)
    .where('status', '=', 'pending')
    .where('expires_at', '<=', now)
    .execute();
}

export function finishApproved(
  tx: TenantTx,
  approvalId: string,
  outcome: { sealedResult: Uint8Array | null; errorCode: string | null; now: Date },
): Promise<ApprovalRow | undefined> {
  return tx
    .updateTable('approvals')
    .set({
      status: outcome.errorCode === null ? 'completed' : 'failed',
      sealed_result: outcome.sealedResult,
      error_code: outcome.errorCode,
      completed_at: outcome.now,
    })
    .where('approval_id', '=', approvalId)
    .where('status', '=', 'approved')
    .returningAll()
    .executeTakeFirst();
}

/** A pending approval past its expiry is expired, whether or not a write has said so yet. */
export function effectiveStatus(row: ApprovalRow, now: Date): ApprovalStatus {
  return row.status === 'pending' && row.expires_at <= now ? 'expired' : row.status;
}
