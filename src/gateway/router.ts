import { BkError } from '../core/errors.ts';
import type { TenantContext } from '../core/tenant-context.ts';
import { type Database, withTenant } from '../db/scope.ts';
import type { TenantKeyring } from '../secrets/tenant-keyring.ts';
import type { ModelObject } from './openai-types.ts';
import { TenantTtlCache } from '../core/tenant-ttl-cache.ts';
import {
  allProviders,
  getProviderWithDataKey,
  type ProviderRow,
} from './provider-configs/repository.ts';
import { createAnthropicProvider } from './providers/anthropic/index.ts';
import { createLocalProvider, localModels } from './providers/local/index.ts';
import { createOpenAICompatibleProvider } from './providers/openai-compatible/index.ts';
import type { Provider } from './providers/provider.ts';
import type { UpstreamClient } from './providers/upstream/http-client.ts';

export type Operation = 'chat' | 'embeddings';

export interface ResolvedModel {
  provider: Provider;
  /** The tenant's name for the provider: the part of the model id before the first '/'. */
  providerName: string;
  providerKind: string;
  /** The model name the upstream knows: the rest of the model id. */
  upstreamModel: string;
  /** Where the provider serves from, as its configuration declares (null: undeclared). */
  region: string | null;
  /** The upstream endpoint (origin of the base URL): circuits and fair scheduling are per endpoint. */
  endpoint: string;
}

export const API_KEY_PURPOSE = 'provider-api-key';

interface CachedProvider {
  row: ProviderRow;
  apiKey: string | null;
}

function modelNotFound(model: string): BkError {
  return new BkError(
    'BK_MODEL_NOT_FOUND',
    `The model '${model}' does not exist or you do not have access to it. Model ids are 'provider/model'; GET /v1/models lists yours.`,
    { param: 'model' },
  );
}

/**
 * Resolves `provider/model` for one tenant: the built-in `local` provider, or one of the tenant's
 * own providers, built with the tenant's own (unsealed) key. A model is only reachable if the
 * tenant's provider lists it, and the provider is looked up inside the tenant's scope, so another
 * tenant's provider of the same name cannot be chosen.
 */
export class ModelRouter {
  readonly #db: Database;
  readonly #keyring: TenantKeyring;
  readonly #upstream: UpstreamClient;
  readonly #local = createLocalProvider();
  readonly #cache: TenantTtlCache<CachedProvider>;
  readonly #localRegion: string;

  constructor(deps: {
    db: Database;
    keyring: TenantKeyring;
    upstream: UpstreamClient;
    cacheTtlMs: number;
    localRegion: string;
  }) {
    this.#localRegion = deps.localRegion;
    this.#db = deps.db;
    this.#keyring = deps.keyring;
    this.#upstream = deps.upstream;
    this.#cache = new TenantTtlCache({ ttlMs: deps.cacheTtlMs, maxEntries: 10_000 });
  }

  async resolve(ctx: TenantContext, model: string, operation: Operation): Promise<ResolvedModel> {
    const slash = model.indexOf('/');
    if (slash <= 0 || slash === model.length - 1) throw modelNotFound(model);
    const providerName = model.slice(0, slash);
    const upstreamModel = model.slice(slash + 1);

    if (providerName === 'local') {
      const known = localModels.find((m) => m.id === upstreamModel);
      if (known === undefined) throw modelNotFound(model);
      if (!known.operations.includes(operation)) {
        throw new BkError(
          'BK_UNSUPPORTED_OPERATION',
          `The model '${model}' does not support ${operation === 'chat' ? 'chat completions' : 'embeddings'}.`,
          { param: 'model' },
        );
      }
      return {
        provider: this.#local,
        providerName,
        providerKind: 'local',
        upstreamModel,
        region: this.#localRegion,
        endpoint: 'local',
      };
    }

    const found = await this.#providerOf(ctx, providerName);
    if (found === null || !found.row.models.includes(upstreamModel)) throw modelNotFound(model);
    return {
      provider: this.#build(found.row, found.apiKey),
      providerName,
      providerKind: found.row.kind,
      upstreamModel,
      region: found.row.region,
      endpoint: new URL(found.row.base_url).origin,
    };
  }

  async #providerOf(ctx: TenantContext, name: string): Promise<CachedProvider | null> {
    const cached = this.#cache.get(ctx.tenantId, name);
    if (cached !== undefined) return cached;
    const found = await withTenant(this.#db, ctx, (tx) => getProviderWithDataKey(tx, name));
    if (found === undefined) return null;
    const { wrapped_key: wrappedKey, key_version: version, ...row } = found;
    const apiKey =
      row.sealed_api_key === null
        ? null
        : await this.#keyring.openWithWrappedKey(
            null,
            ctx.tenantId,
            { version, wrappedKey },
            API_KEY_PURPOSE,
            row.sealed_api_key,
          );
    const resolved = { row, apiKey };
    this.#cache.set(ctx.tenantId, name, resolved);
    return resolved;
  }

  /** Called when a tenant changes or deletes a provider, so this node stops using the old one at once. */
  forget(ctx: TenantContext, name: string): void {
    this.#cache.forget(ctx.tenantId, name);
  }

  /** A deleted tenant's providers leave the cache with it. */
  forgetTenant(tenantId: string): void {
    this.#cache.forgetTenant(tenantId);
  }

  #build(row: ProviderRow, apiKey: string | null): Provider {
    if (row.kind === 'anthropic') {
      return createAnthropicProvider(
        { name: row.name, baseUrl: row.base_url, apiKey },
        this.#upstream,
      );
    }
    return createOpenAICompatibleProvider(
      {
        name: row.name,
        baseUrl: row.base_url,
        apiKey,
        apiKeyHeader: row.api_key_header as 'authorization' | 'api-key' | 'x-api-key',
        defaultQuery: row.default_query,
      },
      this.#upstream,
    );
  }

  /** The models this tenant may call: the local ones and those its providers list. */
  async listModels(ctx: TenantContext): Promise<ModelObject[]> {
    const rows = await withTenant(this.#db, ctx, (tx) => allProviders(tx));
    const local = localModels.map((m) => ({
      id: `local/${m.id}`,
      object: 'model' as const,
      created: 0,
      owned_by: 'bulkhead',
    }));
    const tenant = rows.flatMap((row) =>
      row.models.map((m) => ({
        id: `${row.name}/${m}`,
        object: 'model' as const,
        created: Math.floor(row.created_at.getTime() / 1000),
        owned_by: row.name,
      })),
    );
    return [...local, ...tenant];
  }
}
