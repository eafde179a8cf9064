import { BkError } from '../../core/errors.ts';
import type { Role, TenantContext } from '../../core/tenant-context.ts';
import { type Database, withTenant } from '../../db/scope.ts';
import { effectiveScopes } from '../permissions.ts';
import { mintTenantContext } from './mint.ts';

/**
 * The context an approved request runs under: its requester's, re-verified now (the key may have
 * been revoked or the user removed while the request waited), in the approver's tenant — never
 * any other. Usage and limits are then charged to whoever asked, not to whoever approved.
 */
export async function approvedRequesterContext(
  db: Database,
  approver: TenantContext,
  requester: { kind: 'api_key' | 'user'; id: string },
  now: Date,
): Promise<TenantContext> {
  const found = await withTenant(db, approver, async (tx) => {
    if (requester.kind === 'api_key') {
      const key = await tx
        .selectFrom('api_keys')
        .select(['key_id', 'role', 'scopes', 'user_id', 'revoked_at', 'expires_at'])
        .where('key_id', '=', requester.id)
        .executeTakeFirst();
      if (key === undefined || key.revoked_at !== null) return null;
      if (key.expires_at !== null && key.expires_at <= now) return null;
      const role = key.role as Role;
      return {
        principal: { kind: 'api_key' as const, keyId: key.key_id, userId: key.user_id },
        role,
        scopes: effectiveScopes(role, key.scopes),
      };
    }
    const user = await tx
      .selectFrom('users')
      .select(['user_id', 'subject', 'role'])
      .where('user_id', '=', requester.id)
      .executeTakeFirst();
    if (user === undefined) return null;
    const role = user.role as Role;
    return {
      principal: { kind: 'user' as const, userId: user.user_id, subject: user.subject ?? '' },
      role,
      scopes: effectiveScopes(role, null),
    };
  });
  if (found === null || !found.scopes.has('inference')) {
    throw new BkError(
      'BK_CONFLICT',
      'The credential that made this request is no longer valid (revoked, expired or removed), so it cannot run.',
    );
  }
  return mintTenantContext({
    tenantId: approver.tenantId,
    ...found,
    requestId: approver.requestId,
  });
}
