import type { Database } from '../db/scope.ts';
import type { App } from './app-types.ts';

export function registerHealthRoutes(app: App, db: Database): void {
  app.get(
    '/healthz',
    { schema: { tags: ['operations'], summary: 'Liveness: the process answers', security: [] } },
    () => ({
      status: 'ok',
    }),
  );

  app.get(
    '/readyz',
    { schema: { tags: ['operations'], summary: 'Readiness: the database answers', security: [] } },
    async (_request, reply) => {
      try {
        const session = await db.backend.acquire();
        try {
          await session.query('select 1', []);
        } finally {
          session.release();
        }
        return { status: 'ready' };
      } catch {
        return reply.code(503).send({ status: 'unavailable', reason: 'database unreachable' });
      }
    },
  );
}
