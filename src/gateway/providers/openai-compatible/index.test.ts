import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BkError } from '../../../core/errors.ts';
import type { ChatCompletionRequest } from '../../chat/schema.ts';
import type { Provider } from '../provider.ts';
import { UpstreamClient } from '../upstream/http-client.ts';
import { startFakeUpstream, sendJson, type FakeUpstream } from './fake-upstream.test-helper.ts';
import { createOpenAICompatibleProvider, type OpenAICompatibleConfig } from './index.ts';

const API_KEY = 'sk-test-0123456789abcdef-SECRET';

let upstream: FakeUpstream;
let client: UpstreamClient;

beforeAll(async () => {
  upstream = await startFakeUpstream();
  client = new UpstreamClient({
    connectTimeoutMs: 2000,
    timeoutMs: 500,
    allowPrivateAddresses: true,
  });
});

afterAll(async () => {
  await upstream.close();
  await client.close();
});

afterEach(() => {
  upstream.requests.length = 0;
});

function provider(overrides: Partial<OpenAICompatibleConfig> = {}): Provider {
  return createOpenAICompatibleProvider(
    {
      name: 'openai',
      baseUrl: `${upstream.origin}/v1`,
      apiKey: API_KEY,
      apiKeyHeader: 'authorization',
      defaultQuery: {},
      ...overrides,
    },
    client,
  );
}

const call = () => ({ signal: new AbortController().signal });

const completion = {
  id: 'chatcmpl-1',
  object: 'chat.completion',
  created: 1_700_000_000,
  model: 'gpt-4o-mini-2024-07-18',
  choices: [{ index: 0, message: { role: 'assistant', content: 'Hello!' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 9, completion_tokens: 3, total_tokens: 12 },
};

const request: ChatCompletionRequest = {
  model: 'gpt-4o-mini',
  messages: [{ role: 'user', content: 'Hi' }],
  temperature: 0.2,
};

/** The rejection of `promise`, which must be a BkError. */
async function failure(promise: Promise<unknown>): Promise<BkError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(BkError);
    return err as BkError;
  }
  throw new Error('expected the call to fail');
}

describe('chat', () => {
  it('posts the request as given to <baseUrl>/chat/completions and returns the completion', async () => {
    upstream.respondWith((_req, res) => sendJson(res, 200, completion));

    const result = await provider().chat(
      {
        ...request,
        stream_options: { include_usage: true },
        // A parameter newer than our schema must reach the upstream untouched.
        reasoning_effort: 'low',
        metadata: { team: 'search' },
      },
      call(),
    );

    expect(result).toEqual(completion);
    const [sent] = upstream.requests;
    expect(sent?.method).toBe('POST');
    expect(sent?.url).toBe('/v1/chat/completions');
    expect(sent?.headers.authorization).toBe(`Bearer ${API_KEY}`);
    expect(sent?.headers['content-type']).toBe('application/json');
    expect(sent?.body).toEqual({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'Hi' }],
      temperature: 0.2,
      reasoning_effort: 'low',
      metadata: { team: 'search' },
      stream: false,
    });
  });

  it('does not double the slash when baseUrl ends with one', async () => {
    upstream.respondWith((_req, res) => sendJson(res, 200, completion));
    await provider({ baseUrl: `${upstream.origin}/v1/` }).chat(request, call());
    expect(upstream.requests[0]?.url).toBe('/v1/chat/completions');
  });

  it('sends the raw key under api-key with the default query (Azure)', async () => {
    upstream.respondWith((_req, res) => sendJson(res, 200, completion));
    await provider({
      baseUrl: `${upstream.origin}/openai/deployments/gpt-4o`,
      apiKeyHeader: 'api-key',
      defaultQuery: { 'api-version': '2024-10-21' },
    }).chat(request, call());

    const [sent] = upstream.requests;
    expect(sent?.url).toBe('/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21');
    expect(sent?.headers['api-key']).toBe(API_KEY);
    expect(sent?.headers.authorization).toBeUndefined();
  });

  it('sends the raw key under x-api-key', async () => {
    upstream.respondWith((_req, res) => sendJson(res, 200, completion));
    await provider({ apiKeyHeader: 'x-api-key' }).chat(request, call());
    expect(upstream.requests[0]?.headers['x-api-key']).toBe(API_KEY);
    expect(upstream.requests[0]?.headers.authorization).toBeUndefined();
  });

  it('sends no credential header when apiKey is null', async () => {
    upstream.respondWith((_req, res) => sendJson(res, 200, completion));
    await provider({ apiKey: null }).chat(request, call());
    const headers = upstream.requests[0]?.headers ?? {};
    expect(headers.authorization).toBeUndefined();
    expect(headers['api-key']).toBeUndefined();
    expect(headers['x-api-key']).toBeUndefined();
  });

  it.each([
    ['not JSON', 'Service Unavailable<html>'],
    ['no choices', JSON.stringify({ id: 'x', object: 'chat.completion' })],
    ['an array', '[]'],
  ])('refuses a 2xx body that is %s', async (_case, body) => {
    upstream.respondWith((_req, res) => res.writeHead(200).end(body));
    const err = await failure(provider().chat(request, call()));
    expect(err.code).toBe('BK_UPSTREAM_ERROR');
    expect(err.message).toContain("Provider 'openai' returned an invalid response");
  });

  it('reports an error object sent with a 2xx status', async () => {
    upstream.respondWith((_req, res) =>
      sendJson(res, 200, { error: { message: 'model is overloaded' } }),
    );
    const err = await failure(provider().chat(request, call()));
    expect(err.code).toBe('BK_UPSTREAM_ERROR');
    expect(err.message).toContain('model is overloaded');
  });
});

