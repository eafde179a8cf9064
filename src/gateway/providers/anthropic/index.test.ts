import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BkError } from '../../../core/errors.ts';
import type { ChatCompletionRequest } from '../../chat/schema.ts';
import type { ChatCompletionChunk } from '../../openai-types.ts';
import type { Provider } from '../provider.ts';
import { UpstreamClient } from '../upstream/http-client.ts';
import { createAnthropicProvider, messagesUrl } from './index.ts';

const API_KEY = 'sk-ant-test-0123456789-secret';

interface Received {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: Record<string, unknown>;
}

/** A stand-in for api.anthropic.com: each test sets how it answers and reads what it received. */
let answer: (res: ServerResponse, body: Record<string, unknown>) => void;
let received: Received[];
let server: Server;
let client: UpstreamClient;
let baseUrl: string;
let provider: Provider;

beforeAll(async () => {
  server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (part: Buffer) => parts.push(part));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(parts).toString('utf8')) as Record<string, unknown>;
      received.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, body });
      answer(res, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  client = new UpstreamClient({
    connectTimeoutMs: 2000,
    timeoutMs: 500,
    allowPrivateAddresses: true,
  });
  provider = createAnthropicProvider({ name: 'claude', baseUrl, apiKey: API_KEY }, client);
});

afterAll(async () => {
  await client.close();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

beforeEach(() => {
  received = [];
  answer = (res) => json(res, 500, { error: 'no answer configured' });
});

function json(res: ServerResponse, status: number, body: unknown, headers = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

function sse(type: string, data: Record<string, unknown> = {}): string {
  return `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
}

function startStream(res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
}

const messageStart = sse('message_start', {
  message: {
    id: 'msg_stream',
    type: 'message',
    role: 'assistant',
    content: [],
    model: 'claude-sonnet-4-5-20250929',
    stop_reason: null,
    stop_sequence: null,
    usage: { input_tokens: 40, cache_creation_input_tokens: 2, output_tokens: 1 },
  },
});

function chatRequest(overrides: Partial<ChatCompletionRequest> = {}): ChatCompletionRequest {
  return { model: 'claude-sonnet-4-5', messages: [{ role: 'user', content: 'Hi' }], ...overrides };
}

const options = (): { signal: AbortSignal } => ({ signal: new AbortController().signal });

async function collect(source: AsyncIterable<ChatCompletionChunk>): Promise<ChatCompletionChunk[]> {
  const chunks: ChatCompletionChunk[] = [];
  for await (const chunk of source) chunks.push(chunk);
  return chunks;
}

async function rejection(promise: Promise<unknown>): Promise<BkError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof BkError) return err;
    throw err;
  }
  throw new Error('expected a BkError');
}

describe('anthropic provider: chat', () => {
  it('sends a translated request with the Anthropic headers', async () => {
    answer = (res) =>
      json(res, 200, {
        id: 'msg_1',
        type: 'message',
        role: 'assistant',
        model: 'claude-sonnet-4-5-20250929',
        content: [{ type: 'text', text: 'Bonjour' }],
        stop_reason: 'end_turn',
        stop_sequence: null,
        usage: { input_tokens: 10, output_tokens: 3 },
      });

    await provider.chat(
      chatRequest({
        messages: [
          { role: 'system', content: 'Answer in French.' },
          { role: 'user', content: 'Hello' },
          { role: 'user', content: 'there' },
          {
            role: 'assistant',
            content: null,
            tool_calls: [
              {
                id: 'call_1',
                type: 'function',
                function: { name: 'lookup', arguments: '{"q":1}' },
              },
            ],
          },
          { role: 'tool', tool_call_id: 'call_1', content: 'found' },
        ],
        stop: 'STOP',
        temperature: 0.3,
        tools: [{ type: 'function', function: { name: 'lookup', parameters: { type: 'object' } } }],
        tool_choice: 'auto',
        user: 'u-1',
      }),
      options(),
    );

    expect(received).toHaveLength(1);
    const [call] = received;
    expect(call!.method).toBe('POST');
    expect(call!.path).toBe('/v1/messages');
    expect(call!.headers['x-api-key']).toBe(API_KEY);
    expect(call!.headers['anthropic-version']).toBe('2023-06-01');
    expect(call!.headers['content-type']).toBe('application/json');
    expect(call!.body).toEqual({
      model: 'claude-sonnet-4-5',
      max_tokens: 4096,
      system: 'Answer in French.',
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Hello' },
            { type: 'text', text: 'there' },
          ],
        },
        {
          role: 'assistant',
          content: [{ type: 'tool_use', id: 'call_1', name: 'lookup', input: { q: 1 } }],
        },
        {
          role: 'user',
          content: [{ type: 'tool_result', tool_use_id: 'call_1', content: 'found' }],
        },
      ],
      temperature: 0.3,
      stop_sequences: ['STOP'],
      tools: [{ name: 'lookup', input_schema: { type: 'object' } }],
      tool_choice: { type: 'auto' },
    });
  });

  it('maps the response, tool calls, finish reason and usage', async () => {
    answer = (res) =>
      json(res, 200, {
        id: 'msg_2',
        type: 'message',
        role: 'assistant',
        model: 'claude-sonnet-4-5-20250929',
        content: [
          { type: 'text', text: 'Let me check.' },
          { type: 'tool_use', id: 'toolu_9', name: 'weather', input: { city: 'Oslo' } },
        ],
        stop_reason: 'tool_use',
        stop_sequence: null,
        usage: {
          input_tokens: 10,
          cache_creation_input_tokens: 0,
          cache_read_input_tokens: 90,
          output_tokens: 20,
        },
      });

    const completion = await provider.chat(chatRequest(), options());

    expect(completion).toMatchObject({
      id: 'msg_2',
      object: 'chat.completion',
      model: 'claude-sonnet-4-5-20250929',
      choices: [
        {
          index: 0,
          finish_reason: 'tool_calls',
          message: {
            role: 'assistant',
            content: 'Let me check.',
            tool_calls: [
              {
                id: 'toolu_9',
                type: 'function',
                function: { name: 'weather', arguments: '{"city":"Oslo"}' },
              },
            ],
          },
        },
      ],
      usage: { prompt_tokens: 100, completion_tokens: 20, total_tokens: 120 },
    });
    expect(completion.created).toBeGreaterThan(1_600_000_000);
  });

  it('reports max_tokens as finish_reason length', async () => {
    answer = (res) =>
      json(res, 200, {
        id: 'msg_3',
        model: 'claude-x',
        content: [{ type: 'text', text: 'Once upon' }],
        stop_reason: 'max_tokens',
        usage: { input_tokens: 1, output_tokens: 2 },
      });
    const completion = await provider.chat(chatRequest({ max_tokens: 2 }), options());
    expect(received[0]!.body.max_tokens).toBe(2);
    expect(completion.choices[0]!.finish_reason).toBe('length');
  });

  it.each([
    [401, 'BK_UPSTREAM_AUTH_FAILED'],
    [403, 'BK_UPSTREAM_AUTH_FAILED'],
    [400, 'BK_UPSTREAM_BAD_REQUEST'],
    [429, 'BK_UPSTREAM_RATE_LIMITED'],
    [500, 'BK_UPSTREAM_ERROR'],
    [529, 'BK_UPSTREAM_ERROR'],
  ])('maps HTTP %i to %s', async (status, code) => {
    answer = (res) =>
      json(
        res,
        status,
        { type: 'error', error: { type: 'some_error', message: 'Upstream says no' } },
        { 'retry-after': '7' },
      );
    const err = await rejection(provider.chat(chatRequest(), options()));
    expect(err.code).toBe(code);
    expect(err.message).toContain("'claude'");
    expect(err.message).toContain('Upstream says no');
    if (status === 429) expect(err.headers).toEqual({ 'retry-after': '7' });
  });

  it('never echoes the API key in an error message', async () => {
    answer = (res) =>
      json(res, 401, {
        type: 'error',
        error: { type: 'authentication_error', message: `invalid x-api-key ${API_KEY}` },
      });
    const err = await rejection(provider.chat(chatRequest(), options()));
    expect(err.code).toBe('BK_UPSTREAM_AUTH_FAILED');
    expect(err.message).not.toContain(API_KEY);
    expect(err.message).toContain('[redacted]');
  });

  it('fails cleanly on a 200 that is not JSON', async () => {
    answer = (res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html>gateway</html>');
    };
    const err = await rejection(provider.chat(chatRequest(), options()));
    expect(err.code).toBe('BK_UPSTREAM_ERROR');
  });

  it('validates the request before calling upstream', async () => {
    const err = await rejection(provider.chat(chatRequest({ n: 3 }), options()));
    expect(err.code).toBe('BK_UNSUPPORTED_OPERATION');
    expect(err.param).toBe('n');
    expect(received).toHaveLength(0);
  });

  it('accepts a base URL that already ends in /v1', async () => {
    answer = (res) =>
      json(res, 200, {
        id: 'msg_4',
        model: 'claude-x',
        content: [],
        stop_reason: 'end_turn',
        usage: { input_tokens: 1, output_tokens: 0 },
      });
    const v1 = createAnthropicProvider(
      { name: 'v1', baseUrl: `${baseUrl}/v1/`, apiKey: null },
      client,
    );
    await v1.chat(chatRequest(), options());
    expect(received[0]!.path).toBe('/v1/messages');
    expect(received[0]!.headers).not.toHaveProperty('x-api-key');
  });
});

describe('anthropic provider: chatStream', () => {
  it('translates a streamed answer with text and a tool call, usage last', async () => {
    answer = (res) => {
      startStream(res);
      const events =
        messageStart +
        sse('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }) +
        sse('ping') +
        sse('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'Checking' } }) +
        sse('content_block_delta', { index: 0, delta: { type: 'text_delta', text: ' now.' } }) +
        sse('content_block_stop', { index: 0 }) +
        sse('content_block_start', {
          index: 1,
          content_block: { type: 'tool_use', id: 'toolu_1', name: 'weather', input: {} },
        }) +
        sse('content_block_delta', {
          index: 1,
          delta: { type: 'input_json_delta', partial_json: '' },
        }) +
        sse('content_block_delta', {
          index: 1,
          delta: { type: 'input_json_delta', partial_json: '{"city": "Os' },
        }) +
        sse('content_block_delta', {
          index: 1,
          delta: { type: 'input_json_delta', partial_json: 'lo"}' },
        }) +
        sse('content_block_stop', { index: 1 }) +
        sse('message_delta', {
          delta: { stop_reason: 'tool_use', stop_sequence: null },
          usage: { output_tokens: 42 },
        }) +
        sse('message_stop');
      // Split mid-event so the translation cannot rely on event-aligned network reads.
      const cut = Math.floor(events.length / 3);
      res.write(events.slice(0, cut));
      setTimeout(() => res.end(events.slice(cut)), 20);
    };

    const chunks = await collect(provider.chatStream(chatRequest({ stream: true }), options()));

    expect(received[0]!.body.stream).toBe(true);
    expect(chunks[0]).toMatchObject({
      id: 'msg_stream',
      object: 'chat.completion.chunk',
      model: 'claude-sonnet-4-5-20250929',
      choices: [{ index: 0, delta: { role: 'assistant' }, finish_reason: null }],
    });
    const content = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
    expect(content).toBe('Checking now.');
    const toolDeltas = chunks.flatMap((c) => c.choices[0]?.delta.tool_calls ?? []);
    expect(toolDeltas[0]).toEqual({
      index: 0,
      id: 'toolu_1',
      type: 'function',
      function: { name: 'weather', arguments: '' },
    });
    expect(toolDeltas.map((d) => d.function?.arguments ?? '').join('')).toBe('{"city": "Oslo"}');
    const finish = chunks.filter((c) => c.choices[0]?.finish_reason);
    expect(finish).toHaveLength(1);
    expect(finish[0]!.choices[0]!.finish_reason).toBe('tool_calls');
    expect(chunks.at(-1)).toMatchObject({
      id: 'msg_stream',
      choices: [],
      usage: { prompt_tokens: 42, completion_tokens: 42, total_tokens: 84 },
    });
  });

  it('turns a mid-stream error event into a BkError after the chunks so far', async () => {
    answer = (res) => {
      startStream(res);
      res.end(
        messageStart +
          sse('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'Hel' } }) +
          sse('error', { error: { type: 'overloaded_error', message: 'Overloaded' } }),
      );
    };
    const seen: ChatCompletionChunk[] = [];
    const err = await rejection(
      (async () => {
        for await (const chunk of provider.chatStream(chatRequest(), options())) seen.push(chunk);
      })(),
    );
    expect(seen).toHaveLength(2);
    expect(err.code).toBe('BK_UPSTREAM_RATE_LIMITED');
    expect(err.message).toContain('Overloaded');
  });

  it('maps a non-2xx answer before streaming', async () => {
    answer = (res) =>
      json(res, 529, { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } });
    const err = await rejection(collect(provider.chatStream(chatRequest(), options())));
    expect(err.code).toBe('BK_UPSTREAM_ERROR');
    expect(err.message).toContain('529');
  });

  it('maps a 401 before streaming without leaking the key', async () => {
    answer = (res) =>
      json(res, 401, { type: 'error', error: { type: 'authentication_error', message: API_KEY } });
    const err = await rejection(collect(provider.chatStream(chatRequest(), options())));
    expect(err.code).toBe('BK_UPSTREAM_AUTH_FAILED');
    expect(err.message).not.toContain(API_KEY);
  });

  it('closes the upstream connection when the client aborts mid-stream', async () => {
    let upstreamClosed!: () => void;
    const closed = new Promise<void>((resolve) => (upstreamClosed = resolve));
    answer = (res) => {
      res.on('close', upstreamClosed);
      startStream(res);
      // Keeps the stream open, as a long generation would.
      res.write(
        messageStart +
          sse('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'Hi' } }),
      );
    };
    const controller = new AbortController();
    const seen: ChatCompletionChunk[] = [];
    const err = await rejection(
      (async () => {
        for await (const chunk of provider.chatStream(chatRequest(), {
          signal: controller.signal,
        })) {
          seen.push(chunk);
          if (seen.length === 2) controller.abort();
        }
      })(),
    );
    expect(err.code).toBe('BK_CLIENT_CLOSED');
    await closed;
  });

  it('closes the upstream connection when the consumer stops early', async () => {
    let upstreamClosed!: () => void;
    const closed = new Promise<void>((resolve) => (upstreamClosed = resolve));
    answer = (res) => {
      res.on('close', upstreamClosed);
      startStream(res);
      res.write(messageStart);
    };
    for await (const chunk of provider.chatStream(chatRequest(), options())) {
      expect(chunk.choices[0]?.delta.role).toBe('assistant');
      break;
    }
    await closed;
  });

  it('fails a stream the upstream cuts off', async () => {
    answer = (res) => {
      startStream(res);
      res.end(messageStart);
    };
    const err = await rejection(collect(provider.chatStream(chatRequest(), options())));
    expect(err.code).toBe('BK_UPSTREAM_ERROR');
  });
});

describe('anthropic provider: embed', () => {
  it('does not offer embeddings', async () => {
    const err = await rejection(
      provider.embed({ model: 'claude-sonnet-4-5', input: 'hello' }, options()),
    );
    expect(err.code).toBe('BK_UNSUPPORTED_OPERATION');
    expect(err.param).toBe('model');
    expect(err.message).toBe("Provider 'claude' (anthropic) does not offer embeddings.");
    expect(received).toHaveLength(0);
  });
});

describe('messagesUrl', () => {
  it.each([
    ['https://api.anthropic.com', 'https://api.anthropic.com/v1/messages'],
    ['https://api.anthropic.com/', 'https://api.anthropic.com/v1/messages'],
    ['https://api.anthropic.com/v1', 'https://api.anthropic.com/v1/messages'],
    ['https://proxy.example.com/anthropic/', 'https://proxy.example.com/anthropic/v1/messages'],
  ])('%s → %s', (base, expected) => {
    expect(messagesUrl({ name: 'p', baseUrl: base }).href).toBe(expected);
  });

  it.each(['not a url', 'ftp://example.com'])('refuses %j', (base) => {
    expect(() => messagesUrl({ name: 'p', baseUrl: base })).toThrow(BkError);
  });
});
