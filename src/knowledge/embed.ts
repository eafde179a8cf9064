import type { FastifyRequest } from 'fastify';
import type { TenantContext } from '../core/tenant-context.ts';
import { toBkError } from '../http/errors.ts';
import type { PolicyDocument } from '../governance/policy/schema.ts';
import { InferenceMeter, type MeteredOperation } from '../gateway/inference-meter.ts';
import { costOf, settleQuotas } from '../gateway/quota-settlement.ts';
import { routeCandidates } from '../gateway/routing/candidates.ts';
import { dispatch } from '../gateway/routing/dispatch.ts';
import type { AppDeps } from '../http/app-types.ts';
import { priceUsage } from '../metering/prices.ts';
import { countTextTokens } from '../metering/token-count.ts';

const BATCH = 128;

/**
 * Embeds texts with a collection's model, as the tenant: the model must be allowed by its policy
 * (models and regions, fallbacks included), the call goes through its quotas, and each batch is
 * one metered, audited call. `auditInput` is what the audit event keeps of the input (a search
 * keeps its query; an ingest only names the document, which is stored anyway).
 */
export interface EmbedRequest {
  model: string;
  texts: readonly string[];
  operation: MeteredOperation;
  auditInput: unknown;
  signal: AbortSignal;
  http: FastifyRequest;
  /** After each batch: how many texts are embedded so far. */
  onProgress?: (embedded: number) => Promise<void>;
}

export async function embedTexts(
  deps: AppDeps,
  ctx: TenantContext,
  policy: PolicyDocument,
  request: EmbedRequest,
): Promise<number[][]> {
  const vectors: number[][] = [];
  for (let i = 0; i < request.texts.length; i += BATCH) {
    const batch = request.texts.slice(i, i + BATCH);
    vectors.push(...(await embedBatch(deps, ctx, policy, { ...request, texts: batch })));
    await request.onProgress?.(vectors.length);
  }
  return vectors;
}

async function embedBatch(
  deps: AppDeps,
  ctx: TenantContext,
  policy: PolicyDocument,
  request: EmbedRequest,
): Promise<number[][]> {
  const meter = new InferenceMeter(
    deps.usage,
    ctx,
    request.operation,
    request.model,
    false,
    request.auditInput,
  );
  try {
    const estimate = request.texts.reduce((sum, t) => sum + countTextTokens(t), 0);
    const candidates = await routeCandidates(
      { router: deps.router, latency: deps.dispatch.latency },
      ctx,
      policy,
      request.model,
      'embeddings',
      { inputTokens: estimate, outputTokens: 0 },
    );
    const first = candidates[0]!;
    const ticket = await deps.quotas.admit(ctx, policy, {
      tokens: estimate,
      costNanoUsd: priceUsage(first.providerKind, first.upstreamModel, estimate, 0).nanoUsd,
    });
    let spent = null;
    try {
      const { result, route, release } = await dispatch(
        deps.dispatch,
        ctx,
        policy,
        candidates,
        request.signal,
        (candidate) => {
          meter.routed(candidate);
          return candidate.provider.embed(
            { model: candidate.upstreamModel, input: [...request.texts] },
            { signal: request.signal },
          );
        },
      );
      release();
      const reported = result.usage.prompt_tokens;
      const tokens = {
        inputTokens: reported > 0 ? reported : estimate,
        outputTokens: 0,
        countedBy: reported > 0 ? ('provider' as const) : ('bulkhead' as const),
      };
      spent = { tokens, costNanoUsd: costOf(route, tokens) };
      await meter.succeeded(tokens);
      return [...result.data].sort((a, b) => a.index - b.index).map((d) => d.embedding);
    } finally {
      await settleQuotas(deps, ctx, policy, ticket, spent);
    }
  } catch (err) {
    await meter.failed(toBkError(err, request.http), null).catch(() => undefined);
    throw err;
  }
}