describe('upstream failures', () => {
  it('maps 401 to BK_UPSTREAM_AUTH_FAILED without echoing the key', async () => {
    upstream.respondWith((_req, res) =>
      sendJson(res, 401, {
        error: { message: `Incorrect API key provided: ${API_KEY}.`, code: 'invalid_api_key' },
      }),
    );
    const err = await failure(provider().chat(request, call()));
    expect(err.code).toBe('BK_UPSTREAM_AUTH_FAILED');
    expect(err.status).toBe(502);
    expect(err.message).toContain('Incorrect API key provided: [redacted]');
    expect(err.message).not.toContain(API_KEY);
  });

  it('maps 429 to BK_UPSTREAM_RATE_LIMITED with retry-after', async () => {
    upstream.respondWith((_req, res) =>
      res
        .writeHead(429, { 'content-type': 'application/json', 'retry-after': '7' })
        .end(JSON.stringify({ error: { message: 'Rate limit reached' } })),
    );
    const err = await failure(provider().chat(request, call()));
    expect(err.code).toBe('BK_UPSTREAM_RATE_LIMITED');
    expect(err.headers).toEqual({ 'retry-after': '7' });
  });

  it('maps 500 to BK_UPSTREAM_ERROR', async () => {
    upstream.respondWith((_req, res) => res.writeHead(500).end('upstream exploded'));
    const err = await failure(provider().chat(request, call()));
    expect(err.code).toBe('BK_UPSTREAM_ERROR');
    expect(err.message).toContain('HTTP 500');
  });

  it('maps 400 to BK_UPSTREAM_BAD_REQUEST carrying the upstream message', async () => {
    upstream.respondWith((_req, res) =>
      sendJson(res, 400, {
        error: { message: "Unsupported parameter: 'max_tokens'", param: 'max_tokens' },
      }),
    );
    const err = await failure(provider().chat(request, call()));
    expect(err.code).toBe('BK_UPSTREAM_BAD_REQUEST');
    expect(err.message).toContain("Unsupported parameter: 'max_tokens'");
  });

  it('reads only the start of a huge error body, without waiting for its end', async () => {
    upstream.respondWith((_req, res) => {
      res.writeHead(503, { 'content-type': 'text/plain' });
      res.write('x'.repeat(256 * 1024)); // and never ends
    });
    const started = Date.now();
    const err = await failure(provider().chat(request, call()));
    expect(err.code).toBe('BK_UPSTREAM_ERROR');
    expect(err.message.length).toBeLessThan(500);
    expect(Date.now() - started).toBeLessThan(400); // well under the 500 ms body timeout
  });

  it('maps an upstream that never answers to BK_UPSTREAM_TIMEOUT', async () => {
    upstream.respondWith(() => {
      // never answers
    });
    const err = await failure(provider().chat(request, call()));
    expect(err.code).toBe('BK_UPSTREAM_TIMEOUT');
    expect(err.status).toBe(504);
  });

  it('maps a refused connection to BK_UPSTREAM_UNREACHABLE', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise((resolve) => closed.close(resolve));

    const err = await failure(
      provider({ baseUrl: `http://127.0.0.1:${port}/v1` }).chat(request, call()),
    );
    expect(err.code).toBe('BK_UPSTREAM_UNREACHABLE');
    expect(err.message).toContain("provider 'openai'");
  });

  it('refuses a loopback upstream unless private addresses are allowed', async () => {
    const guarded = new UpstreamClient({
      connectTimeoutMs: 2000,
      timeoutMs: 500,
      allowPrivateAddresses: false,
    });
    try {
      upstream.respondWith((_req, res) => sendJson(res, 200, completion));
      const config: OpenAICompatibleConfig = {
        name: 'local',
        baseUrl: `${upstream.origin}/v1`,
        apiKey: API_KEY,
        apiKeyHeader: 'authorization',
        defaultQuery: {},
      };
      const err = await failure(
        createOpenAICompatibleProvider(config, guarded).chat(request, call()),
      );
      expect(err.code).toBe('BK_UPSTREAM_UNREACHABLE');
      expect(err.message).toContain('private or loopback address');
      expect(upstream.requests).toHaveLength(0);
    } finally {
      await guarded.close();
    }
  });

  it('stops the upstream call when the signal aborts, as BK_CLIENT_CLOSED', async () => {
    const closed = upstream.nextResponseClosed();
    upstream.respondWith(() => {
      // holds the request open
    });
    const controller = new AbortController();
    const pending = failure(provider().chat(request, { signal: controller.signal }));
    setTimeout(() => controller.abort(), 50);

    const err = await pending;
    expect(err.code).toBe('BK_CLIENT_CLOSED');
    expect(await closed).toEqual({ finished: false });
  });

  it('never puts the api key in an error message', async () => {
    const failures: [string, (res: ServerResponse) => void][] = [
      ['401', (res) => res.writeHead(401).end(`bad key ${API_KEY}`)],
      ['403', (res) => sendJson(res, 403, { error: `key ${API_KEY} has no access` })],
      ['400', (res) => sendJson(res, 400, { message: `${API_KEY} is malformed` })],
      ['500', (res) => res.writeHead(500).end(`<pre>Authorization: Bearer ${API_KEY}</pre>`)],
      ['200 error', (res) => sendJson(res, 200, { error: { message: `denied ${API_KEY}` } })],
      ['timeout', () => undefined],
    ];
    for (const [name, respond] of failures) {
      upstream.respondWith((_req, res) => respond(res));
      for (const apiKeyHeader of ['authorization', 'api-key'] as const) {
        const err = await failure(provider({ apiKeyHeader }).chat(request, call()));
        expect(err.message, name).not.toContain(API_KEY);
        expect(err.message, name).not.toContain('0123456789abcdef');
      }
    }
  });
});

