import { BkError } from '../../core/errors.ts';
import type { Role, TenantContext } from '../../core/tenant-context.ts';
import { type Database, withClaimedTenant } from '../../db/scope.ts';
import { findKeyWithTenantStatus, touchKey } from '../api-keys/repository.ts';
import { hashApiKey, parseApiKey } from '../api-keys/key-format.ts';
import { effectiveScopes } from '../permissions.ts';
import { mintTenantContext } from './mint.ts';

const TOUCH_INTERVAL_MS = 60_000;

/**
 * Looks the key up on every request (no cache), so a revocation, an expiry or a suspension takes
 * effect on the very next request, on every node.
 */
export async function authenticateApiKey(
  db: Database,
  secret: string,
  requestId: string,
  now: Date,
): Promise<TenantContext> {
  const claimed = parseApiKey(secret);
  if (claimed === null) throw new BkError('BK_UNAUTHENTICATED', 'Invalid API key.');

  const found = await withClaimedTenant(db, claimed.tenantId, async (tx) => {
    const key = await findKeyWithTenantStatus(tx, hashApiKey(secret));
    if (key === undefined) return null;
    const usable = key.revoked_at === null && (key.expires_at === null || key.expires_at > now);
    const stale =
      key.last_used_at === null || now.getTime() - key.last_used_at.getTime() > TOUCH_INTERVAL_MS;
    if (usable && key.tenant_status === 'active' && stale) await touchKey(tx, key.key_id, now);
    return { key, tenantStatus: key.tenant_status };
  });

  if (found === null) throw new BkError('BK_UNAUTHENTICATED', 'Invalid API key.');
  const { key, tenantStatus } = found;
  if (key.revoked_at !== null)
    throw new BkError('BK_KEY_REVOKED', 'This API key has been revoked.');
  if (key.expires_at !== null && key.expires_at <= now) {
    throw new BkError('BK_KEY_EXPIRED', 'This API key has expired.');
  }
  if (tenantStatus !== 'active') {
    throw new BkError('BK_TENANT_SUSPENDED', 'This tenant is suspended.');
  }
  const role = key.role as Role;
  return mintTenantContext({
    tenantId: key.tenant_id,
    principal: { kind: 'api_key', keyId: key.key_id, userId: key.user_id },
    role,
    scopes: effectiveScopes(role, key.scopes),
    requestId,
  });
}
