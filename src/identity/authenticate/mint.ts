import type { Principal, Role, Scope, TenantContext } from '../../core/tenant-context.ts';

/** The only constructor of TenantContext; called after a credential has been verified. */
export function mintTenantContext(fields: {
  tenantId: string;
  principal: Principal;
  role: Role;
  scopes: ReadonlySet<Scope>;
  requestId: string;
}): TenantContext {
  return Object.freeze({ ...fields }) as TenantContext;
}
