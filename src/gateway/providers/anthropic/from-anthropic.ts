import { z } from 'zod';
import { BkError } from '../../../core/errors.ts';
import type { ChatCompletion, ChatCompletionMessage, Usage } from '../../openai-types.ts';

type FinishReason = ChatCompletion['choices'][number]['finish_reason'];

export const anthropicUsage = z.looseObject({
  input_tokens: z.number().nullable().optional(),
  output_tokens: z.number().nullable().optional(),
  cache_creation_input_tokens: z.number().nullable().optional(),
  cache_read_input_tokens: z.number().nullable().optional(),
});
export type AnthropicUsage = z.infer<typeof anthropicUsage>;

const anthropicMessage = z.looseObject({
  id: z.string(),
  model: z.string(),
  content: z.array(z.looseObject({ type: z.string() })),
  stop_reason: z.string().nullable().optional(),
  usage: anthropicUsage.optional(),
});

/** Anthropic stop reasons in OpenAI's terms; see the Messages API `stop_reason` reference. */
export function toFinishReason(stopReason: string | null | undefined): FinishReason {
  switch (stopReason) {
    case null:
    case undefined:
      return null;
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return 'length';
    case 'tool_use':
      return 'tool_calls';
    case 'refusal':
      return 'content_filter';
    default:
      // end_turn, stop_sequence, pause_turn and any reason added later: the turn is over.
      return 'stop';
  }
}

/**
 * Anthropic counts cached prompt tokens apart from `input_tokens`; OpenAI's `prompt_tokens` is the
 * whole prompt, so they are added back.
 */
export function toUsage(usage: AnthropicUsage): Usage {
  const prompt =
    (usage.input_tokens ?? 0) +
    (usage.cache_creation_input_tokens ?? 0) +
    (usage.cache_read_input_tokens ?? 0);
  const completion = usage.output_tokens ?? 0;
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
  };
}

/** Translates an Anthropic Message into an OpenAI chat completion with one choice. */
export function fromAnthropicMessage(
  body: unknown,
  provider: string,
  created: number,
): ChatCompletion {
  const parsed = anthropicMessage.safeParse(body);
  if (!parsed.success) {
    throw new BkError(
      'BK_UPSTREAM_ERROR',
      `Provider '${provider}' returned an unexpected response.`,
    );
  }
  const message = parsed.data;

  const texts: string[] = [];
  const toolCalls: NonNullable<ChatCompletionMessage['tool_calls']> = [];
  for (const block of message.content) {
    if (block.type === 'text' && typeof block.text === 'string') {
      texts.push(block.text);
    } else if (block.type === 'tool_use') {
      if (typeof block.id !== 'string' || typeof block.name !== 'string') {
        throw new BkError(
          'BK_UPSTREAM_ERROR',
          `Provider '${provider}' returned a malformed tool call.`,
        );
      }
      toolCalls.push({
        id: block.id,
        type: 'function',
        function: { name: block.name, arguments: JSON.stringify(block.input ?? {}) },
      });
    }
    // Thinking and server-tool blocks have no OpenAI counterpart and are left out.
  }

  const reply: ChatCompletionMessage = {
    role: 'assistant',
    // OpenAI sends null content for a turn that only calls tools.
    content: texts.length === 0 && toolCalls.length > 0 ? null : texts.join(''),
  };
  if (toolCalls.length > 0) reply.tool_calls = toolCalls;

  const completion: ChatCompletion = {
    id: message.id,
    object: 'chat.completion',
    created,
    model: message.model,
    choices: [
      {
        index: 0,
        message: reply,
        finish_reason: toFinishReason(message.stop_reason),
        logprobs: null,
      },
    ],
  };
  if (message.usage) completion.usage = toUsage(message.usage);
  return completion;
}
