import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyBaseLogger, FastifyRequest } from 'fastify';
import type { Logger as PinoLogger } from 'pino';
import { BkError } from '../../core/errors.ts';
import type { Scope, TenantContext } from '../../core/tenant-context.ts';
import type { Database } from '../../db/scope.ts';
import { requireScope } from '../permissions.ts';
import { looksLikeApiKey } from '../api-keys/key-format.ts';
import { authenticateApiKey } from './api-key.ts';
import { createJwtVerifier, type JwtOptions } from './jwt.ts';

export interface Authenticator {
  /** Verifies the bearer credential, and that it carries `scope` (or one of the scopes), or throws. */
  tenant(request: FastifyRequest, scope: Scope | readonly Scope[]): Promise<TenantContext>;
  /** Verifies the operator token, or throws. Returns the operator's label for the operator log. */
  operator(request: FastifyRequest): string;
}

function bearer(request: FastifyRequest): string {
  const header = request.headers.authorization;
  const match = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!match) {
    throw new BkError(
      'BK_UNAUTHENTICATED',
      'Missing credentials: send `Authorization: Bearer <API key or token>`.',
    );
  }
  return match[1]!;
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

export function createAuthenticator(deps: {
  db: Database;
  adminToken: string | undefined;
  jwt: JwtOptions | null;
  now?: () => Date;
}): Authenticator {
  const now = deps.now ?? (() => new Date());
  const verifyJwt = deps.jwt === null ? null : createJwtVerifier(deps.db, deps.jwt);
  const adminDigest = deps.adminToken === undefined ? null : digest(deps.adminToken);

  return {
    async tenant(request, scope) {
      const token = bearer(request);
      let ctx: TenantContext;
      if (looksLikeApiKey(token)) {
        ctx = await authenticateApiKey(deps.db, token, request.id, now());
      } else if (verifyJwt !== null) {
        ctx = await verifyJwt(token, request.id);
      } else {
        throw new BkError('BK_UNAUTHENTICATED', 'Invalid API key.');
      }
      requireScope(ctx, scope);
      // The request's own logger, shared with reply.log, so the completion line carries the tenant too.
      (request.log as FastifyBaseLogger & PinoLogger).setBindings({ tenantId: ctx.tenantId });
      return ctx;
    },
    operator(request) {
      const token = bearer(request);
      if (adminDigest === null) {
        throw new BkError(
          'BK_UNAUTHENTICATED',
          'The admin API is disabled: BULKHEAD_ADMIN_TOKEN is not set on this server.',
        );
      }
      if (!timingSafeEqual(digest(token), adminDigest)) {
        throw new BkError('BK_UNAUTHENTICATED', 'Invalid operator token.');
      }
      return 'admin-token';
    },
  };
}
