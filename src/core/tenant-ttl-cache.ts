/**
 * Per-tenant configuration (resolved providers, policies) kept for a few seconds, so a tenant's
 * steady traffic does not read and unseal the same rows on every request. Entries are keyed by
 * tenant and name — a tenant only ever reads its own entries — and dropped on this node as soon as
 * the tenant changes the underlying row; other nodes see a change within the TTL.
 */
export class TenantTtlCache<V> {
  readonly #ttlMs: number;
  readonly #maxEntries: number;
  readonly #now: () => number;
  readonly #entries = new Map<string, { value: V; expires: number }>();

  constructor(options: { ttlMs: number; maxEntries: number; now?: () => number }) {
    this.#ttlMs = options.ttlMs;
    this.#maxEntries = options.maxEntries;
    this.#now = options.now ?? Date.now;
  }

  get(tenantId: string, name: string): V | undefined {
    const key = `${tenantId}/${name}`;
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expires <= this.#now()) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  set(tenantId: string, name: string, value: V): void {
    if (this.#ttlMs === 0) return;
    if (this.#entries.size >= this.#maxEntries) {
      // Maps iterate in insertion order: the first key is the oldest entry.
      const oldest = this.#entries.keys().next();
      if (oldest.done !== true) this.#entries.delete(oldest.value);
    }
    this.#entries.set(`${tenantId}/${name}`, { value, expires: this.#now() + this.#ttlMs });
  }

  forget(tenantId: string, name: string): void {
    this.#entries.delete(`${tenantId}/${name}`);
  }

  forgetTenant(tenantId: string): void {
    for (const key of this.#entries.keys())
      if (key.startsWith(`${tenantId}/`)) this.#entries.delete(key);
  }
}
