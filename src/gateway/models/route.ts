import { z } from 'zod';
import { BkError } from '../../core/errors.ts';
import type { App, AppDeps } from '../../http/app-types.ts';

export function registerModelRoutes(app: App, deps: AppDeps): void {
  app.get(
    '/v1/models',
    { schema: { tags: ['gateway'], summary: 'List the models this tenant may use' } },
    async (request) => {
      const ctx = await deps.auth.tenant(request, 'models:read');
      return { object: 'list' as const, data: await deps.router.listModels(ctx) };
    },
  );

  app.get(
    '/v1/models/*',
    {
      schema: {
        tags: ['gateway'],
        summary: 'Retrieve one model (ids contain a slash: /v1/models/local/extractive)',
        params: z.object({ '*': z.string() }),
      },
    },
    async (request) => {
      const ctx = await deps.auth.tenant(request, 'models:read');
      const id = request.params['*'];
      const model = (await deps.router.listModels(ctx)).find((m) => m.id === id);
      if (model === undefined) {
        throw new BkError(
          'BK_MODEL_NOT_FOUND',
          `The model '${id}' does not exist or you do not have access to it.`,
          {
            param: 'model',
          },
        );
      }
      return model;
    },
  );
}
