import { type Selectable, sql } from 'kysely';
import type { ProvidersTable } from '../../db/schema.ts';
import type { TenantTx } from '../../db/scope.ts';
import { sealedKeyVersionSql } from '../../secrets/sealed-sql.ts';

export type ProviderRow = Selectable<ProvidersTable>;

export function listProviders(tx: TenantTx, page: { limit: number; after?: string | undefined }) {
  let query = tx
    .selectFrom('providers')
    .selectAll()
    .orderBy('provider_id')
    .limit(page.limit + 1);
  if (page.after !== undefined) query = query.where('provider_id', '>', page.after);
  return query.execute();
}

export function allProviders(tx: TenantTx) {
  return tx.selectFrom('providers').selectAll().orderBy('name').execute();
}

export function getProvider(tx: TenantTx, providerId: string) {
  return tx
    .selectFrom('providers')
    .selectAll()
    .where('provider_id', '=', providerId)
    .executeTakeFirst();
}

/**
 * The provider with the wrapped data key its API key was sealed with (the newest one when it has
 * none), in one query: this runs on routed requests, during a key rotation too.
 */
export function getProviderWithDataKey(tx: TenantTx, name: string) {
  const named = sealedKeyVersionSql('providers.sealed_api_key');
  return tx
    .selectFrom('providers')
    .innerJoin('tenant_data_keys', 'tenant_data_keys.tenant_id', 'providers.tenant_id')
    .selectAll('providers')
    .select(['tenant_data_keys.key_version', 'tenant_data_keys.wrapped_key'])
    .where('providers.name', '=', name)
    .orderBy(sql`coalesce(${named} = tenant_data_keys.key_version, false)`, 'desc')
    .orderBy('tenant_data_keys.key_version', 'desc')
    .limit(1)
    .executeTakeFirst();
}
