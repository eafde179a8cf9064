import { BkError } from '../../core/errors.ts';
import type { App, AppDeps } from '../../http/app-types.ts';
import { toBkError } from '../../http/errors.ts';
import { clientAbortSignal } from '../client-abort.ts';
import { InferenceMeter } from '../inference-meter.ts';
import { publicModel } from '../public-model.ts';
import { embeddingRequest } from './schema.ts';

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
      const meter = new InferenceMeter(deps.usage, ctx, 'embeddings', body.model, false);
      try {
        const route = await deps.router.resolve(ctx, body.model, 'embeddings');
        meter.routed(route);
        const result = await route.provider.embed(
          { ...body, model: route.upstreamModel },
          { signal: clientAbortSignal(reply) },
        );
        const inputTokens = result.usage.prompt_tokens;
        await meter.succeeded({ inputTokens, outputTokens: 0, countedBy: 'provider' });
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
