import type { FastifyRequest } from 'fastify';

/** Operators say why they act in `x-bulkhead-reason`; it goes to the operator log and the tenant's trail. */
export function operatorReason(request: FastifyRequest, fallback: string): string {
  const given = request.headers['x-bulkhead-reason'];
  return typeof given === 'string' && given.trim() !== '' ? given.trim().slice(0, 500) : fallback;
}
