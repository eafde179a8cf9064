import { BkError } from '../core/errors.ts';
import {
  type Role,
  roles,
  type Scope,
  scopes,
  type TenantContext,
} from '../core/tenant-context.ts';

const viewer: Scope[] = ['models:read', 'usage:read', 'providers:read'];
const member: Scope[] = [...viewer, 'inference', 'knowledge:read'];
const approver: Scope[] = [...member, 'policy:read', 'approvals:read', 'approvals:decide'];
const admin: Scope[] = [
  ...approver,
  'providers:write',
  'keys:read',
  'keys:write',
  'users:read',
  'users:write',
  'audit:read',
  'grants:read',
  'grants:write',
  'policy:write',
  'knowledge:write',
];

/** The most a role may do; an API key's scopes can only narrow it. */
export const roleScopes: Record<Role, ReadonlySet<Scope>> = {
  viewer: new Set(viewer),
  member: new Set(member),
  approver: new Set(approver),
  admin: new Set(admin),
  owner: new Set(scopes),
};

export function effectiveScopes(
  role: Role,
  keyScopes: readonly string[] | null,
): ReadonlySet<Scope> {
  const granted = roleScopes[role];
  if (keyScopes === null) return granted;
  return new Set([...granted].filter((s) => keyScopes.includes(s)));
}

export function requireScope(ctx: TenantContext, scope: Scope | readonly Scope[]): void {
  const anyOf = typeof scope === 'string' ? [scope] : scope;
  if (!anyOf.some((s) => ctx.scopes.has(s))) {
    throw new BkError(
      'BK_FORBIDDEN',
      `This credential lacks the ${anyOf.map((s) => `'${s}'`).join(' or ')} permission.`,
    );
  }
}

export function roleRank(role: Role): number {
  return roles.length - roles.indexOf(role);
}

/** Nobody hands out more than they hold: a role above their own, or a scope they lack. */
export function assertCanGrant(
  ctx: TenantContext,
  role: Role,
  grantScopes: readonly Scope[] | null,
): void {
  if (roleRank(role) > roleRank(ctx.role)) {
    throw new BkError('BK_FORBIDDEN', `A ${ctx.role} cannot grant the ${role} role.`);
  }
  const wanted = grantScopes ?? [...roleScopes[role]];
  const missing = wanted.filter((s) => !ctx.scopes.has(s));
  if (missing.length > 0) {
    throw new BkError(
      'BK_FORBIDDEN',
      `This credential cannot grant scopes it lacks: ${missing.join(', ')}.`,
    );
  }
}
