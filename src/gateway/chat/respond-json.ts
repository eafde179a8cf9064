import type { TenantContext } from '../../core/tenant-context.ts';
import { policyBlocked } from '../../governance/model-rules.ts';
import { governChatOutput } from '../../governance/output.ts';
import type { LoadedPolicy } from '../../governance/policy/policy-store.ts';
import type { AppDeps } from '../../http/app-types.ts';
import type { InferenceMeter, TokenCounts } from '../inference-meter.ts';
import type { ChatCompletion } from '../openai-types.ts';
import { publicModel } from '../public-model.ts';
import { responseCacheKey } from '../response-cache/response-cache.ts';
import { dispatch } from '../routing/dispatch.ts';
import type { ChatPlan } from './plan.ts';
import { costOf, settleQuotas } from '../quota-settlement.ts';
import { tokensFrom } from './tokens.ts';

/** Where the answer goes: the HTTP reply, or (for an approved request) no one waiting. */
export interface ResponseSide {
  signal: AbortSignal;
  header(name: string, value: string): void;
}

/**
 * A non-streamed completion: from the tenant's cache if its policy enables it, otherwise quotas
 * admitted, the candidates called with fallbacks, the output governed, usage recorded, quotas
 * settled with the real numbers.
 */
export async function respondJson(
  deps: AppDeps,
  ctx: TenantContext,
  policy: LoadedPolicy,
  plan: ChatPlan,
  meter: InferenceMeter,
  out: ResponseSide,
): Promise<ChatCompletion> {
  const cacheKey =
    policy.document.cache.enabled && deps.config.responseCacheMaxBytes > 0
      ? responseCacheKey(ctx.tenantId, plan.request)
      : null;
  if (cacheKey !== null) {
    const hit = deps.responseCache.get(cacheKey);
    out.header('x-bulkhead-cache', hit === undefined ? 'miss' : 'hit');
    if (hit !== undefined) {
      meter.routed(hit.route);
      meter.servedFromCache();
      const usage = hit.completion.usage;
      await meter.succeeded(
        {
          inputTokens: usage?.prompt_tokens ?? 0,
          outputTokens: usage?.completion_tokens ?? 0,
          countedBy: 'provider',
        },
        hit.completion.choices.map((c) => c.message.content ?? '').join(''),
      );
      out.header('x-bulkhead-provider', hit.route.providerName);
      return { ...hit.completion, id: `chatcmpl-${ctx.requestId}` };
    }
  }

  const ticket = await deps.quotas.admit(ctx, policy.document, {
    tokens: plan.estimate.inputTokens + plan.estimate.outputTokens,
    costNanoUsd: plan.estimate.costNanoUsd,
  });
  for (const [name, value] of Object.entries(ticket.headers)) out.header(name, value);
  const signal = out.signal;
  let spent: { tokens: TokenCounts; costNanoUsd: number } | null = null;
  try {
    const {
      result: completion,
      route,
      release,
    } = await dispatch(
      deps.dispatch,
      ctx,
      policy.document,
      plan.candidates,
      signal,
      (candidate) => {
        meter.routed(candidate);
        return candidate.provider.chat(
          { ...plan.request, model: candidate.upstreamModel, stream: false },
          { signal },
        );
      },
    );
    release();
    const output = governChatOutput(
      policy.document,
      plan.governed.redactor,
      completion.choices.map((c) => c.message.content ?? ''),
    );
    meter.decided(output.decisions);
    const text = output.texts.join('');
    const tokens = tokensFrom(completion.usage, plan.request, text);
    spent = { tokens, costNanoUsd: costOf(route, tokens) };
    if (output.blocked !== null) {
      const refusal = policyBlocked(output.blocked);
      await meter.failed(refusal, tokens);
      throw refusal;
    }
    await meter.succeeded(tokens, text);
    out.header('x-bulkhead-provider', route.providerName);
    const answer: ChatCompletion = {
      ...completion,
      model: publicModel(route, completion.model),
      choices: completion.choices.map((choice, i) =>
        choice.message.content == null
          ? choice
          : { ...choice, message: { ...choice.message, content: output.texts[i] ?? '' } },
      ),
      usage: {
        prompt_tokens: tokens.inputTokens,
        completion_tokens: tokens.outputTokens,
        total_tokens: tokens.inputTokens + tokens.outputTokens,
      },
    };
    if (cacheKey !== null) {
      deps.responseCache.set(
        cacheKey,
        { completion: answer, route },
        {
          ttlMs: policy.document.cache.ttlSeconds * 1000,
          sizeBytes: JSON.stringify(answer).length,
        },
      );
    }
    return answer;
  } finally {
    await settleQuotas(deps, ctx, policy.document, ticket, spent);
  }
}
