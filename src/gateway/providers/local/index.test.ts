import { describe, expect, it } from 'vitest';
import { BkError } from '../../../core/errors.ts';
import { countChatTokens, countTextTokens } from '../../../metering/token-count.ts';
import type { ChatCompletionRequest } from '../../chat/schema.ts';
import type { EmbeddingRequest } from '../../embeddings/schema.ts';
import type { ChatCompletionChunk } from '../../openai-types.ts';
import { createLocalProvider, localModels } from './index.ts';

const provider = createLocalProvider();
const options = { signal: new AbortController().signal };

const chatRequest = (overrides: Partial<ChatCompletionRequest> = {}): ChatCompletionRequest => ({
  model: 'extractive',
  messages: [
    {
      role: 'system',
      content:
        'The office opens at 9am on weekdays. Refunds are processed within 14 days of the request, ' +
        'and the money returns to the original card. Parking is free for visitors.',
    },
    { role: 'user', content: 'How long do refunds take?' },
  ],
  ...overrides,
});

const embedRequest = (overrides: Partial<EmbeddingRequest> = {}): EmbeddingRequest => ({
  model: 'hash-embed',
  input: 'hello world',
  ...overrides,
});

async function collect(stream: AsyncIterable<ChatCompletionChunk>): Promise<ChatCompletionChunk[]> {
  const chunks: ChatCompletionChunk[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

async function rejection(promise: Promise<unknown>): Promise<BkError> {
  const error: unknown = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(BkError);
  return error as BkError;
}

describe('localModels', () => {
  it('lists the two built-in models with their operations', () => {
    expect(localModels).toEqual([
      { id: 'hash-embed', operations: ['embeddings'] },
      { id: 'extractive', operations: ['chat'] },
    ]);
    expect(provider.kind).toBe('local');
  });
});

describe('local/hash-embed', () => {
  it('embeds each input as a 384-dimension unit float array, with token usage', async () => {
    const inputs = ['first text', 'second, longer text here', ''];
    const response = await provider.embed(embedRequest({ input: inputs }), options);
    expect(response.object).toBe('list');
    expect(response.model).toBe('local/hash-embed');
    expect(response.data.map((item) => item.index)).toEqual([0, 1, 2]);
    for (const item of response.data) {
      expect(item.object).toBe('embedding');
      expect(item.embedding).toHaveLength(384);
      expect(
        item.embedding.every((value) => typeof value === 'number' && !Number.isNaN(value)),
      ).toBe(true);
    }
    const norm = Math.hypot(...response.data[1]!.embedding);
    expect(norm).toBeCloseTo(1, 5);
    const tokens = inputs.reduce((sum, text) => sum + countTextTokens(text), 0);
    expect(tokens).toBeGreaterThan(0);
    expect(response.usage).toEqual({ prompt_tokens: tokens, total_tokens: tokens });
  });

  it('honours dimensions and rejects out-of-range values', async () => {
    const response = await provider.embed(embedRequest({ dimensions: 64 }), options);
    expect(response.data[0]!.embedding).toHaveLength(64);
    for (const dimensions of [0, 4097, 1.5]) {
      const error = await rejection(provider.embed(embedRequest({ dimensions }), options));
      expect(error.code).toBe('BK_VALIDATION_FAILED');
      expect(error.param).toBe('dimensions');
    }
  });

  it('rejects token-array input', async () => {
    for (const input of [
      [1, 2, 3],
      [[1, 2], [3]],
    ]) {
      const error = await rejection(provider.embed(embedRequest({ input }), options));
      expect(error.code).toBe('BK_UNSUPPORTED_OPERATION');
      expect(error.param).toBe('input');
      expect(error.message).toBe('local/hash-embed takes text input, not token arrays');
    }
  });

  it('does not chat', async () => {
    const error = await rejection(provider.chat(chatRequest({ model: 'hash-embed' }), options));
    expect(error.code).toBe('BK_UNSUPPORTED_OPERATION');
    expect(error.param).toBe('model');
    expect(error.message).toContain("model 'local/hash-embed' does not support chat completions");
    const streamError = await rejection(
      collect(provider.chatStream(chatRequest({ model: 'hash-embed' }), options)),
    );
    expect(streamError.code).toBe('BK_UNSUPPORTED_OPERATION');
  });
});

describe('local/extractive', () => {
  it('answers from the context, says what it is, and counts usage', async () => {
    const request = chatRequest();
    const completion = await provider.chat(request, options);
    expect(completion.id).toMatch(/^chatcmpl-[\w-]{10,}$/);
    expect(completion.object).toBe('chat.completion');
    expect(completion.model).toBe('local/extractive');
    expect(completion.system_fingerprint).toBe('bulkhead-local-extractive');
    expect(Math.abs(completion.created - Date.now() / 1000)).toBeLessThan(5);
    const [choice] = completion.choices;
    expect(completion.choices).toHaveLength(1);
    expect(choice!.finish_reason).toBe('stop');
    const content = choice!.message.content ?? '';
    expect(content).toContain('Refunds are processed within 14 days');
    expect(content).not.toContain('Parking');
    expect(content).toMatch(/not a generative model/);
    expect(completion.usage).toEqual({
      prompt_tokens: countChatTokens(request.messages),
      completion_tokens: countTextTokens(content),
      total_tokens: countChatTokens(request.messages) + countTextTokens(content),
    });
  });

  it('gives fresh ids', async () => {
    const [a, b] = await Promise.all([
      provider.chat(chatRequest(), options),
      provider.chat(chatRequest(), options),
    ]);
    expect(a.id).not.toBe(b.id);
  });

  it('answers honestly when nothing in the context matches', async () => {
    const request = chatRequest();
    request.messages[1] = { role: 'user', content: 'What is the capital of Peru?' };
    const completion = await provider.chat(request, options);
    expect(completion.choices[0]!.message.content).toContain(
      'None of the supplied context answers this question.',
    );
    expect(completion.choices[0]!.message.content).not.toContain('Refunds');
  });

  it('truncates to max_tokens or max_completion_tokens with finish_reason length', async () => {
    for (const limit of [{ max_tokens: 5 }, { max_completion_tokens: 5, max_tokens: 500 }]) {
      const completion = await provider.chat(chatRequest(limit), options);
      expect(completion.choices[0]!.finish_reason).toBe('length');
      expect(completion.usage!.completion_tokens).toBeLessThanOrEqual(5);
      expect(completion.usage!.completion_tokens).toBeGreaterThan(0);
    }
  });

  it('streams the same answer in several chunks, then a finish chunk, then usage', async () => {
    const request = chatRequest();
    const completion = await provider.chat(request, options);
    const chunks = await collect(provider.chatStream(request, options));
    expect(chunks[0]!.choices[0]!.delta.role).toBe('assistant');
    const contentChunks = chunks.filter((chunk) => chunk.choices[0]?.delta.content);
    expect(contentChunks.length).toBeGreaterThan(3);
    const text = chunks.map((chunk) => chunk.choices[0]?.delta.content ?? '').join('');
    expect(text).toBe(completion.choices[0]!.message.content);

    const finish = chunks.at(-2)!;
    expect(finish.choices[0]!.finish_reason).toBe('stop');
    const last = chunks.at(-1)!;
    expect(last.choices).toEqual([]);
    expect(last.usage).toEqual(completion.usage);
    expect(chunks.every((chunk) => chunk.object === 'chat.completion.chunk')).toBe(true);
    expect(new Set(chunks.map((chunk) => chunk.id)).size).toBe(1);
    expect(chunks.every((chunk) => chunk.system_fingerprint === 'bulkhead-local-extractive')).toBe(
      true,
    );
    expect(chunks.every((chunk) => chunk.model === 'local/extractive')).toBe(true);
  });

  it('streams a truncated answer with finish_reason length', async () => {
    const chunks = await collect(provider.chatStream(chatRequest({ max_tokens: 6 }), options));
    expect(chunks.at(-2)!.choices[0]!.finish_reason).toBe('length');
    expect(chunks.at(-1)!.usage!.completion_tokens).toBeLessThanOrEqual(6);
  });

  it('stops streaming with BK_CLIENT_CLOSED once the signal aborts', async () => {
    const controller = new AbortController();
    const received: ChatCompletionChunk[] = [];
    const streaming = (async () => {
      for await (const chunk of provider.chatStream(chatRequest(), { signal: controller.signal })) {
        received.push(chunk);
        if (received.length === 2) controller.abort();
      }
    })();
    const error = await rejection(streaming);
    expect(error.code).toBe('BK_CLIENT_CLOSED');
    expect(received).toHaveLength(2);
  });

  it('rejects n > 1, embeddings and unknown models', async () => {
    const nError = await rejection(provider.chat(chatRequest({ n: 2 }), options));
    expect([nError.code, nError.param]).toEqual(['BK_UNSUPPORTED_OPERATION', 'n']);
    const streamNError = await rejection(
      collect(provider.chatStream(chatRequest({ n: 3 }), options)),
    );
    expect(streamNError.param).toBe('n');
    expect((await provider.chat(chatRequest({ n: 1 }), options)).choices).toHaveLength(1);

    const embedError = await rejection(
      provider.embed(embedRequest({ model: 'extractive' }), options),
    );
    expect([embedError.code, embedError.param]).toEqual(['BK_UNSUPPORTED_OPERATION', 'model']);
    expect(embedError.message).toContain("model 'local/extractive' does not support embeddings");

    for (const call of [
      provider.chat(chatRequest({ model: 'gpt-4o' }), options),
      provider.embed(embedRequest({ model: 'gpt-4o' }), options),
      collect(provider.chatStream(chatRequest({ model: 'gpt-4o' }), options)),
    ]) {
      const error = await rejection(call);
      expect(error.code).toBe('BK_MODEL_NOT_FOUND');
      expect(error.param).toBe('model');
      expect(error.message).toBe(
        "The model 'local/gpt-4o' does not exist or you do not have access to it.",
      );
    }
  });
});
