import { randomBytes } from 'node:crypto';
import { setImmediate } from 'node:timers/promises';
import { BkError } from '../../../core/errors.ts';
import { countChatTokens, countTextTokens } from '../../../metering/token-count.ts';
import type { ChatCompletionRequest } from '../../chat/schema.ts';
import type { ChatCompletion, ChatCompletionChunk, Usage } from '../../openai-types.ts';
import { extractAnswer } from './extract-answer.ts';
import { limitAnswer } from './limit-answer.ts';

const MODEL = 'local/extractive';
const FINGERPRINT = 'bulkhead-local-extractive';
const WORDS_PER_CHUNK = 3;

interface Reply {
  id: string;
  created: number;
  content: string;
  finishReason: 'stop' | 'length';
  usage: Usage;
}

export function completeExtractive(request: ChatCompletionRequest): ChatCompletion {
  const reply = replyTo(request);
  return {
    id: reply.id,
    object: 'chat.completion',
    created: reply.created,
    model: MODEL,
    system_fingerprint: FINGERPRINT,
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: reply.content, refusal: null },
        finish_reason: reply.finishReason,
        logprobs: null,
      },
    ],
    usage: reply.usage,
  };
}

/** The same reply as `completeExtractive`, a few words per chunk, ending with a usage chunk. */
export async function* streamExtractive(
  request: ChatCompletionRequest,
  signal: AbortSignal,
): AsyncGenerator<ChatCompletionChunk> {
  const reply = replyTo(request);
  const chunk = (
    delta: ChatCompletionChunk['choices'][number]['delta'],
    finishReason: ChatCompletionChunk['choices'][number]['finish_reason'] = null,
  ): ChatCompletionChunk => ({
    id: reply.id,
    object: 'chat.completion.chunk',
    created: reply.created,
    model: MODEL,
    system_fingerprint: FINGERPRINT,
    choices: [{ index: 0, delta, finish_reason: finishReason, logprobs: null }],
  });
  const chunks = [
    chunk({ role: 'assistant', content: '' }),
    ...wordGroups(reply.content, WORDS_PER_CHUNK).map((content) => chunk({ content })),
    chunk({}, reply.finishReason),
    { ...chunk({}), choices: [], usage: reply.usage },
  ];
  for (const next of chunks) {
    // A macrotask turn between chunks lets a client disconnect (socket close) abort the signal.
    await setImmediate();
    if (signal.aborted) throw new BkError('BK_CLIENT_CLOSED', 'The client closed the request.');
    yield next;
  }
}

function replyTo(request: ChatCompletionRequest): Reply {
  if ((request.n ?? 1) > 1) {
    throw new BkError('BK_UNSUPPORTED_OPERATION', `${MODEL} returns one choice; n must be 1.`, {
      param: 'n',
    });
  }
  const { content, finishReason } = limitAnswer(extractAnswer(request.messages), {
    maxTokens: request.max_completion_tokens ?? request.max_tokens,
    stop: request.stop,
  });
  const promptTokens = countChatTokens(request.messages);
  const completionTokens = countTextTokens(content);
  return {
    id: `chatcmpl-${randomBytes(18).toString('base64url')}`,
    created: Math.floor(Date.now() / 1000),
    content,
    finishReason,
    usage: {
      prompt_tokens: promptTokens,
      completion_tokens: completionTokens,
      total_tokens: promptTokens + completionTokens,
    },
  };
}

/** Splits after whitespace so the groups concatenate back to exactly the text. */
function wordGroups(text: string, wordsPerGroup: number): string[] {
  const words = text.split(/(?<=\s)(?=\S)/);
  const groups: string[] = [];
  for (let i = 0; i < words.length; i += wordsPerGroup) {
    groups.push(words.slice(i, i + wordsPerGroup).join(''));
  }
  return groups.filter((group) => group !== '');
}