describe('embed', () => {
  const embeddingRequest = { model: 'text-embedding-3-small', input: ['a', 'b'], dimensions: 3 };

  it('forces float encoding and returns the vectors', async () => {
    const response = {
      object: 'list',
      data: [
        { object: 'embedding', index: 0, embedding: [0.1, -0.2, 0.3] },
        { object: 'embedding', index: 1, embedding: [0.4, 0.5, -0.6] },
      ],
      model: 'text-embedding-3-small',
      usage: { prompt_tokens: 2, total_tokens: 2 },
    };
    upstream.respondWith((_req, res) => sendJson(res, 200, response));

    const result = await provider().embed(
      { ...embeddingRequest, encoding_format: 'base64' },
      call(),
    );

    expect(result).toEqual(response);
    const [sent] = upstream.requests;
    expect(sent?.url).toBe('/v1/embeddings');
    expect(sent?.headers.authorization).toBe(`Bearer ${API_KEY}`);
    expect(sent?.body).toEqual({ ...embeddingRequest, encoding_format: 'float' });
  });

  it('decodes base64 vectors an upstream sends anyway (little-endian float32)', async () => {
    const encode = (values: number[]) =>
      Buffer.from(new Float32Array(values).buffer).toString('base64');
    upstream.respondWith((_req, res) =>
      sendJson(res, 200, {
        object: 'list',
        data: [
          { object: 'embedding', index: 0, embedding: encode([0.5, -1.25, 3]) },
          { object: 'embedding', index: 1, embedding: encode([1e-3, 0, -7.5]) },
        ],
        model: 'nomic-embed-text',
        usage: { prompt_tokens: 4, total_tokens: 4 },
      }),
    );

    const result = await provider().embed(embeddingRequest, call());

    expect(result.data.map((d) => d.embedding)).toEqual([
      [0.5, -1.25, 3],
      [Math.fround(1e-3), 0, -7.5],
    ]);
    expect(result.usage).toEqual({ prompt_tokens: 4, total_tokens: 4 });
  });

  it('refuses a vector that is neither floats nor whole float32 base64', async () => {
    upstream.respondWith((_req, res) =>
      sendJson(res, 200, {
        object: 'list',
        data: [
          { object: 'embedding', index: 0, embedding: Buffer.from('abcde').toString('base64') },
        ],
        model: 'm',
        usage: { prompt_tokens: 1, total_tokens: 1 },
      }),
    );
    const err = await failure(provider().embed(embeddingRequest, call()));
    expect(err.code).toBe('BK_UPSTREAM_ERROR');
    expect(err.message).toContain('invalid response');
  });

  it('maps upstream status errors the same way as chat', async () => {
    upstream.respondWith((_req, res) =>
      sendJson(res, 400, { error: { message: 'This model does not support dimensions' } }),
    );
    const err = await failure(provider().embed(embeddingRequest, call()));
    expect(err.code).toBe('BK_UPSTREAM_BAD_REQUEST');
    expect(err.message).toContain('This model does not support dimensions');
  });
});
