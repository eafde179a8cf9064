import { BkError } from '../../core/errors.ts';
import type { App, AppDeps } from '../../http/app-types.ts';
import { toBkError } from '../../http/errors.ts';
import { clientAbortSignal } from '../client-abort.ts';
import { InferenceMeter } from '../inference-meter.ts';
import { publicModel } from '../public-model.ts';
import { countTextTokens } from '../../metering/token-count.ts';
import { type EmbeddingRequest, embeddingRequest } from './schema.ts';

/** For upstreams that report no usage (some local servers): text is counted, token arrays are their length. */
function countInputTokens(input: EmbeddingRequest['input']): number {
  const items: (string | number | number[])[] = Array.isArray(input) ? input : [input];
  if (items.every((i) => typeof i === 'number')) return items.length;
  return items.reduce<number>(
    (sum, i) =>
      sum + (typeof i === 'string' ? countTextTokens(i) : Array.isArray(i) ? i.length : 1),
    0,
  );
}

/** OpenAI's base64 form: the float32 little-endian bytes of the vector. The SDK asks for it by default. */
function toBase64(vector: number[]): string {
  const bytes = Buffer.alloc(vector.length * 4);
  vector.forEach((v, i) => bytes.writeFloatLE(v, i * 4));
  return bytes.toString('base64');
}

export function registerEmbeddingRoutes(app: App, deps: AppDeps): void {
  app.post(
    '/v1/embeddings',
    {
      schema: {
        tags: ['gateway'],
        summary: 'Create embeddings (OpenAI-compatible)',
        body: embeddingRequest,
      },
    },
    async (request, reply) => {
      const ctx = await deps.auth.tenant(request, 'inference');
      const body = request.body;
      const meter = new InferenceMeter(
        deps.usage,
        ctx,
        'embeddings',
        body.model,
        false,
        body.input,
      );
      try {
        const route = await deps.router.resolve(ctx, body.model, 'embeddings');
        meter.routed(route);
        const result = await route.provider.embed(
          { ...body, model: route.upstreamModel },
          { signal: clientAbortSignal(reply) },
        );
        const reported = result.usage.prompt_tokens;
        const inputTokens = reported > 0 ? reported : countInputTokens(body.input);
        await meter.succeeded({
          inputTokens,
          outputTokens: 0,
          countedBy: reported > 0 ? 'provider' : 'bulkhead',
        });
        reply.header('x-bulkhead-provider', route.providerName);
        const base64 = body.encoding_format === 'base64';
        return {
          object: 'list' as const,
          model: publicModel(route, result.model),
          data: result.data.map((d) => ({
            object: 'embedding' as const,
            index: d.index,
            embedding: base64 ? toBase64(d.embedding) : d.embedding,
          })),
          usage: { prompt_tokens: inputTokens, total_tokens: inputTokens },
        };
      } catch (err) {
        const failure = err instanceof BkError ? err : toBkError(err, request);
        await meter.failed(failure, null);
        throw failure;
      }
    },
  );
}
