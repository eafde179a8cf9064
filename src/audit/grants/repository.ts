import type { Selectable } from 'kysely';
import type { AccessGrantsTable } from '../../db/schema.ts';
import type { OperatorTx, TenantTx } from '../../db/scope.ts';

export type GrantRow = Selectable<AccessGrantsTable>;

/** The grant in force now, if any: not revoked, not expired (checked at each read). */
export function activeGrant(
  tx: TenantTx | OperatorTx,
  tenantId: string,
  scope: AccessGrantsTable['scope'],
  now: Date,
) {
  return tx
    .selectFrom('access_grants')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('scope', '=', scope)
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', now)
    .orderBy('expires_at', 'desc')
    .executeTakeFirst();
}

export function grantView(row: GrantRow, now: Date) {
  return {
    id: row.grant_id,
    object: 'access_grant' as const,
    scope: row.scope,
    reason: row.reason,
    grantedBy: row.granted_by,
    createdAt: row.created_at.toISOString(),
    expiresAt: row.expires_at.toISOString(),
    revokedAt: row.revoked_at?.toISOString() ?? null,
    active: row.revoked_at === null && row.expires_at > now,
  };
}
