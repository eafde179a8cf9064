import type { FastifyReply } from 'fastify';

/** Aborted when the client goes away before the response is finished: upstream work stops with it. */
export function clientAbortSignal(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) controller.abort();
  });
  return controller.signal;
}
