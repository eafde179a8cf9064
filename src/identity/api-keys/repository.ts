import type { Selectable } from 'kysely';
import type { OperatorTx, TenantTx } from '../../db/scope.ts';
import type { ApiKeysTable } from '../../db/schema.ts';

export type ApiKeyRow = Selectable<ApiKeysTable>;

export interface NewApiKey {
  tenantId: string;
  keyId: string;
  name: string;
  hash: Buffer;
  displayPrefix: string;
  role: string;
  scopes: string[] | null;
  userId: string | null;
  createdBy: string;
  expiresAt: Date | null;
}

export async function insertApiKey(tx: TenantTx | OperatorTx, key: NewApiKey): Promise<ApiKeyRow> {
  return tx
    .insertInto('api_keys')
    .values({
      tenant_id: key.tenantId,
      key_id: key.keyId,
      name: key.name,
      key_hash: key.hash,
      display_prefix: key.displayPrefix,
      role: key.role,
      scopes: key.scopes,
      user_id: key.userId,
      created_by: key.createdBy,
      expires_at: key.expiresAt,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/**
 * Runs inside the tenant the key claims; RLS makes a key of any other tenant invisible. The
 * tenant's status comes in the same query: this runs on every request.
 */
export async function findKeyWithTenantStatus(tx: TenantTx, hash: Buffer) {
  return tx
    .selectFrom('api_keys')
    .innerJoin('tenants', 'tenants.tenant_id', 'api_keys.tenant_id')
    .selectAll('api_keys')
    .select('tenants.status as tenant_status')
    .where('api_keys.key_hash', '=', hash)
    .executeTakeFirst();
}

export async function touchKey(tx: TenantTx, keyId: string, now: Date): Promise<void> {
  await tx.updateTable('api_keys').set({ last_used_at: now }).where('key_id', '=', keyId).execute();
}

export async function listKeys(
  tx: TenantTx,
  page: { limit: number; after?: string | undefined },
): Promise<ApiKeyRow[]> {
  let query = tx
    .selectFrom('api_keys')
    .selectAll()
    .orderBy('key_id')
    .limit(page.limit + 1);
  if (page.after !== undefined) query = query.where('key_id', '>', page.after);
  return query.execute();
}

export async function getKey(tx: TenantTx, keyId: string): Promise<ApiKeyRow | undefined> {
  return tx.selectFrom('api_keys').selectAll().where('key_id', '=', keyId).executeTakeFirst();
}

export async function revokeKey(
  tx: TenantTx | OperatorTx,
  tenantId: string,
  keyId: string,
  now: Date,
): Promise<ApiKeyRow | undefined> {
  const revoked = await tx
    .updateTable('api_keys')
    .set({ revoked_at: now })
    .where('tenant_id', '=', tenantId)
    .where('key_id', '=', keyId)
    .where('revoked_at', 'is', null)
    .returningAll()
    .executeTakeFirst();
  if (revoked) return revoked;
  return tx
    .selectFrom('api_keys')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('key_id', '=', keyId)
    .executeTakeFirst();
}
