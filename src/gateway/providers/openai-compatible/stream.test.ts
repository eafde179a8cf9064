import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BkError } from '../../../core/errors.ts';
import type { ChatCompletionRequest } from '../../chat/schema.ts';
import type { ChatCompletionChunk } from '../../openai-types.ts';
import type { Provider } from '../provider.ts';
import { UpstreamClient } from '../upstream/http-client.ts';
import {
  chunk,
  sendJson,
  sseData,
  startEventStream,
  startFakeUpstream,
  type FakeUpstream,
} from './fake-upstream.test-helper.ts';
import { createOpenAICompatibleProvider } from './index.ts';

const API_KEY = 'sk-stream-test-key-SECRET';

let upstream: FakeUpstream;
let client: UpstreamClient;
let openai: Provider;

beforeAll(async () => {
  upstream = await startFakeUpstream();
  client = new UpstreamClient({
    connectTimeoutMs: 2000,
    timeoutMs: 500,
    allowPrivateAddresses: true,
  });
  openai = createOpenAICompatibleProvider(
    {
      name: 'openai',
      baseUrl: `${upstream.origin}/v1`,
      apiKey: API_KEY,
      apiKeyHeader: 'authorization',
      defaultQuery: {},
    },
    client,
  );
});

afterAll(async () => {
  await upstream.close();
  await client.close();
});

afterEach(() => {
  upstream.requests.length = 0;
});

const request: ChatCompletionRequest = {
  model: 'gpt-4o-mini',
  messages: [{ role: 'user', content: 'Count to three' }],
  stream: true,
  logit_bias: { '50256': -100 },
};

const usage = { prompt_tokens: 11, completion_tokens: 3, total_tokens: 14 };

async function collect(
  stream: AsyncIterable<ChatCompletionChunk>,
  into: ChatCompletionChunk[] = [],
): Promise<ChatCompletionChunk[]> {
  for await (const c of stream) into.push(c);
  return into;
}

async function failure(promise: Promise<unknown>): Promise<BkError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(BkError);
    return err as BkError;
  }
  throw new Error('expected the stream to fail');
}

const call = () => ({ signal: new AbortController().signal });

