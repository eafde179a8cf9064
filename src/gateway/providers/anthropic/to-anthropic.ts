import { z } from 'zod';
import { BkError } from '../../../core/errors.ts';
import { messageText, type ChatCompletionRequest, type ChatMessage } from '../../chat/schema.ts';

/** Anthropic requires `max_tokens`; OpenAI clients usually leave it out. */
export const DEFAULT_MAX_TOKENS = 4096;

export type AnthropicImageSource =
  { type: 'base64'; media_type: string; data: string } | { type: 'url'; url: string };

export type AnthropicContentBlock =
  | { type: 'text'; text: string }
  | { type: 'image'; source: AnthropicImageSource }
  | { type: 'tool_use'; id: string; name: string; input: Record<string, unknown> }
  | { type: 'tool_result'; tool_use_id: string; content?: string };

export interface AnthropicMessage {
  role: 'user' | 'assistant';
  content: AnthropicContentBlock[];
}

export interface AnthropicTool {
  name: string;
  description?: string;
  input_schema: Record<string, unknown>;
}

export type AnthropicToolChoice = (
  { type: 'auto' } | { type: 'any' } | { type: 'none' } | { type: 'tool'; name: string }
) & { disable_parallel_tool_use?: boolean };

/** The body of `POST /v1/messages`, as far as Bulkhead fills it in. */
export interface AnthropicMessagesRequest {
  model: string;
  max_tokens: number;
  messages: AnthropicMessage[];
  system?: string;
  temperature?: number;
  top_p?: number;
  stop_sequences?: string[];
  tools?: AnthropicTool[];
  tool_choice?: AnthropicToolChoice;
  stream?: boolean;
}

/**
 * Translates an OpenAI chat request to the Anthropic Messages API. OpenAI-only fields without an
 * Anthropic equivalent (penalties, seed, logprobs, response_format, …) are left out.
 */
export function toAnthropicRequest(
  request: ChatCompletionRequest,
  stream: boolean,
): AnthropicMessagesRequest {
  if (request.n != null && request.n > 1) {
    throw new BkError(
      'BK_UNSUPPORTED_OPERATION',
      'Anthropic models return one choice per request; n must be 1.',
      { param: 'n' },
    );
  }

  const { system, messages } = toAnthropicMessages(request.messages);
  const body: AnthropicMessagesRequest = {
    model: request.model,
    max_tokens: request.max_completion_tokens ?? request.max_tokens ?? DEFAULT_MAX_TOKENS,
    messages,
  };
  if (system !== '') body.system = system;
  // OpenAI allows temperature up to 2, Anthropic up to 1.
  if (request.temperature != null) body.temperature = Math.min(1, Math.max(0, request.temperature));
  if (request.top_p != null) body.top_p = request.top_p;
  const stop = typeof request.stop === 'string' ? [request.stop] : (request.stop ?? []);
  if (stop.length > 0) body.stop_sequences = stop;

  const tools = toAnthropicTools(request.tools);
  if (tools.length > 0) {
    body.tools = tools;
    const choice = toAnthropicToolChoice(request.tool_choice, request.parallel_tool_calls);
    if (choice !== undefined) body.tool_choice = choice;
  }
  if (stream) body.stream = true;
  return body;
}

/**
 * System and developer messages become the top-level `system` prompt; the rest become alternating
 * user/assistant turns, since Anthropic rejects two consecutive messages from the same role. Tool
 * results travel in user turns.
 */
export function toAnthropicMessages(input: ChatMessage[]): {
  system: string;
  messages: AnthropicMessage[];
} {
  const systemParts: string[] = [];
  const messages: AnthropicMessage[] = [];

  for (const message of input) {
    let role: AnthropicMessage['role'];
    let content: AnthropicContentBlock[];
    switch (message.role) {
      case 'system':
      case 'developer': {
        const text = messageText(message);
        if (text !== '') systemParts.push(text);
        continue;
      }
      case 'user':
        role = 'user';
        content = contentBlocks(message);
        break;
      case 'assistant':
        role = 'assistant';
        content = [...contentBlocks(message), ...toolUseBlocks(message)];
        break;
      case 'tool':
        role = 'user';
        content = [toolResultBlock(message)];
        break;
    }
    // Empty turns (an assistant message with neither text nor tool calls) are rejected upstream.
    if (content.length === 0) continue;
    const previous = messages.at(-1);
    if (previous?.role === role) previous.content.push(...content);
    else messages.push({ role, content });
  }

  if (messages.length === 0) {
    throw new BkError(
      'BK_VALIDATION_FAILED',
      'Anthropic models need at least one user or assistant message with content.',
      { param: 'messages' },
    );
  }
  return { system: systemParts.join('\n\n'), messages };
}

