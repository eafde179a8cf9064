import type { ChatCompletionChunk, Usage } from '../../openai-types.ts';
import { upstreamTransportError } from '../upstream/errors.ts';
import { discardBody } from '../upstream/http-client.ts';
import { readServerSentEvents } from '../upstream/sse.ts';
import {
  invalidResponse,
  isRecord,
  reportedError,
  type UpstreamBody,
  type UpstreamContext,
} from './response.ts';

/** Bytes an upstream may still send after `[DONE]` before its connection is dropped instead. */
const DRAIN_LIMIT = 64 * 1024;

/**
 * Chunks of a streamed chat completion, in upstream order, ending at `data: [DONE]` (or at a clean
 * end of the body, for servers that omit it).
 *
 * Usage ends up on one trailing chunk with `choices: []`, as the Provider contract promises: OpenAI
 * sends it that way, but some compatible servers (llama.cpp, vLLM's continuous usage stats) put it
 * on content chunks instead; that usage is taken off them and the last one re-sent at the end.
 *
 * Whenever the iteration stops before the stream is complete — the consumer returns, the signal
 * aborts, a chunk is bad — the body is destroyed, which closes the upstream connection so the
 * upstream stops generating.
 */
export async function* readChatCompletionStream(
  body: UpstreamBody,
  context: UpstreamContext,
  signal: AbortSignal,
): AsyncGenerator<ChatCompletionChunk> {
  let complete = false;
  let sawDone = false;
  let heldUsage: Usage | null = null;
  let last: ChatCompletionChunk | null = null;
  try {
    // Not destroyed when the SSE reader stops at [DONE], so the connection can go back to the pool.
    const chunks = {
      [Symbol.asyncIterator]: () =>
        body.iterator({ destroyOnReturn: false }) as AsyncIterator<Uint8Array>,
    };
    for await (const event of readServerSentEvents(chunks)) {
      const data = event.data.trim();
      if (data === '') continue;
      if (data === '[DONE]') {
        sawDone = true;
        break;
      }
      let chunk = parseChunk(data, event.event, context);
      if (isRecord(chunk.usage)) {
        if (chunk.choices.length > 0) {
          heldUsage = chunk.usage;
          chunk = { ...chunk };
          delete chunk.usage;
        } else {
          heldUsage = null;
        }
      }
      last = chunk;
      yield chunk;
    }
    complete = true;
    // A server that ignores `stream: true` answers with one JSON body, which holds no events.
    if (!sawDone && last === null) throw invalidResponse(context, 'the stream has no events');
  } catch (err) {
    throw upstreamTransportError(context.provider, err, signal);
  } finally {
    if (complete) releaseConnection(body);
    else discardBody(body);
  }
  if (heldUsage !== null && last !== null) {
    yield {
      id: last.id,
      object: 'chat.completion.chunk',
      created: last.created,
      model: last.model,
      choices: [],
      usage: heldUsage,
    };
  }
}

function parseChunk(
  data: string,
  eventName: string | undefined,
  context: UpstreamContext,
): ChatCompletionChunk {
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch {
    if (eventName === 'error') throw reportedError(context, data, 'mid-stream');
    throw invalidResponse(context, 'a stream event is not JSON');
  }
  if (eventName === 'error') {
    throw reportedError(
      context,
      isRecord(parsed) ? (parsed.error ?? parsed) : parsed,
      'mid-stream',
    );
  }
  if (!isRecord(parsed)) throw invalidResponse(context, 'a stream event is not an object');
  if (parsed.error !== undefined && parsed.error !== null) {
    throw reportedError(context, parsed.error, 'mid-stream');
  }
  // Azure's first chunk (prompt filter results) may come without choices.
  const choices: unknown = parsed.choices ?? [];
  if (!Array.isArray(choices))
    throw invalidResponse(context, 'a stream chunk has no choices array');
  return { ...parsed, choices: choices as unknown[] } as unknown as ChatCompletionChunk;
}

function ignore(): void {
  // the stream is being discarded; its errors have no one to go to
}

/**
 * After `[DONE]` the body normally ends at once; reading that end in the background lets undici
 * reuse the connection (saving a TLS handshake per streamed request) without making the consumer
 * wait for it. The body timeout still bounds an upstream that never ends.
 */
function releaseConnection(body: UpstreamBody): void {
  if (body.readableEnded || body.destroyed) return;
  let extra = 0;
  body
    // Already complete: a late timeout or reset only costs the connection.
    .on('error', ignore)
    .on('data', (chunk: Buffer) => {
      extra += chunk.length;
      if (extra > DRAIN_LIMIT) body.destroy();
    });
}
