import { BkError } from '../../core/errors.ts';
import type { TenantContext } from '../../core/tenant-context.ts';
import { withTenant } from '../../db/scope.ts';
import { planChat } from '../../gateway/chat/plan.ts';
import { respondJson } from '../../gateway/chat/respond-json.ts';
import { chatCompletionRequest } from '../../gateway/chat/schema.ts';
import { InferenceMeter } from '../../gateway/inference-meter.ts';
import type { AppDeps } from '../../http/app-types.ts';
import { approvedRequesterContext } from '../../identity/authenticate/approved-requester.ts';
import {
  APPROVAL_REQUEST_PURPOSE,
  APPROVAL_RESULT_PURPOSE,
  type ApprovalRow,
  finishApproved,
} from './repository.ts';

/**
 * Runs an approved request once, as its requester (usage, limits and budget are the requester's),
 * under the policy in force now — only the approval rule is waived. The result is sealed with the
 * tenant's key for the requester to fetch; a failure is final too.
 */
export async function runApproved(
  deps: AppDeps,
  approver: TenantContext,
  row: ApprovalRow,
): Promise<ApprovalRow> {
  let sealedResult: Uint8Array | null = null;
  let errorCode: string | null = null;
  try {
    const requester = await approvedRequesterContext(
      deps.db,
      approver,
      { kind: row.requested_by_kind, id: row.requested_by },
      deps.now(),
    );
    const stored = await withTenant(deps.db, approver, (tx) =>
      deps.keyring.openForTenant(
        tx,
        approver.tenantId,
        APPROVAL_REQUEST_PURPOSE,
        row.sealed_request,
      ),
    );
    const body = chatCompletionRequest.parse(JSON.parse(stored));
    const meter = new InferenceMeter(
      deps.usage,
      requester,
      'chat',
      body.model,
      false,
      body.messages,
    );
    try {
      const policy = await deps.policies.current(requester);
      const plan = await planChat(deps, requester, policy.document, body, {
        approved: true,
        onGoverned: (governed) => meter.decided(governed.decisions),
      });
      meter.decided([
        { rule: row.rule, outcome: 'allowed', reason: `approved (${row.approval_id})` },
      ]);
      const completion = await respondJson(deps, requester, policy, plan, meter, {
        signal: AbortSignal.timeout(deps.config.upstreamTimeoutMs),
        header: () => undefined,
      });
      sealedResult = await withTenant(deps.db, approver, (tx) =>
        deps.keyring.sealForTenant(
          tx,
          approver.tenantId,
          APPROVAL_RESULT_PURPOSE,
          JSON.stringify(completion),
        ),
      );
    } catch (err) {
      const failure =
        err instanceof BkError
          ? err
          : new BkError('BK_INTERNAL', 'Running the approved request failed.', { cause: err });
      await meter.failed(failure, null).catch(() => undefined);
      throw failure;
    }
  } catch (err) {
    errorCode = err instanceof BkError ? err.code : 'BK_INTERNAL';
  }
  const finished = await withTenant(deps.db, approver, (tx) =>
    finishApproved(tx, row.approval_id, { sealedResult, errorCode, now: deps.now() }),
  );
  if (finished === undefined)
    throw new Error(`approval ${row.approval_id} left the approved state`);
  return finished;
}
