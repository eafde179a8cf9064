import { BkError } from '../../core/errors.ts';
import type { App, AppDeps } from '../../http/app-types.ts';
import { toBkError } from '../../http/errors.ts';
import { clientAbortSignal } from '../client-abort.ts';
import { InferenceMeter } from '../inference-meter.ts';
import { publicModel } from '../public-model.ts';
import { countTextTokens } from '../../metering/token-count.ts';
import { priceUsage } from '../../metering/prices.ts';
import { governEmbeddingInput } from '../../governance/input.ts';
import { policyBlocked } from '../../governance/model-rules.ts';
import { costOf, settleQuotas } from '../quota-settlement.ts';
import type { TokenCounts } from '../inference-meter.ts';
import { routeCandidates } from '../routing/candidates.ts';
import { dispatch } from '../routing/dispatch.ts';
import { type EmbeddingRequest, embeddingRequest } from './schema.ts';

/** For upstreams that report no usage (some local servers): text is counted, token arrays are their length. */
function countInputTokens(input: EmbeddingRequest['input']): number {
  const items: (string | number | number[])[] = Array.isArray(input) ? input : [input];
  if (items.every((i) => typeof i === 'number')) return items.length;
  return items.reduce<number>(
    (sum, i) =>
      sum + (typeof i === 'string' ? countTextTokens(i) : Array.isArray(i) ? i.length : 1),
    0,
  );
}

/** OpenAI's base64 form: the float32 little-endian bytes of the vector. The SDK asks for it by default. */
function toBase64(vector: number[]): string {
  const bytes = Buffer.alloc(vector.length * 4);
  vector.forEach((v, i) => bytes.writeFloatLE(v, i * 4));
  return bytes.toString('base64');
}

/**
 * Embeddings run the same policy as chat, minus what only applies to generated text: PII rules on
 * the input texts, allowed models and regions (with fallbacks), rate limits and budgets, the
 * circuit breaker and fair scheduling. The response is not governed: vectors are not content.
 */
export function registerEmbeddingRoutes(app: App, deps: AppDeps): void {
  app.post(
    '/v1/embeddings',
    {
      schema: {
        tags: ['gateway'],
        summary: 'Create embeddings (OpenAI-compatible)',
        body: embeddingRequest,
      },
    },
    async (request, reply) => {
      const ctx = await deps.auth.tenant(request, 'inference');
      const body = request.body;
      const meter = new InferenceMeter(
        deps.usage,
        ctx,
        'embeddings',
        body.model,
        false,
        body.input,
      );
      try {
        const policy = await deps.policies.current(ctx);
        reply.header('x-bulkhead-policy-version', String(policy.version));
        const governed = governEmbeddingInput(policy.document, body.input);
        meter.decided(governed.decisions);
        meter.governedInput(governed.input);
        if (governed.blocked !== null) throw policyBlocked(governed.blocked, 'input');
        const estimate = countInputTokens(governed.input);
        const candidates = await routeCandidates(
          { router: deps.router, latency: deps.dispatch.latency },
          ctx,
          policy.document,
          body.model,
          'embeddings',
          { inputTokens: estimate, outputTokens: 0 },
        );
        const ticket = await deps.quotas.admit(ctx, policy.document, {
          tokens: estimate,
          costNanoUsd: Math.max(
            ...candidates.map(
              (c) => priceUsage(c.providerKind, c.upstreamModel, estimate, 0).nanoUsd,
            ),
          ),
        });
        for (const [name, value] of Object.entries(ticket.headers)) reply.header(name, value);
        let spent: { tokens: TokenCounts; costNanoUsd: number } | null = null;
        try {
          const signal = clientAbortSignal(reply);
          const { result, route, release } = await dispatch(
            deps.dispatch,
            ctx,
            policy.document,
            candidates,
            signal,
            (candidate) => {
              meter.routed(candidate);
              return candidate.provider.embed(
                { ...body, input: governed.input, model: candidate.upstreamModel },
                { signal },
              );
            },
          );
          release();
          const reported = result.usage.prompt_tokens;
          const tokens: TokenCounts = {
            inputTokens: reported > 0 ? reported : estimate,
            outputTokens: 0,
            countedBy: reported > 0 ? 'provider' : 'bulkhead',
          };
          spent = { tokens, costNanoUsd: costOf(route, tokens) };
          await meter.succeeded(tokens);
          reply.header('x-bulkhead-provider', route.providerName);
          const base64 = body.encoding_format === 'base64';
          return {
            object: 'list' as const,
            model: publicModel(route, result.model),
            data: result.data.map((d) => ({
              object: 'embedding' as const,
              index: d.index,
              embedding: base64 ? toBase64(d.embedding) : d.embedding,
            })),
            usage: { prompt_tokens: tokens.inputTokens, total_tokens: tokens.inputTokens },
          };
        } finally {
          await settleQuotas(deps, ctx, policy.document, ticket, spent);
        }
      } catch (err) {
        const failure = err instanceof BkError ? err : toBkError(err, request);
        await meter.failed(failure, null);
        throw failure;
      }
    },
  );
}
