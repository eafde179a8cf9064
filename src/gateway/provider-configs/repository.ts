import type { Selectable } from 'kysely';
import type { ProvidersTable } from '../../db/schema.ts';
import type { TenantTx } from '../../db/scope.ts';

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

/** The provider with the tenant's wrapped data key, in one query: this runs on routed requests. */
export function getProviderWithDataKey(tx: TenantTx, name: string) {
  return tx
    .selectFrom('providers')
    .innerJoin('tenant_data_keys', 'tenant_data_keys.tenant_id', 'providers.tenant_id')
    .selectAll('providers')
    .select('tenant_data_keys.wrapped_key')
    .where('providers.name', '=', name)
    .orderBy('tenant_data_keys.key_version', 'desc')
    .limit(1)
    .executeTakeFirst();
}
