import { BkError } from '../../core/errors.ts';
import type { TenantContext } from '../../core/tenant-context.ts';
import { TenantTtlCache } from '../../core/tenant-ttl-cache.ts';
import { type Database, withTenant } from '../../db/scope.ts';
import { currentPolicyRow } from './repository.ts';
import { DEFAULT_POLICY, type PolicyDocument, policyDocument } from './schema.ts';

export interface LoadedPolicy {
  /** 0 for a tenant that never set one: it runs the defaults. */
  version: number;
  document: PolicyDocument;
}

/**
 * The policy each request runs under, cached for a few seconds per tenant. A stored document that
 * no longer parses (edited by hand, or written by an incompatible version) refuses the tenant's
 * requests: running them under no policy would be running them unprotected.
 */
export class PolicyStore {
  readonly #db: Database;
  readonly #cache: TenantTtlCache<LoadedPolicy>;

  constructor(db: Database, cacheTtlMs: number) {
    this.#db = db;
    this.#cache = new TenantTtlCache({ ttlMs: cacheTtlMs, maxEntries: 10_000 });
  }

  async current(ctx: TenantContext): Promise<LoadedPolicy> {
    const cached = this.#cache.get(ctx.tenantId, 'policy');
    if (cached !== undefined) return cached;
    const row = await withTenant(this.#db, ctx, (tx) => currentPolicyRow(tx));
    const loaded = row === undefined ? { version: 0, document: DEFAULT_POLICY } : parseStored(row);
    this.#cache.set(ctx.tenantId, 'policy', loaded);
    return loaded;
  }

  forget(tenantId: string): void {
    this.#cache.forgetTenant(tenantId);
  }
}

export function parseStored(row: { version: number; document: unknown }): LoadedPolicy {
  const parsed = policyDocument.safeParse(row.document);
  if (!parsed.success) {
    throw new BkError(
      'BK_POLICY_INVALID',
      `This tenant's policy (version ${row.version}) cannot be read, so requests are refused rather than run unprotected. A tenant admin can PUT /v1/policy or roll back to a valid version.`,
    );
  }
  return { version: row.version, document: parsed.data };
}
