import { z } from 'zod';
import { BkError } from '../../../core/errors.ts';
import type { ChatCompletionChunk } from '../../openai-types.ts';
import { anthropicUsage, toFinishReason, toUsage, type AnthropicUsage } from './from-anthropic.ts';

type Delta = ChatCompletionChunk['choices'][number]['delta'];
type FinishReason = ChatCompletionChunk['choices'][number]['finish_reason'];

export interface ServerSentEvent {
  event?: string | undefined;
  data: string;
}

export interface StreamContext {
  /** The tenant's name for the provider, for error messages. */
  provider: string;
  /** Used until `message_start` names the model that answers. */
  model: string;
  created: number;
}

const eventType = z.looseObject({ type: z.string() });
const messageStart = z.looseObject({
  message: z.looseObject({ id: z.string(), model: z.string(), usage: anthropicUsage.optional() }),
});
const blockStart = z.looseObject({
  index: z.number(),
  content_block: z.looseObject({
    type: z.string(),
    id: z.string().optional(),
    name: z.string().optional(),
    text: z.string().optional(),
  }),
});
const blockDelta = z.looseObject({
  index: z.number(),
  delta: z.looseObject({
    type: z.string(),
    text: z.string().optional(),
    partial_json: z.string().optional(),
  }),
});
const messageDelta = z.looseObject({
  delta: z.looseObject({ stop_reason: z.string().nullable().optional() }),
  usage: anthropicUsage.nullable().optional(),
});
const errorEvent = z.looseObject({
  error: z.looseObject({ type: z.string().optional(), message: z.string().optional() }).optional(),
});

/**
 * Translates Anthropic's streaming events into OpenAI chunks. The last chunk carries the usage
 * (`choices: []`). Events after `message_stop` are read but ignored, so the upstream body is drained
 * and its connection can be reused. Unknown event and delta types are skipped, as Anthropic asks.
 */
export async function* toChatCompletionChunks(
  events: AsyncIterable<ServerSentEvent>,
  context: StreamContext,
): AsyncGenerator<ChatCompletionChunk> {
  let id = '';
  let model = context.model;
  let usage: AnthropicUsage = {};
  let stopped = false;
  // Anthropic numbers every content block; OpenAI numbers only the tool calls.
  const toolIndexByBlock = new Map<number, number>();

  const chunk = (delta: Delta, finishReason: FinishReason = null): ChatCompletionChunk => ({
    id,
    object: 'chat.completion.chunk',
    created: context.created,
    model,
    choices: [{ index: 0, delta, finish_reason: finishReason }],
  });
  const parse = <T>(schema: z.ZodType<T>, data: unknown): T => {
    const parsed = schema.safeParse(data);
    if (!parsed.success) throw malformed(context.provider);
    return parsed.data;
  };

  for await (const event of events) {
    if (stopped) continue;
    let data: unknown;
    try {
      data = JSON.parse(event.data);
    } catch {
      throw malformed(context.provider);
    }
    switch (parse(eventType, data).type) {
      case 'message_start': {
        const { message } = parse(messageStart, data);
        id = message.id;
        model = message.model;
        usage = message.usage ?? {};
        yield chunk({ role: 'assistant' });
        break;
      }
      case 'content_block_start': {
        const { index, content_block: block } = parse(blockStart, data);
        if (block.type === 'tool_use') {
          const toolIndex = toolIndexByBlock.size;
          toolIndexByBlock.set(index, toolIndex);
          yield chunk({
            tool_calls: [
              {
                index: toolIndex,
                id: block.id ?? '',
                type: 'function',
                function: { name: block.name ?? '', arguments: '' },
              },
            ],
          });
        } else if (block.type === 'text' && block.text) {
          yield chunk({ content: block.text });
        }
        break;
      }
      case 'content_block_delta': {
        const { index, delta } = parse(blockDelta, data);
        if (delta.type === 'text_delta' && delta.text) {
          yield chunk({ content: delta.text });
        } else if (delta.type === 'input_json_delta' && delta.partial_json) {
          const toolIndex = toolIndexByBlock.get(index);
          if (toolIndex !== undefined) {
            yield chunk({
              tool_calls: [{ index: toolIndex, function: { arguments: delta.partial_json } }],
            });
          }
        }
        // thinking_delta, signature_delta, citations_delta: no OpenAI counterpart.
        break;
      }
      case 'message_delta': {
        const event = parse(messageDelta, data);
        // message_delta usage is cumulative; it may restate input counts as well as output.
        if (event.usage) usage = { ...usage, ...definedFields(event.usage) };
        if (event.delta.stop_reason) {
          yield chunk({}, toFinishReason(event.delta.stop_reason));
        }
        break;
      }
      case 'message_stop':
        stopped = true;
        yield { ...chunk({}), choices: [], usage: toUsage(usage) };
        break;
      case 'error': {
        const { error } = parse(errorEvent, data);
        throw streamError(context.provider, error?.type, error?.message);
      }
      default:
        // ping, content_block_stop and event types added later.
        break;
    }
  }
  if (!stopped) {
    throw new BkError(
      'BK_UPSTREAM_ERROR',
      `Provider '${context.provider}' ended the stream before it was complete.`,
    );
  }
}

function definedFields(usage: AnthropicUsage): AnthropicUsage {
  return Object.fromEntries(Object.entries(usage).filter(([, value]) => value != null));
}

function malformed(provider: string): BkError {
  return new BkError('BK_UPSTREAM_ERROR', `Provider '${provider}' sent a malformed stream event.`);
}

/** An `error` event sent after the 200 status line, e.g. `overloaded_error` under load. */
function streamError(
  provider: string,
  type: string | undefined,
  message: string | undefined,
): BkError {
  const detail = (message ?? '').replace(/\s+/g, ' ').trim().slice(0, 300);
  const suffix = detail === '' ? '' : `: ${detail}`;
  if (type === 'overloaded_error' || type === 'rate_limit_error') {
    return new BkError(
      'BK_UPSTREAM_RATE_LIMITED',
      `Provider '${provider}' is overloaded or rate limiting (${type})${suffix}`,
    );
  }
  return new BkError(
    'BK_UPSTREAM_ERROR',
    `Provider '${provider}' failed mid-stream (${type ?? 'unknown error'})${suffix}`,
  );
}
