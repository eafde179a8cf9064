import type { TenantContext } from '../core/tenant-context.ts';
import { roleRank } from '../identity/permissions.ts';

export interface ThreadOwner {
  kind: 'user' | 'api_key';
  id: string;
}

/** Which threads a request may see and change: its own, or every thread of its tenant. */
export type ThreadScope = { kind: 'all' } | { kind: 'owned'; owner: ThreadOwner };

/**
 * A thread belongs to a person when there is one behind the credential (a JWT user, or an API key
 * bound to a user), so all of that user's keys and sessions share it; otherwise to the API key.
 */
export function threadOwner(ctx: TenantContext): ThreadOwner {
  const p = ctx.principal;
  if (p.kind === 'user') return { kind: 'user', id: p.userId };
  return p.userId !== null ? { kind: 'user', id: p.userId } : { kind: 'api_key', id: p.keyId };
}

/** Tenant admins and owners manage every thread of the tenant (by role, as for members and keys). */
export function managesAllThreads(ctx: TenantContext): boolean {
  return roleRank(ctx.role) >= roleRank('admin');
}

/** `onlyOwn` narrows an admin to their own threads (`?owner=me`); everyone else is narrowed anyway. */
export function threadScope(ctx: TenantContext, options: { onlyOwn?: boolean } = {}): ThreadScope {
  return managesAllThreads(ctx) && options.onlyOwn !== true
    ? { kind: 'all' }
    : { kind: 'owned', owner: threadOwner(ctx) };
}
