import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { BkError, type ErrorCode } from '../core/errors.ts';
import type { App } from './app-types.ts';

/** The OpenAI error shape, used on every route so one client-side handler fits all. */
export function errorBody(err: BkError) {
  return { error: { message: err.message, type: err.type, code: err.code, param: err.param } };
}

function validationError(
  err: FastifyError & { validation: { instancePath?: string; message?: string }[] },
): BkError {
  const where = err.validationContext ?? 'body';
  const details = err.validation.map((v) => {
    const path = (v.instancePath ?? '').replace(/^\//, '').replace(/\//g, '.');
    return `${path === '' ? where : `${where}.${path}`}: ${v.message ?? 'invalid'}`;
  });
  const first = err.validation[0]?.instancePath?.replace(/^\//, '').replace(/\//g, '.');
  return new BkError('BK_VALIDATION_FAILED', `Invalid request: ${details.join('; ')}`, {
    ...(first ? { param: first } : {}),
  });
}

const fastifyCodes: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'BK_BODY_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'BK_UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'BK_INVALID_JSON',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'BK_BAD_REQUEST',
  FST_ERR_CTP_EMPTY_TYPE: 'BK_UNSUPPORTED_MEDIA_TYPE',
};

/** Turns anything thrown into a BkError: client faults keep their 4xx, the rest become a logged 500. */
export function toBkError(err: unknown, request: FastifyRequest): BkError {
  if (err instanceof BkError) return err;
  if (hasZodFastifySchemaValidationErrors(err)) return validationError(err);
  const fastifyError = err as Partial<FastifyError>;
  if (fastifyError.code === '22021' || fastifyError.code === '22P05') {
    return new BkError(
      'BK_VALIDATION_FAILED',
      'The request contains a character that cannot be stored (U+0000).',
    );
  }
  const mapped = fastifyError.code === undefined ? undefined : fastifyCodes[fastifyError.code];
  if (mapped === 'BK_BODY_TOO_LARGE') {
    return new BkError(
      mapped,
      'The request body is larger than this server accepts (BULKHEAD_BODY_LIMIT_BYTES).',
    );
  }
  if (mapped !== undefined) return new BkError(mapped, fastifyError.message ?? 'Bad request.');
  const status = fastifyError.statusCode;
  if (status !== undefined && status >= 400 && status < 500) {
    return new BkError('BK_BAD_REQUEST', fastifyError.message ?? 'Bad request.');
  }
  request.log.error({ err }, 'unhandled error');
  return new BkError('BK_INTERNAL', `Internal error; reference ${request.id}.`);
}

export function registerErrorHandling(app: App): void {
  app.setErrorHandler((err: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const bk = toBkError(err, request);
    if (bk.status >= 500 && bk.code !== 'BK_INTERNAL')
      request.log.warn({ code: bk.code }, bk.message);
    return reply.code(bk.status).headers(bk.headers).send(errorBody(bk));
  });
  app.setNotFoundHandler((request, reply) => {
    const bk = new BkError(
      'BK_NOT_FOUND',
      `No route ${request.method} ${request.url.split('?')[0]}.`,
    );
    return reply.code(404).send(errorBody(bk));
  });
}