describe('chatStream', () => {
  it('yields the chunks in order, usage last, and asks the upstream for usage', async () => {
    upstream.respondWith((_req, res) => {
      startEventStream(res);
      res.write(': keep-alive comment\n\n');
      res.write(sseData(chunk('One')));
      // An event split across writes must still arrive whole.
      const two = sseData(chunk(' two'));
      res.write(two.slice(0, 10));
      res.write(two.slice(10));
      res.write(sseData(chunk(' three')) + sseData(chunk(null, { usage })));
      res.end(sseData('[DONE]'));
    });

    const chunks = await collect(
      openai.chatStream({ ...request, stream_options: { include_usage: false } }, call()),
    );

    expect(chunks.map((c) => c.choices[0]?.delta.content ?? null)).toEqual([
      'One',
      ' two',
      ' three',
      null,
    ]);
    expect(chunks.at(-1)).toMatchObject({ choices: [], usage });
    const [sent] = upstream.requests;
    expect(sent?.url).toBe('/v1/chat/completions');
    expect(sent?.headers.accept).toBe('text/event-stream');
    expect(sent?.headers.authorization).toBe(`Bearer ${API_KEY}`);
    expect(sent?.body).toMatchObject({
      model: 'gpt-4o-mini',
      stream: true,
      stream_options: { include_usage: true },
      logit_bias: { '50256': -100 },
    });
  });

  it('moves usage reported on a content chunk to a trailing usage chunk', async () => {
    upstream.respondWith((_req, res) => {
      startEventStream(res);
      res.write(sseData(chunk('Hi')));
      // llama.cpp style: usage rides on the chunk with the finish reason.
      res.write(
        sseData({
          ...chunk(''),
          choices: [{ index: 0, delta: {}, finish_reason: 'stop' }],
          usage,
        }),
      );
      res.end(sseData('[DONE]'));
    });

    const chunks = await collect(openai.chatStream(request, call()));

    expect(chunks).toHaveLength(3);
    expect(chunks[1]?.choices[0]?.finish_reason).toBe('stop');
    expect(chunks[1]).not.toHaveProperty('usage');
    expect(chunks[2]).toEqual({
      id: 'chatcmpl-1',
      object: 'chat.completion.chunk',
      created: 1_700_000_000,
      model: 'gpt-4o-mini',
      choices: [],
      usage,
    });
  });

  it('accepts a stream that ends without [DONE]', async () => {
    upstream.respondWith((_req, res) => {
      startEventStream(res);
      res.end(sseData(chunk('only')));
    });
    const chunks = await collect(openai.chatStream(request, call()));
    expect(chunks).toHaveLength(1);
  });

  it('refuses a 2xx answer that holds no events (a server ignoring stream: true)', async () => {
    upstream.respondWith((_req, res) =>
      sendJson(res, 200, { object: 'chat.completion', choices: [{ index: 0, message: {} }] }),
    );
    const err = await failure(collect(openai.chatStream(request, call())));
    expect(err.code).toBe('BK_UPSTREAM_ERROR');
    expect(err.message).toContain('the stream has no events');
  });

  it('maps a status error before the stream starts', async () => {
    upstream.respondWith((_req, res) =>
      res
        .writeHead(429, { 'content-type': 'application/json', 'retry-after': '3' })
        .end(JSON.stringify({ error: { message: 'Too many requests' } })),
    );
    const err = await failure(collect(openai.chatStream(request, call())));
    expect(err.code).toBe('BK_UPSTREAM_RATE_LIMITED');
    expect(err.headers['retry-after']).toBe('3');
  });

  it('turns an error event mid-stream into BK_UPSTREAM_ERROR with its message', async () => {
    upstream.respondWith((_req, res) => {
      startEventStream(res);
      res.write(sseData(chunk('partial')));
      res.end(
        sseData({ error: { message: 'The server had an error while processing your request.' } }),
      );
    });
    const received: ChatCompletionChunk[] = [];
    const err = await failure(collect(openai.chatStream(request, call()), received));
    expect(received).toHaveLength(1);
    expect(err.code).toBe('BK_UPSTREAM_ERROR');
    expect(err.message).toContain('The server had an error while processing your request.');
  });

  it('turns an `event: error` with a plain-text payload into BK_UPSTREAM_ERROR', async () => {
    upstream.respondWith((_req, res) => {
      startEventStream(res);
      res.end(`event: error\ndata: overloaded, key ${API_KEY}\n\n`);
    });
    const err = await failure(collect(openai.chatStream(request, call())));
    expect(err.code).toBe('BK_UPSTREAM_ERROR');
    expect(err.message).toContain('overloaded');
    expect(err.message).not.toContain(API_KEY);
  });

  it('refuses a malformed data line with BK_UPSTREAM_ERROR', async () => {
    upstream.respondWith((_req, res) => {
      startEventStream(res);
      res.write(sseData(chunk('fine')));
      res.end('data: {"id": "chatcmpl-1", "choi\n\n');
    });
    const err = await failure(collect(openai.chatStream(request, call())));
    expect(err.code).toBe('BK_UPSTREAM_ERROR');
    expect(err.message).toContain('invalid response');
  });

  it('maps a stalled stream to BK_UPSTREAM_TIMEOUT', async () => {
    upstream.respondWith((_req, res) => {
      startEventStream(res);
      res.write(sseData(chunk('then silence')));
    });
    const received: ChatCompletionChunk[] = [];
    const err = await failure(collect(openai.chatStream(request, call()), received));
    expect(received).toHaveLength(1);
    expect(err.code).toBe('BK_UPSTREAM_TIMEOUT');
  });

  it('cancels the upstream when the signal aborts mid-stream', async () => {
    const closed = upstream.nextResponseClosed();
    upstream.respondWith((_req, res) => {
      startEventStream(res);
      res.write(sseData(chunk('first')));
      // then keeps generating slowly, as a model would
      const timer = setInterval(() => res.write(sseData(chunk('.'))), 100);
      res.on('close', () => clearInterval(timer));
    });
    const controller = new AbortController();
    const chunks = openai.chatStream(request, { signal: controller.signal });
    const stream = chunks[Symbol.asyncIterator]();

    const first = await stream.next();
    expect(first.value).toMatchObject({ choices: [{ delta: { content: 'first' } }] });
    controller.abort();

    expect(await closed).toEqual({ finished: false });
    const err = await failure(stream.next());
    expect(err.code).toBe('BK_CLIENT_CLOSED');
  });

  it('closes the upstream connection when the consumer stops early', async () => {
    const closed = upstream.nextResponseClosed();
    upstream.respondWith((_req, res) => {
      startEventStream(res);
      res.write(sseData(chunk('first')));
      // Keeps generating, so only the consumer's cancel (not the body timeout) can end it.
      const timer = setInterval(() => res.write(sseData(chunk('.'))), 50);
      res.on('close', () => clearInterval(timer));
    });

    for await (const c of openai.chatStream(request, call())) {
      expect(c.choices[0]?.delta.content).toBe('first');
      break;
    }

    const outcome = await Promise.race([closed, sleep(1000).then(() => 'still open')]);
    expect(outcome).toEqual({ finished: false });
  });

  it('keeps the connection for the next request after a complete stream', async () => {
    // A fresh pool, so the only connection it can reuse is the stream's.
    const pool = new UpstreamClient({
      connectTimeoutMs: 2000,
      timeoutMs: 500,
      allowPrivateAddresses: true,
    });
    const provider = createOpenAICompatibleProvider(
      {
        name: 'openai',
        baseUrl: upstream.origin,
        apiKey: null,
        apiKeyHeader: 'authorization',
        defaultQuery: {},
      },
      pool,
    );
    try {
      upstream.respondWith((_req, res) => {
        startEventStream(res);
        res.write(sseData(chunk('done soon')));
        res.write(sseData('[DONE]'));
        // The body's end arrives after [DONE], as it may on a real network.
        setTimeout(() => res.end(), 200);
      });
      const started = Date.now();
      const chunks = await collect(provider.chatStream(request, call()));
      expect(chunks).toHaveLength(1);
      expect(Date.now() - started).toBeLessThan(150); // [DONE] ends the stream, not the body's end
      await sleep(250);
      upstream.respondWith((_req, res) => sendJson(res, 200, { choices: [] }));
      await provider.chat(request, call());

      expect(upstream.requests).toHaveLength(2);
      expect(upstream.requests[1]?.remotePort).toBe(upstream.requests[0]?.remotePort);
    } finally {
      await pool.close();
    }
  });
});
