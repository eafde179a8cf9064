import type { ChatCompletionRequest } from '../../chat/schema.ts';
import type { EmbeddingRequest } from '../../embeddings/schema.ts';
import type { ChatCompletionChunk } from '../../openai-types.ts';
import type { Provider } from '../provider.ts';
import { upstreamStatusError, upstreamTransportError } from '../upstream/errors.ts';
import type { UpstreamClient, UpstreamResponse } from '../upstream/http-client.ts';
import { authHeaders, keyRedactor, resolveEndpoints, type UpstreamTarget } from './request.ts';
import {
  readChatCompletion,
  readEmbeddingResponse,
  readErrorText,
  type UpstreamContext,
} from './response.ts';
import { readChatCompletionStream } from './stream.ts';

export interface OpenAICompatibleConfig extends UpstreamTarget {
  /** The tenant's name for this provider, shown in error messages (e.g. 'openai'). */
  name: string;
  /** e.g. 'https://api.openai.com/v1'; requests go to `<baseUrl>/chat/completions` and `/embeddings`. */
  baseUrl: string;
  /** null: no credential header (a local Ollama or vLLM). */
  apiKey: string | null;
  /** 'authorization' sends `Bearer <key>`; the others send the raw key (Azure uses 'api-key'). */
  apiKeyHeader: 'authorization' | 'api-key' | 'x-api-key';
  /** Added to every request's query string (Azure's `api-version`). */
  defaultQuery: Record<string, string>;
}

/**
 * A provider for any upstream that speaks the OpenAI API: OpenAI, Azure OpenAI, Ollama, vLLM,
 * llama.cpp, LM Studio and the hosted clones. The request goes out as the client shaped it, unknown
 * fields included; only the fields Bulkhead depends on (`stream`, usage reporting, float
 * embeddings) are set.
 */
export function createOpenAICompatibleProvider(
  config: OpenAICompatibleConfig,
  client: UpstreamClient,
): Provider {
  const endpoints = resolveEndpoints(config.name, config);
  const credentials = authHeaders(config);
  const context: UpstreamContext = { provider: config.name, redact: keyRedactor(config.apiKey) };

  async function post(
    url: URL,
    payload: unknown,
    accept: string,
    signal: AbortSignal,
  ): Promise<UpstreamResponse> {
    let response: UpstreamResponse;
    try {
      response = await client.post(url, { ...credentials, accept }, payload, signal);
    } catch (err) {
      throw upstreamTransportError(config.name, err, signal);
    }
    if (response.status >= 200 && response.status < 300) return response;
    const text = await readErrorText(response.body, context, signal);
    throw upstreamStatusError(config.name, response.status, context.redact(text), response.headers);
  }

  return {
    kind: 'openai',

    async chat(request, { signal }) {
      const payload = { ...request, stream: false };
      // OpenAI rejects stream_options on a non-streamed request.
      delete payload.stream_options;
      const response = await post(endpoints.chatCompletions, payload, 'application/json', signal);
      return readChatCompletion(response.body, context, signal);
    },

    chatStream(request, { signal }) {
      return streamChat(request, signal);
    },

    async embed(request: EmbeddingRequest, { signal }) {
      // Bulkhead meters and re-encodes the vectors itself, so it always asks for floats.
      const response = await post(
        endpoints.embeddings,
        { ...request, encoding_format: 'float' },
        'application/json',
        signal,
      );
      return readEmbeddingResponse(response.body, context, signal, request.model);
    },
  };

  async function* streamChat(
    request: ChatCompletionRequest,
    signal: AbortSignal,
  ): AsyncGenerator<ChatCompletionChunk> {
    const payload = {
      ...request,
      stream: true,
      // Always asked for so Bulkhead can meter; the gateway decides whether the client sees it.
      stream_options: { ...request.stream_options, include_usage: true },
    };
    const response = await post(endpoints.chatCompletions, payload, 'text/event-stream', signal);
    yield* readChatCompletionStream(response.body, context, signal);
  }
}
