import type { ApiKeyRow } from './repository.ts';

/** What the API shows of a key: never the hash, and the secret only once, at creation. */
export function keyView(row: ApiKeyRow) {
  return {
    id: row.key_id,
    object: 'api_key' as const,
    name: row.name,
    displayKey: row.display_prefix,
    role: row.role,
    scopes: row.scopes,
    userId: row.user_id,
    createdBy: row.created_by,
    createdAt: row.created_at.toISOString(),
    expiresAt: row.expires_at?.toISOString() ?? null,
    revokedAt: row.revoked_at?.toISOString() ?? null,
    lastUsedAt: row.last_used_at?.toISOString() ?? null,
  };
}
