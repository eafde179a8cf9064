import { type ApprovalRow, effectiveStatus } from './repository.ts';

export function approvalView(
  row: ApprovalRow,
  now: Date,
  content: { request?: unknown; result?: unknown } = {},
) {
  return {
    id: row.approval_id,
    object: 'approval' as const,
    status: effectiveStatus(row, now),
    operation: row.operation,
    model: row.model,
    rule: row.rule,
    reason: row.reason,
    estimatedCostUsd: Number(row.estimated_cost_nano_usd) / 1e9,
    estimatedTokens: row.estimated_tokens,
    requestedBy: { kind: row.requested_by_kind, id: row.requested_by },
    requestId: row.request_id,
    createdAt: row.created_at.toISOString(),
    expiresAt: row.expires_at.toISOString(),
    decidedBy: row.decided_by,
    decidedAt: row.decided_at?.toISOString() ?? null,
    note: row.decision_note,
    completedAt: row.completed_at?.toISOString() ?? null,
    errorCode: row.error_code,
    ...(content.request !== undefined && { request: content.request }),
    ...(content.result !== undefined && { result: content.result }),
  };
}
