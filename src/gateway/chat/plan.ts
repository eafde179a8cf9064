import type { TenantContext } from '../../core/tenant-context.ts';
import type { Decision } from '../../governance/decisions.ts';
import { type GovernedInput, governChatInput } from '../../governance/input.ts';
import { policyBlocked } from '../../governance/model-rules.ts';
import { matchesAny } from '../../governance/policy/model-pattern.ts';
import type { PolicyDocument } from '../../governance/policy/schema.ts';
import { priceUsage } from '../../metering/prices.ts';
import { countChatTokens } from '../../metering/token-count.ts';
import type { LatencyTracker } from '../resilience/latency-tracker.ts';
import type { ModelRouter, ResolvedModel } from '../router.ts';
import { routeCandidates } from '../routing/candidates.ts';
import type { ChatCompletionRequest } from './schema.ts';

export interface ChatPlan {
  governed: GovernedInput;
  /** The request as it will be sent (redacted, max tokens capped). */
  request: ChatCompletionRequest;
  candidates: ResolvedModel[];
  estimate: { inputTokens: number; outputTokens: number; costNanoUsd: number };
  decisions: Decision[];
  /** Set when the policy holds the request for a human. */
  hold: Decision | null;
}

function requestedMaxTokens(request: ChatCompletionRequest): number | null {
  return request.max_completion_tokens ?? request.max_tokens ?? null;
}

/** The cap on output tokens: a request asking for more is refused, one asking for nothing gets the cap. */
function capMaxTokens(
  policy: PolicyDocument,
  request: ChatCompletionRequest,
): ChatCompletionRequest {
  const cap = policy.models.maxTokensPerRequest;
  if (cap === undefined) return request;
  const asked = requestedMaxTokens(request);
  if (asked === null) return { ...request, max_tokens: cap };
  if (asked > cap) {
    throw policyBlocked(
      {
        rule: 'models.maxTokensPerRequest',
        outcome: 'blocked',
        reason: `the request asks for up to ${asked} output tokens; the limit is ${cap}`,
      },
      request.max_completion_tokens != null ? 'max_completion_tokens' : 'max_tokens',
    );
  }
  return request;
}

function approvalHold(
  policy: PolicyDocument,
  model: string,
  estimate: ChatPlan['estimate'],
): Decision | null {
  const rules = policy.approvals;
  if (matchesAny(rules.models, model)) {
    return {
      rule: 'approvals.models',
      outcome: 'held',
      reason: `requests to '${model}' need approval`,
    };
  }
  const costUsd = estimate.costNanoUsd / 1e9;
  if (rules.costUsdOver !== undefined && costUsd > rules.costUsdOver) {
    return {
      rule: 'approvals.costUsdOver',
      outcome: 'held',
      reason: `estimated cost $${costUsd.toFixed(6)} exceeds $${rules.costUsdOver}`,
    };
  }
  const tokens = estimate.inputTokens + estimate.outputTokens;
  if (rules.tokensOver !== undefined && tokens > rules.tokensOver) {
    return {
      rule: 'approvals.tokensOver',
      outcome: 'held',
      reason: `estimated ${tokens} tokens exceed ${rules.tokensOver}`,
    };
  }
  return null;
}

/**
 * Everything the policy decides before a provider is called, in order: the output-token cap, PII
 * and injection on the input, the models and regions that may serve it (with fallbacks, ordered by
 * the routing strategy), the estimate that quotas and budgets reserve, and whether a human must
 * approve it. Throws the refusal when the policy refuses. Used by the gateway and by the dry run.
 */
export async function planChat(
  deps: { router: ModelRouter; dispatch: { latency: LatencyTracker } },
  ctx: TenantContext,
  policy: PolicyDocument,
  body: ChatCompletionRequest,
  options: {
    approved: boolean;
    /** Sees the governed input before any refusal, so the audit keeps the redacted text only. */
    onGoverned?: (governed: GovernedInput) => void;
  },
): Promise<ChatPlan> {
  const capped = capMaxTokens(policy, body);
  const governed = governChatInput(policy, capped);
  options.onGoverned?.(governed);
  if (governed.blocked !== null) throw policyBlocked(governed.blocked, 'messages');
  const inputTokens = countChatTokens(governed.request.messages);
  const outputTokens = requestedMaxTokens(capped) ?? policy.budgets.assumedOutputTokens;
  const routing = { router: deps.router, latency: deps.dispatch.latency };
  const candidates = await routeCandidates(routing, ctx, policy, body.model, 'chat', {
    inputTokens,
    outputTokens,
  });
  // Reserve for the dearest model that may end up serving it, fallbacks included.
  const costNanoUsd = Math.max(
    ...candidates.map(
      (c) => priceUsage(c.providerKind, c.upstreamModel, inputTokens, outputTokens).nanoUsd,
    ),
  );
  const estimate = { inputTokens, outputTokens, costNanoUsd };
  const hold = options.approved ? null : approvalHold(policy, body.model, estimate);
  return {
    governed,
    request: governed.request,
    candidates,
    estimate,
    decisions: hold === null ? governed.decisions : [...governed.decisions, hold],
    hold,
  };
}
