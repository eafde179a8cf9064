import type { ChatCompletionRequest } from '../chat/schema.ts';
import type { EmbeddingRequest } from '../embeddings/schema.ts';
import type { ChatCompletion, ChatCompletionChunk, EmbeddingResponse } from '../openai-types.ts';

/**
 * One interface for every model provider. The gateway resolves `provider/model` to a Provider and
 * the upstream model name, and calls it with the request as OpenAI shapes it (with `model` already
 * replaced by the upstream model name). Each provider translates to and from its own API.
 *
 * Errors: a provider throws `BkError` with one of the BK_UPSTREAM_* codes (see
 * `providers/upstream/errors.ts`), never a raw network or parse error, and never an error that
 * includes the tenant's credential.
 */
export interface CallOptions {
  /** Aborted when the client disconnects or the server shuts down; the upstream call must stop. */
  signal: AbortSignal;
}

export interface Provider {
  /** The provider kind, for logs and usage records ('openai', 'anthropic', 'local'). */
  readonly kind: string;
  chat(request: ChatCompletionRequest, options: CallOptions): Promise<ChatCompletion>;
  /**
   * Streamed completion. Yields OpenAI chunk objects; when the upstream reports usage, the last
   * chunk carries it in `usage` (with `choices: []`), whether or not the client asked for it — the
   * gateway decides what the client sees. Breaking out of the iteration must release the upstream.
   */
  chatStream(
    request: ChatCompletionRequest,
    options: CallOptions,
  ): AsyncIterable<ChatCompletionChunk>;
  /** Always returns float arrays; the gateway encodes base64 for clients that ask for it. */
  embed(request: EmbeddingRequest, options: CallOptions): Promise<EmbeddingResponse>;
}