/** Text and image parts; other part kinds (audio, files) are left out, as `messageText` does. */
function contentBlocks(message: ChatMessage): AnthropicContentBlock[] {
  const content = message.content;
  if (typeof content === 'string') return content === '' ? [] : [{ type: 'text', text: content }];
  if (!Array.isArray(content)) return [];
  const blocks: AnthropicContentBlock[] = [];
  for (const part of content) {
    if (part.type === 'text' && typeof part.text === 'string') {
      if (part.text !== '') blocks.push({ type: 'text', text: part.text });
    } else if (part.type === 'image_url') {
      blocks.push({ type: 'image', source: imageSource(part.image_url) });
    }
  }
  return blocks;
}

const DATA_URL = /^data:([^;,]+);base64,(.*)$/s;

function imageSource(imageUrl: unknown): AnthropicImageSource {
  // OpenAI sends `{ url, detail? }`; some older clients send the URL as a bare string.
  const url =
    typeof imageUrl === 'string'
      ? imageUrl
      : typeof imageUrl === 'object' && imageUrl !== null && 'url' in imageUrl
        ? imageUrl.url
        : undefined;
  if (typeof url === 'string') {
    const data = DATA_URL.exec(url);
    if (data) return { type: 'base64', media_type: data[1]!, data: data[2]! };
    if (/^https?:\/\//i.test(url)) return { type: 'url', url };
  }
  throw new BkError(
    'BK_VALIDATION_FAILED',
    'An image_url part must hold a base64 data: URL or an http(s) URL.',
    { param: 'messages' },
  );
}

function toolUseBlocks(message: ChatMessage): AnthropicContentBlock[] {
  return (message.tool_calls ?? []).map((call) => ({
    type: 'tool_use',
    id: call.id,
    name: call.function.name,
    input: toolArguments(call.function.arguments, call.id),
  }));
}

function toolArguments(json: string, callId: string): Record<string, unknown> {
  // Models sometimes emit an empty string for a call without arguments.
  if (json.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    parsed = undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new BkError(
      'BK_VALIDATION_FAILED',
      `The arguments of tool call '${callId}' must be a JSON object.`,
      { param: 'messages' },
    );
  }
  return parsed as Record<string, unknown>;
}

function toolResultBlock(message: ChatMessage): AnthropicContentBlock {
  if (message.tool_call_id === undefined || message.tool_call_id === '') {
    throw new BkError('BK_VALIDATION_FAILED', 'A tool message needs a tool_call_id.', {
      param: 'messages',
    });
  }
  const text = messageText(message);
  return text === ''
    ? { type: 'tool_result', tool_use_id: message.tool_call_id }
    : { type: 'tool_result', tool_use_id: message.tool_call_id, content: text };
}

const functionTool = z.object({
  type: z.literal('function'),
  function: z.looseObject({
    name: z.string().min(1),
    description: z.string().optional(),
    parameters: z.record(z.string(), z.unknown()).optional(),
  }),
});

export function toAnthropicTools(tools: ChatCompletionRequest['tools']): AnthropicTool[] {
  return (tools ?? []).map((tool) => {
    if (tool.type !== 'function') {
      throw new BkError(
        'BK_UNSUPPORTED_OPERATION',
        `Anthropic models accept only function tools, not '${tool.type}'.`,
        { param: 'tools' },
      );
    }
    const parsed = functionTool.safeParse(tool);
    if (!parsed.success) {
      throw new BkError('BK_VALIDATION_FAILED', 'Each function tool needs a function.name.', {
        param: 'tools',
      });
    }
    const { name, description, parameters } = parsed.data.function;
    return {
      name,
      ...(description === undefined ? {} : { description }),
      input_schema: parameters ?? { type: 'object', properties: {} },
    };
  });
}

const namedToolChoice = z.object({
  type: z.literal('function'),
  function: z.object({ name: z.string().min(1) }),
});

export function toAnthropicToolChoice(
  choice: unknown,
  parallelToolCalls: unknown,
): AnthropicToolChoice | undefined {
  let translated: AnthropicToolChoice | undefined;
  if (choice === undefined || choice === null) translated = undefined;
  else if (choice === 'auto') translated = { type: 'auto' };
  else if (choice === 'none') return { type: 'none' };
  else if (choice === 'required') translated = { type: 'any' };
  else {
    const named = namedToolChoice.safeParse(choice);
    if (!named.success) {
      throw new BkError(
        'BK_VALIDATION_FAILED',
        "tool_choice must be 'auto', 'none', 'required' or {type: 'function', function: {name}}.",
        { param: 'tool_choice' },
      );
    }
    translated = { type: 'tool', name: named.data.function.name };
  }
  if (parallelToolCalls === false) {
    return { ...(translated ?? { type: 'auto' }), disable_parallel_tool_use: true };
  }
  return translated;
}
