import { BkError } from '../../../core/errors.ts';
import type { ChatCompletion, EmbeddingResponse } from '../../openai-types.ts';
import { upstreamTransportError } from '../upstream/errors.ts';
import type { UpstreamResponse } from '../upstream/http-client.ts';

export type UpstreamBody = UpstreamResponse['body'];

/** What every reader needs to report a failure: whose provider, and how to hide its key. */
export interface UpstreamContext {
  provider: string;
  redact: (text: string) => string;
}

/** An error body is only ever shown as a short excerpt; reading more would only cost memory. */
const ERROR_BODY_LIMIT = 64 * 1024;

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function invalidResponse(context: UpstreamContext, reason: string): BkError {
  return new BkError(
    'BK_UPSTREAM_ERROR',
    `Provider '${context.provider}' returned an invalid response (${reason}).`,
  );
}

/** An `error` the upstream sent in a 2xx body or a stream event, as a client-safe message. */
export function reportedError(context: UpstreamContext, error: unknown, when: string): BkError {
  let detail: string;
  if (typeof error === 'string') detail = error;
  else if (isRecord(error) && typeof error.message === 'string') detail = error.message;
  else detail = JSON.stringify(error) ?? '';
  detail = context.redact(detail).replace(/\s+/g, ' ').trim();
  if (detail.length > 300) detail = `${detail.slice(0, 300)}…`;
  return new BkError(
    'BK_UPSTREAM_ERROR',
    `Provider '${context.provider}' failed ${when}${detail === '' ? '' : `: ${detail}`}`,
  );
}

/**
 * The start of a non-2xx body. A body that fails part-way still gives its status, which is the
 * answer; only a cancelled call is reported as such.
 */
export async function readErrorText(
  body: UpstreamBody,
  context: UpstreamContext,
  signal: AbortSignal,
): Promise<string> {
  const decoder = new TextDecoder();
  let text = '';
  let bytes = 0;
  try {
    // Leaving the loop early destroys the body; reading it to the end keeps the connection.
    for await (const chunk of body as AsyncIterable<Buffer>) {
      text += decoder.decode(chunk.subarray(0, ERROR_BODY_LIMIT - bytes), { stream: true });
      bytes += chunk.length;
      if (bytes >= ERROR_BODY_LIMIT) break;
    }
  } catch (err) {
    if (signal.aborted) throw upstreamTransportError(context.provider, err, signal);
  }
  return text + decoder.decode();
}

async function readJson(
  body: UpstreamBody,
  context: UpstreamContext,
  signal: AbortSignal,
): Promise<unknown> {
  let text: string;
  try {
    text = await body.text();
  } catch (err) {
    throw upstreamTransportError(context.provider, err, signal);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw invalidResponse(context, 'the body is not JSON');
  }
}

export async function readChatCompletion(
  body: UpstreamBody,
  context: UpstreamContext,
  signal: AbortSignal,
): Promise<ChatCompletion> {
  const json = await readJson(body, context, signal);
  if (!isRecord(json)) throw invalidResponse(context, 'the body is not an object');
  // Some proxies answer 200 with an error object instead of a status.
  if (json.error !== undefined && json.error !== null) {
    throw reportedError(context, json.error, 'with');
  }
  if (!Array.isArray(json.choices)) throw invalidResponse(context, 'no choices array');
  return json as unknown as ChatCompletion;
}

/** Little-endian float32, as OpenAI encodes `encoding_format: 'base64'`. */
export function decodeBase64Embedding(encoded: string): number[] | null {
  const bytes = Buffer.from(encoded, 'base64');
  if (bytes.length % 4 !== 0) return null;
  const floats = new Array<number>(bytes.length / 4);
  for (let i = 0; i < floats.length; i++) floats[i] = bytes.readFloatLE(i * 4);
  return floats;
}

function isFloatArray(value: unknown): value is number[] {
  return Array.isArray(value) && value.every((n) => typeof n === 'number');
}

/**
 * The embeddings response with every vector as a float array. Usage is passed through; an upstream
 * that omits it (some local servers) gets zeros, as the response type requires a number.
 */
export async function readEmbeddingResponse(
  body: UpstreamBody,
  context: UpstreamContext,
  signal: AbortSignal,
  requestedModel: string,
): Promise<EmbeddingResponse> {
  const json = await readJson(body, context, signal);
  if (!isRecord(json)) throw invalidResponse(context, 'the body is not an object');
  if (json.error !== undefined && json.error !== null) {
    throw reportedError(context, json.error, 'with');
  }
  if (!Array.isArray(json.data)) throw invalidResponse(context, 'no data array');

  const data = json.data.map((item: unknown, position) => {
    if (!isRecord(item)) throw invalidResponse(context, 'an embedding is not an object');
    const embedding =
      typeof item.embedding === 'string'
        ? decodeBase64Embedding(item.embedding)
        : isFloatArray(item.embedding)
          ? item.embedding
          : null;
    if (embedding === null) throw invalidResponse(context, 'an embedding is not a float vector');
    return {
      ...item,
      object: 'embedding' as const,
      index: typeof item.index === 'number' ? item.index : position,
      embedding,
    };
  });

  const usage = isRecord(json.usage) ? json.usage : {};
  const promptTokens = typeof usage.prompt_tokens === 'number' ? usage.prompt_tokens : 0;
  return {
    ...json,
    object: 'list',
    data,
    model: typeof json.model === 'string' ? json.model : requestedModel,
    usage: {
      ...usage,
      prompt_tokens: promptTokens,
      total_tokens: typeof usage.total_tokens === 'number' ? usage.total_tokens : promptTokens,
    },
  };
}
