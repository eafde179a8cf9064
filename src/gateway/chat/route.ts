import type { FastifyReply, FastifyRequest } from 'fastify';
import { BkError } from '../../core/errors.ts';
import type { TenantContext } from '../../core/tenant-context.ts';
import type { App, AppDeps } from '../../http/app-types.ts';
import { errorBody, toBkError } from '../../http/errors.ts';
import { countChatTokens, countTextTokens } from '../../metering/token-count.ts';
import { clientAbortSignal } from '../client-abort.ts';
import { InferenceMeter, type TokenCounts } from '../inference-meter.ts';
import type { ChatCompletionChunk, Usage } from '../openai-types.ts';
import { publicModel } from '../public-model.ts';
import type { ResolvedModel } from '../router.ts';
import { type ChatCompletionRequest, chatCompletionRequest } from './schema.ts';
import { SseWriter } from './sse-writer.ts';

function tokensFrom(
  usage: Usage | null | undefined,
  request: ChatCompletionRequest,
  output: string,
): TokenCounts {
  if (usage) {
    return {
      inputTokens: usage.prompt_tokens,
      outputTokens: usage.completion_tokens,
      countedBy: 'provider',
    };
  }
  return {
    inputTokens: countChatTokens(request.messages),
    outputTokens: countTextTokens(output),
    countedBy: 'bulkhead',
  };
}

async function completeJson(
  deps: AppDeps,
  body: ChatCompletionRequest,
  route: ResolvedModel,
  meter: InferenceMeter,
  reply: FastifyReply,
) {
  const completion = await route.provider.chat(
    { ...body, model: route.upstreamModel, stream: false },
    { signal: clientAbortSignal(reply) },
  );
  const text = completion.choices.map((c) => c.message.content ?? '').join('');
  const tokens = tokensFrom(completion.usage, body, text);
  await meter.succeeded(tokens, text);
  reply.header('x-bulkhead-provider', route.providerName);
  return {
    ...completion,
    model: publicModel(route, completion.model),
    usage: {
      prompt_tokens: tokens.inputTokens,
      completion_tokens: tokens.outputTokens,
      total_tokens: tokens.inputTokens + tokens.outputTokens,
    },
  };
}

/**
 * Streams as OpenAI does. The first chunk is awaited before any byte is sent, so a request the
 * upstream refuses outright still gets a proper HTTP error status; after that, errors arrive as an
 * `error` event. The usage chunk is forwarded only when the client asked for it
 * (`stream_options.include_usage`); metering always gets it.
 */
async function completeStream(
  deps: AppDeps,
  ctx: TenantContext,
  body: ChatCompletionRequest,
  route: ResolvedModel,
  meter: InferenceMeter,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<void> {
  const signal = clientAbortSignal(reply);
  const stream = route.provider.chatStream(
    { ...body, model: route.upstreamModel, stream: true },
    { signal },
  );
  const chunks = stream[Symbol.asyncIterator]();
  let next = await chunks.next();

  reply.hijack();
  const sse = new SseWriter(reply.raw, {
    'x-request-id': request.id,
    'x-bulkhead-provider': route.providerName,
  });
  const includeUsage = body.stream_options?.include_usage === true;
  let output = '';
  let usage: Usage | null = null;
  let lastChunk: ChatCompletionChunk | null = null;
  try {
    for (; next.done !== true; next = await chunks.next()) {
      const chunk = next.value;
      if (chunk.usage) usage = chunk.usage;
      if (chunk.choices.length === 0) continue;
      for (const choice of chunk.choices) output += choice.delta.content ?? '';
      lastChunk = chunk;
      await sse.data({
        ...chunk,
        model: publicModel(route, chunk.model),
        usage: includeUsage ? null : undefined,
      });
    }
    const tokens = tokensFrom(usage, body, output);
    await meter.succeeded(tokens, output);
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
    await meter.failed(failure, tokensFrom(usage, body, output), output).catch((e: unknown) => {
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
}

export function registerChatRoutes(app: App, deps: AppDeps): void {
  app.post(
    '/v1/chat/completions',
    {
      schema: {
        tags: ['gateway'],
        summary:
          'Create a chat completion (OpenAI-compatible; `stream: true` for server-sent events)',
        body: chatCompletionRequest,
      },
    },
    async (request, reply) => {
      const ctx = await deps.auth.tenant(request, 'inference');
      const body = request.body;
      const meter = new InferenceMeter(
        deps.usage,
        ctx,
        'chat',
        body.model,
        body.stream === true,
        body.messages,
      );
      let route: ResolvedModel | null = null;
      try {
        route = await deps.router.resolve(ctx, body.model, 'chat');
        meter.routed(route);
        if (body.stream === true) {
          await completeStream(deps, ctx, body, route, meter, request, reply);
          return reply;
        }
        return await completeJson(deps, body, route, meter, reply);
      } catch (err) {
        if (reply.sent) throw err;
        const failure = toBkError(err, request);
        await meter.failed(failure, null);
        throw failure;
      }
    },
  );
}
