import { z } from 'zod';

const textPart = z.object({ type: z.literal('text'), text: z.string() });
const otherPart = z.looseObject({ type: z.string().min(1) });
export const contentPart = z.union([textPart, otherPart]);

const toolCall = z.looseObject({
  id: z.string(),
  type: z.literal('function'),
  function: z.object({ name: z.string(), arguments: z.string() }),
});

export const chatMessage = z.looseObject({
  role: z.enum(['system', 'developer', 'user', 'assistant', 'tool']),
  content: z.union([z.string(), z.array(contentPart), z.null()]).optional(),
  name: z.string().optional(),
  tool_calls: z.array(toolCall).optional(),
  tool_call_id: z.string().optional(),
});

/**
 * Bulkhead's own request field: retrieval from the tenant's collections and thread memory. Plain
 * OpenAI clients never send it; it is taken off the request before any provider sees it.
 */
export const bulkheadExtension = z.strictObject({
  collections: z.array(z.string().min(1).max(64)).min(1).max(10).optional(),
  topK: z.number().int().min(1).max(20).default(5),
  mode: z.enum(['vector', 'keyword', 'hybrid']).default('hybrid'),
  thread: z.string().min(1).max(64).optional(),
});
export type BulkheadExtension = z.infer<typeof bulkheadExtension>;

/**
 * The OpenAI chat request. Known fields are checked; unknown fields pass through to
 * OpenAI-compatible upstreams untouched, so clients using newer parameters keep working.
 */
export const chatCompletionRequest = z.looseObject({
  model: z.string().min(1).max(200),
  messages: z.array(chatMessage).min(1, 'messages must contain at least one message'),
  stream: z.boolean().optional(),
  stream_options: z.looseObject({ include_usage: z.boolean().optional() }).nullable().optional(),
  max_tokens: z.number().int().positive().nullable().optional(),
  max_completion_tokens: z.number().int().positive().nullable().optional(),
  temperature: z.number().min(0).max(2).nullable().optional(),
  top_p: z.number().min(0).max(1).nullable().optional(),
  n: z.number().int().min(1).max(128).nullable().optional(),
  stop: z
    .union([z.string(), z.array(z.string()).max(4)])
    .nullable()
    .optional(),
  presence_penalty: z.number().min(-2).max(2).nullable().optional(),
  frequency_penalty: z.number().min(-2).max(2).nullable().optional(),
  seed: z.number().int().nullable().optional(),
  user: z.string().optional(),
  tools: z.array(z.looseObject({ type: z.string() })).optional(),
  tool_choice: z.unknown().optional(),
  response_format: z.looseObject({ type: z.string() }).optional(),
  bulkhead: bulkheadExtension.optional(),
});

export type ChatCompletionRequest = z.infer<typeof chatCompletionRequest>;
export type ChatMessage = z.infer<typeof chatMessage>;

/** The text of a message, with non-text parts (images, audio) left out. */
export function messageText(message: ChatMessage): string {
  const content = message.content;
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .map((part) => (part.type === 'text' && typeof part.text === 'string' ? part.text : ''))
    .join('');
}

/** Bulkhead's own request headers on the chat route. */
export const chatRequestHeaders = z.looseObject({
  'x-bulkhead-approval-wait': z.coerce
    .number()
    .int()
    .min(0)
    .max(300)
    .optional()
    .describe(
      'Seconds to wait for a held request to be decided and run before answering 202 (capped by BULKHEAD_APPROVAL_MAX_WAIT_SECONDS).',
    ),
});
