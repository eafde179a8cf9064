import { BkError } from '../../../core/errors.ts';
import type { ChatCompletionRequest } from '../../chat/schema.ts';
import type { ChatCompletion, ChatCompletionChunk } from '../../openai-types.ts';
import type { CallOptions, Provider } from '../provider.ts';
import { upstreamStatusError, upstreamTransportError } from '../upstream/errors.ts';
import {
  discardBody,
  type UpstreamClient,
  type UpstreamResponse,
} from '../upstream/http-client.ts';
import { readServerSentEvents } from '../upstream/sse.ts';
import { fromAnthropicMessage } from './from-anthropic.ts';
import { toChatCompletionChunks } from './stream.ts';
import { toAnthropicRequest, type AnthropicMessagesRequest } from './to-anthropic.ts';

export interface AnthropicConfig {
  /** The tenant's name for this provider, used in error messages. */
  name: string;
  /** e.g. 'https://api.anthropic.com'; a trailing '/v1' is accepted. */
  baseUrl: string;
  apiKey: string | null;
}

/** The Messages API version this translation is written against. */
export const ANTHROPIC_VERSION = '2023-06-01';

/** `${baseUrl}/v1/messages`, without a double slash or a doubled '/v1'. */
export function messagesUrl(config: Pick<AnthropicConfig, 'name' | 'baseUrl'>): URL {
  const base = config.baseUrl.replace(/\/+$/, '');
  let url: URL | undefined;
  try {
    url = new URL(base.endsWith('/v1') ? `${base}/messages` : `${base}/v1/messages`);
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
    throw new BkError(
      'BK_VALIDATION_FAILED',
      `Provider '${config.name}' (anthropic) needs an http(s) base URL.`,
      { param: 'baseUrl' },
    );
  }
  return url;
}

export function createAnthropicProvider(config: AnthropicConfig, client: UpstreamClient): Provider {
  const url = messagesUrl(config);
  const headers: Record<string, string> = { 'anthropic-version': ANTHROPIC_VERSION };
  if (config.apiKey !== null) headers['x-api-key'] = config.apiKey;

  /** Every failure leaves as a BkError, and none may carry the tenant's key. */
  const failure = (err: unknown, signal: AbortSignal): BkError =>
    withoutSecret(upstreamTransportError(config.name, err, signal), config.apiKey);

  async function send(
    body: AnthropicMessagesRequest,
    signal: AbortSignal,
  ): Promise<UpstreamResponse> {
    const response = await client.post(url, headers, body, signal);
    if (response.status < 200 || response.status >= 300) {
      const text = await response.body.text().catch(() => '');
      throw upstreamStatusError(config.name, response.status, text, response.headers);
    }
    return response;
  }

  async function chat(
    request: ChatCompletionRequest,
    { signal }: CallOptions,
  ): Promise<ChatCompletion> {
    try {
      const response = await send(toAnthropicRequest(request, false), signal);
      const text = await response.body.text();
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        throw new BkError('BK_UPSTREAM_ERROR', `Provider '${config.name}' returned invalid JSON.`);
      }
      return fromAnthropicMessage(body, config.name, unixSeconds());
    } catch (err) {
      throw failure(err, signal);
    }
  }

  async function* chatStream(
    request: ChatCompletionRequest,
    { signal }: CallOptions,
  ): AsyncGenerator<ChatCompletionChunk> {
    let response: UpstreamResponse | undefined;
    try {
      response = await send(toAnthropicRequest(request, true), signal);
      yield* toChatCompletionChunks(readServerSentEvents(response.body), {
        provider: config.name,
        model: request.model,
        created: unixSeconds(),
      });
    } catch (err) {
      throw failure(err, signal);
    } finally {
      // A consumer that stops early must not leave the upstream generating; after a complete read
      // this is a no-op.
      if (response) discardBody(response.body);
    }
  }

  return {
    kind: 'anthropic',
    chat,
    chatStream,
    embed: () =>
      Promise.reject(
        new BkError(
          'BK_UNSUPPORTED_OPERATION',
          `Provider '${config.name}' (anthropic) does not offer embeddings.`,
          { param: 'model' },
        ),
      ),
  };
}

function unixSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/** Upstream error text is echoed to clients; an upstream that quotes the key must not leak it. */
function withoutSecret(error: BkError, secret: string | null): BkError {
  if (secret === null || secret === '' || !error.message.includes(secret)) return error;
  return new BkError(error.code, error.message.split(secret).join('[redacted]'), {
    cause: error.cause,
    headers: error.headers,
    ...(error.param === null ? {} : { param: error.param }),
  });
}
