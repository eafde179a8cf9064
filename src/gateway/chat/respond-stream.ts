import type { FastifyReply, FastifyRequest } from 'fastify';
import { BkError } from '../../core/errors.ts';
import type { TenantContext } from '../../core/tenant-context.ts';
import { policyBlocked } from '../../governance/model-rules.ts';
import { StreamGovernor } from '../../governance/output.ts';
import type { LoadedPolicy } from '../../governance/policy/policy-store.ts';
import type { AppDeps } from '../../http/app-types.ts';
import { errorBody, toBkError } from '../../http/errors.ts';
import { clientAbortSignal } from '../client-abort.ts';
import type { InferenceMeter, TokenCounts } from '../inference-meter.ts';
import type { ChatCompletionChunk, Usage } from '../openai-types.ts';
import { publicModel } from '../public-model.ts';
import { dispatch } from '../routing/dispatch.ts';
import type { ChatPlan } from './plan.ts';
import { costOf, settleQuotas } from '../quota-settlement.ts';
import { tokensFrom } from './tokens.ts';
import { SseWriter } from './sse-writer.ts';

/** Applies output governance to one chunk: each choice's text goes through its stream redactor. */
function governChunk(governor: StreamGovernor, chunk: ChatCompletionChunk): ChatCompletionChunk {
  return {
    ...chunk,
    choices: chunk.choices.map((choice) => {
      let content = governor.push(choice.index, choice.delta.content ?? '');
      // The held-back rest of a choice goes out before the chunk that finishes it.
      if (choice.finish_reason != null) content += governor.finish(choice.index);
      return choice.delta.content == null && content === ''
        ? choice
        : { ...choice, delta: { ...choice.delta, content } };
    }),
  };
}

/**
 * Streams as OpenAI does. The first chunk is awaited before any byte is sent (fallbacks happen
 * there), so a request no candidate would serve still gets a proper HTTP error status; after that,
 * errors arrive as an `error` event. When the policy acts on output, text that could still be part
 * of a value to redact is held back until it cannot; a value the policy blocks ends the stream
 * with an error event, and the value itself is never sent. The usage chunk is forwarded only when
 * the client asked for it (`stream_options.include_usage`); metering always gets it.
 */
export async function respondStream(
  deps: AppDeps,
  ctx: TenantContext,
  policy: LoadedPolicy,
  plan: ChatPlan,
  meter: InferenceMeter,
  request: FastifyRequest,
  reply: FastifyReply,
  options: {
    headers: Record<string, string>;
    /** Bulkhead's own fields (citations), sent on the first chunk. */
    extension?: Record<string, unknown>;
    /** Runs once the answer is complete and metered (thread memory). */
    onCompleted?: (output: string) => Promise<void>;
  },
): Promise<void> {
  const ticket = await deps.quotas.admit(ctx, policy.document, {
    tokens: plan.estimate.inputTokens + plan.estimate.outputTokens,
    costNanoUsd: plan.estimate.costNanoUsd,
  });
  const signal = clientAbortSignal(reply);
  const governor = new StreamGovernor(policy.document, plan.governed.redactor);
  let spent: { tokens: TokenCounts; costNanoUsd: number } | null = null;
  let release = () => undefined as void;
  try {
    const opened = await dispatch(
      deps.dispatch,
      ctx,
      policy.document,
      plan.candidates,
      signal,
      async (candidate) => {
        meter.routed(candidate);
        const stream = candidate.provider.chatStream(
          { ...plan.request, model: candidate.upstreamModel, stream: true },
          { signal },
        );
        const chunks = stream[Symbol.asyncIterator]();
        return { chunks, first: await chunks.next() };
      },
    );
    release = opened.release;
    const route = opened.route;
    const { chunks } = opened.result;
    let next = opened.result.first;

    reply.hijack();
    const sse = new SseWriter(reply.raw, {
      ...options.headers,
      ...ticket.headers,
      'x-request-id': request.id,
      'x-bulkhead-provider': route.providerName,
    });
    const includeUsage = plan.request.stream_options?.include_usage === true;
    let output = '';
    let usage: Usage | null = null;
    let lastChunk: ChatCompletionChunk | null = null;
    try {
      for (; next.done !== true; next = await chunks.next()) {
        const raw = next.value;
        if (raw.usage) usage = raw.usage;
        if (raw.choices.length === 0) continue;
        const chunk = governor.active ? governChunk(governor, raw) : raw;
        const blocked = governor.blocked;
        if (blocked !== null) throw policyBlocked(blocked);
        for (const choice of chunk.choices) output += choice.delta.content ?? '';
        await sse.data({
          ...chunk,
          model: publicModel(route, chunk.model),
          usage: includeUsage ? null : undefined,
          ...(lastChunk === null &&
            options.extension !== undefined && { bulkhead: options.extension }),
        });
        lastChunk = chunk;
      }
      if (governor.active) {
        for (const [index, rest] of governor.finishAll()) {
          if (rest === '') continue;
          output += rest;
          await sse.data({
            id: lastChunk?.id ?? `chatcmpl-${ctx.requestId}`,
            object: 'chat.completion.chunk',
            created: lastChunk?.created ?? Math.floor(Date.now() / 1000),
            model: publicModel(route, lastChunk?.model),
            choices: [{ index, delta: { content: rest }, finish_reason: null }],
          });
        }
        const blocked = governor.blocked;
        if (blocked !== null) throw policyBlocked(blocked);
      }
      meter.decided(governor.decisions());
      const tokens = tokensFrom(usage, plan.request, output);
      spent = { tokens, costNanoUsd: costOf(route, tokens) };
      await meter.succeeded(tokens, output);
      await options.onCompleted?.(output);
      if (includeUsage) {
        await sse.data({
          id: lastChunk?.id ?? `chatcmpl-${ctx.requestId}`,
          object: 'chat.completion.chunk',
          created: lastChunk?.created ?? Math.floor(Date.now() / 1000),
          model: publicModel(route, lastChunk?.model),
          choices: [],
          usage: {
            prompt_tokens: tokens.inputTokens,
            completion_tokens: tokens.outputTokens,
            total_tokens: tokens.inputTokens + tokens.outputTokens,
          },
        });
      }
      await sse.data('[DONE]');
    } catch (err) {
      const failure = signal.aborted
        ? new BkError('BK_CLIENT_CLOSED', 'The client closed the stream.')
        : toBkError(err, request);
      const tokens = tokensFrom(usage, plan.request, output);
      spent ??= { tokens, costNanoUsd: costOf(route, tokens) };
      await meter.failed(failure, tokens, output).catch((e: unknown) => {
        request.log.error({ err: e }, 'usage of a failed stream could not be recorded');
      });
      await sse.data(errorBody(failure));
    } finally {
      await chunks.return?.();
      sse.end();
      request.log.info(
        { statusCode: 200, stream: true, responseTime: reply.elapsedTime },
        'stream completed',
      );
    }
  } finally {
    release();
    await settleQuotas(deps, ctx, policy.document, ticket, spent);
  }
}
