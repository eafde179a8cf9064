import { createHash } from 'node:crypto';

/** Names a cached response: the tenant it belongs to and the hash of tenant and request. */
export interface ResponseCacheKey {
  readonly tenantId: string;
  readonly hash: string;
}

/** Top-level fields that change how an answer is delivered or attributed, not what it says. */
function isIgnoredField(name: string): boolean {
  return (
    name === 'stream' ||
    name === 'stream_options' ||
    name === 'user' ||
    name === 'bulkhead' ||
    name.startsWith('bulkhead_')
  );
}

function isPlainTextPart(part: unknown): part is { type: 'text'; text: string } {
  if (typeof part !== 'object' || part === null) return false;
  const keys = Object.keys(part);
  return (
    keys.length === 2 &&
    'type' in part &&
    part.type === 'text' &&
    'text' in part &&
    typeof part.text === 'string'
  );
}

/**
 * Content given as one text part is the same request as that text given as a string. Several parts
 * stay as they are: providers differ in whether they join them or keep them apart (Anthropic keeps
 * a block per part), so merging could make two different requests share an answer.
 */
function normaliseMessages(messages: unknown): unknown {
  if (!Array.isArray(messages)) return messages;
  return messages.map((message: unknown) => {
    if (typeof message !== 'object' || message === null || !('content' in message)) return message;
    const content = message.content;
    if (Array.isArray(content) && content.length === 1 && isPlainTextPart(content[0])) {
      return { ...message, content: content[0].text };
    }
    return message;
  });
}

/** The value with every object's keys in sorted order, so equal requests serialise equally. */
function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (typeof value !== 'object' || value === null) return value;
  const record = value as Record<string, unknown>;
  return Object.fromEntries(
    Object.keys(record)
      .sort()
      .map((name) => [name, sortKeys(record[name])]),
  );
}

/**
 * The cache key of a request: sha256 over the tenant id and the canonical JSON of the request
 * (keys sorted at every level, delivery-only fields dropped, single text parts as plain strings).
 * The tenant id is part of the hash, so two tenants sending the same request never share an entry.
 */
export function responseCacheKey(
  tenantId: string,
  request: Record<string, unknown>,
): ResponseCacheKey {
  const relevant: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(request)) {
    if (!isIgnoredField(name))
      relevant[name] = name === 'messages' ? normaliseMessages(value) : value;
  }
  const canonical = JSON.stringify(sortKeys([tenantId, relevant]));
  return { tenantId, hash: createHash('sha256').update(canonical).digest('hex') };
}

interface Entry<T> {
  readonly tenantId: string;
  readonly value: T;
  readonly sizeBytes: number;
  readonly expiresAt: number;
}

/**
 * Exact-match responses, each with its own TTL, within a bound on total bytes and entries; the
 * least recently used entries go first when a new one does not fit. Whether a tenant uses the cache
 * at all is the caller's decision (off unless the tenant turned it on).
 */
export class ResponseCache<T> {
  readonly #maxBytes: number;
  readonly #maxEntries: number;
  readonly #now: () => number;
  /** By hash, in order of last use: the first entry is the least recently used. */
  readonly #entries = new Map<string, Entry<T>>();
  readonly #hashesByTenant = new Map<string, Set<string>>();
  #bytes = 0;

  constructor(options: { maxBytes: number; maxEntries: number; now?: () => number }) {
    if (!Number.isFinite(options.maxBytes) || options.maxBytes < 0) {
      throw new RangeError(`maxBytes must be a non-negative number, got ${options.maxBytes}`);
    }
    if (!Number.isInteger(options.maxEntries) || options.maxEntries < 0) {
      throw new RangeError(`maxEntries must be a non-negative integer, got ${options.maxEntries}`);
    }
    this.#maxBytes = options.maxBytes;
    this.#maxEntries = options.maxEntries;
    this.#now = options.now ?? Date.now;
  }

  get(key: ResponseCacheKey): T | undefined {
    const entry = this.#entries.get(key.hash);
    if (entry === undefined || entry.tenantId !== key.tenantId) return undefined;
    if (entry.expiresAt <= this.#now()) {
      this.#delete(key.hash, entry);
      return undefined;
    }
    this.#entries.delete(key.hash);
    this.#entries.set(key.hash, entry);
    return entry.value;
  }

  /** An entry larger than the whole cache, or with no time to live, is not stored. */
  set(key: ResponseCacheKey, value: T, options: { ttlMs: number; sizeBytes: number }): void {
    if (!(options.sizeBytes >= 0)) {
      throw new RangeError(`sizeBytes must be a non-negative number, got ${options.sizeBytes}`);
    }
    const existing = this.#entries.get(key.hash);
    if (existing !== undefined) this.#delete(key.hash, existing);
    if (options.ttlMs <= 0 || options.sizeBytes > this.#maxBytes || this.#maxEntries === 0) return;

    this.#entries.set(key.hash, {
      tenantId: key.tenantId,
      value,
      sizeBytes: options.sizeBytes,
      expiresAt: this.#now() + options.ttlMs,
    });
    this.#bytes += options.sizeBytes;
    let hashes = this.#hashesByTenant.get(key.tenantId);
    if (hashes === undefined) {
      hashes = new Set();
      this.#hashesByTenant.set(key.tenantId, hashes);
    }
    hashes.add(key.hash);

    while (this.#bytes > this.#maxBytes || this.#entries.size > this.#maxEntries) {
      const oldest = this.#entries.entries().next();
      if (oldest.done === true) break;
      this.#delete(...oldest.value);
    }
  }

  forgetTenant(tenantId: string): void {
    const hashes = this.#hashesByTenant.get(tenantId);
    if (hashes === undefined) return;
    for (const hash of hashes) {
      const entry = this.#entries.get(hash);
      if (entry !== undefined) this.#delete(hash, entry);
    }
  }

  stats(): { entries: number; bytes: number } {
    return { entries: this.#entries.size, bytes: this.#bytes };
  }

  #delete(hash: string, entry: Entry<T>): void {
    this.#entries.delete(hash);
    this.#bytes -= entry.sizeBytes;
    const hashes = this.#hashesByTenant.get(entry.tenantId);
    hashes?.delete(hash);
    if (hashes?.size === 0) this.#hashesByTenant.delete(entry.tenantId);
  }
}
