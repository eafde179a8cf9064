import type { ProviderRow } from './repository.ts';

/** The key is write-only: the API says whether one is set, never what it is. */
export function providerView(row: ProviderRow) {
  return {
    id: row.provider_id,
    object: 'provider' as const,
    name: row.name,
    kind: row.kind,
    baseUrl: row.base_url,
    hasApiKey: row.sealed_api_key !== null,
    apiKeyHeader: row.api_key_header,
    defaultQuery: row.default_query,
    region: row.region,
    models: row.models,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}
