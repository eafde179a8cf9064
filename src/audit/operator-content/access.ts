import type { FastifyRequest } from 'fastify';
import { notFound } from '../../core/errors.ts';
import { isId } from '../../core/ids.ts';
import { type OperatorTx, withOperator } from '../../db/scope.ts';
import type { AppDeps } from '../../http/app-types.ts';
import { operatorReason } from '../../http/operator-reason.ts';
import { assertTenantExists } from '../../identity/tenants/repository.ts';
import { appendAuditEvent } from '../append.ts';
import { activeGrant, type GrantRow } from '../grants/repository.ts';
import { redactedFor, type Redacted } from '../grants/redacted.ts';
import type { GrantScope } from '../grants/schema.ts';

/** The three content scopes, and the event a read under each leaves in the tenant's trail. */
const readActions = {
  'documents:content': 'operator.read_documents',
  'threads:content': 'operator.read_threads',
  'approvals:content': 'operator.read_approvals',
} as const satisfies Partial<Record<GrantScope, string>>;
export type ContentScope = keyof typeof readActions;

/**
 * One operator read of one tenant's content: the grant in force for its scope (looked up in the
 * read's own transaction, so a revocation or an expiry applies to the very next read), and how a
 * piece of content is shown under it.
 */
export interface ContentRead {
  tx: OperatorTx;
  tenantId: string;
  granted: boolean;
  /** How the list or object was served: the response's `access` field. */
  access: 'granted' | 'redacted';
  /** The content itself under a grant, the redaction marker without one. */
  show<T>(content: () => T): T | Redacted;
}

/**
 * What a read served, and the ids whose content it showed (e.g. `{ threads: [id], messages: [...] }`).
 * Under a grant, those ids go to the tenant's trail; without one nothing was shown, nothing is added.
 */
export interface ContentServed<T> {
  body: T;
  shown: Record<string, readonly string[]>;
}

/**
 * The one way operator content routes read a tenant: the operator door (`withOperator`, which logs
 * the operator action with its reason), the tenant must exist (an unknown id is 404 like any
 * other), the grant is checked, and a read under a grant is appended to the tenant's own chain in
 * the same transaction as the read — so there is no granted read the tenant cannot see.
 */
export async function readTenantContent<T>(
  deps: AppDeps,
  request: FastifyRequest,
  options: {
    tenantId: string;
    scope: ContentScope;
    /** The reason recorded when the operator gives none in `x-bulkhead-reason`. */
    what: string;
    /** Checked once the operator is authenticated, before any database work (e.g. pgvector). */
    requires?: () => void;
  },
  fn: (read: ContentRead) => Promise<ContentServed<T>>,
): Promise<T> {
  const operator = deps.auth.operator(request);
  options.requires?.();
  const { tenantId, scope } = options;
  if (!isId('tenant', tenantId)) throw notFound('tenant', tenantId);
  const reason = operatorReason(request, options.what);
  return withOperator(deps.db, { operator, reason, tenantId }, async (tx) => {
    await assertTenantExists(tx, tenantId);
    const grant: GrantRow | undefined = await activeGrant(tx, tenantId, scope, deps.now());
    const marker = redactedFor(scope);
    const { body, shown } = await fn({
      tx,
      tenantId,
      granted: grant !== undefined,
      access: grant === undefined ? 'redacted' : 'granted',
      show: (content) => (grant === undefined ? marker : content()),
    });
    if (grant !== undefined && Object.values(shown).some((ids) => ids.length > 0)) {
      await appendAuditEvent(tx, deps.keyring, {
        tenantId,
        actor: { kind: 'operator', id: operator },
        action: readActions[scope],
        resource: { type: 'access_grant', id: grant.grant_id },
        decision: 'allowed',
        requestId: request.id,
        details: { reason, scope, ...shown },
      });
    }
    return body;
  });
}
