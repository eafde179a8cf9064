/**
 * The tenant context of a request. It is a branded type: the only place that makes one is
 * `identity/authenticate/mint.ts` (the linter forbids importing it, or casting to this type,
 * anywhere else), so a function that takes a TenantContext can only be reached with a verified
 * credential behind it.
 */
declare const verified: unique symbol;

export const roles = ['owner', 'admin', 'approver', 'member', 'viewer'] as const;
export type Role = (typeof roles)[number];

export const scopes = [
  'inference',
  'models:read',
  'usage:read',
  'providers:read',
  'providers:write',
  'keys:read',
  'keys:write',
  'users:read',
  'users:write',
  'audit:read',
  'grants:read',
  'grants:write',
  'policy:read',
  'policy:write',
  'approvals:read',
  'approvals:decide',
  'knowledge:read',
  'knowledge:write',
] as const;
export type Scope = (typeof scopes)[number];

export type Principal =
  | { readonly kind: 'api_key'; readonly keyId: string; readonly userId: string | null }
  | { readonly kind: 'user'; readonly userId: string; readonly subject: string };

export interface TenantContext {
  readonly [verified]: true;
  readonly tenantId: string;
  readonly principal: Principal;
  readonly role: Role;
  /** What this credential may do: the role's permissions, narrowed by the key's scopes. */
  readonly scopes: ReadonlySet<Scope>;
  readonly requestId: string;
}

/** The acting principal as stored in usage records and audit events. */
export function principalId(ctx: TenantContext): { kind: Principal['kind']; id: string } {
  return ctx.principal.kind === 'api_key'
    ? { kind: 'api_key', id: ctx.principal.keyId }
    : { kind: 'user', id: ctx.principal.userId };
}
