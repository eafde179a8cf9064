/**
 * The counters behind rate limits and budgets. Each operation is atomic over all the keys it names,
 * so a check across several limits cannot interleave with another node's. Keys are relative to a
 * tenant; the store puts the tenant id into every key it writes.
 *
 * The store has no clock: every operation carries the caller's `now` (ms). See RedisLimitStore for
 * why Redis does not use its own TIME.
 */
export interface LimitStore {
  /** Takes `cost` from every bucket and a lease from every pool, or nothing when any would run out. */
  acquire(tenantId: string, request: AcquireRequest): Promise<AcquireResult>;
  /** Adds `amount` to each bucket (never above capacity; negative goes into debt), ends leases. */
  release(tenantId: string, request: ReleaseRequest): Promise<void>;
  /** Adds `amountNanoUsd` to every counter's reservation, or nothing when any hard limit would be passed. */
  reserveSpend(tenantId: string, request: ReserveRequest): Promise<ReserveResult>;
  /** Moves a reservation to spent, and reports each threshold reached for the first time. */
  settleSpend(tenantId: string, request: SettleRequest): Promise<ThresholdReached[]>;
  close(): Promise<void>;
}

/**
 * A token bucket holding up to `capacity` and refilling `capacity` per `periodMs`, continuously. A
 * bucket the store does not have is full.
 */
export interface Bucket {
  key: string;
  capacity: number;
  periodMs: number;
}

export interface AcquireRequest {
  now: number;
  buckets: (Bucket & { cost: number })[];
  /** Pools of at most `limit` leases; a lease ends when released or `ttlMs` after it was taken. */
  leases: { key: string; limit: number; leaseId: string; ttlMs: number }[];
}

export interface AcquireResult {
  admitted: boolean;
  /** Each bucket's level just before the take, refilled to `now`; in request order. */
  levels: number[];
  /** Each pool's live leases just before the take; in request order. */
  inUse: number[];
}

export interface ReleaseRequest {
  now: number;
  buckets: (Bucket & { amount: number })[];
  leases: { key: string; leaseId: string }[];
}

/** Money counters are whole nano-USD. */
export interface SpendCounter {
  key: string;
  /** How long the counter outlives this call: past the end of its window. */
  ttlMs: number;
  softNanoUsd?: number;
  hardNanoUsd?: number;
  /**
   * Spend already recorded elsewhere, for a counter the store does not have yet. Only the first
   * seed of a counter counts; thresholds the seed is already past count as reported.
   */
  seedNanoUsd?: number;
}

export interface ReserveRequest {
  now: number;
  amountNanoUsd: number;
  counters: SpendCounter[];
}

export type ReserveResult =
  | { outcome: 'reserved' }
  /** Nothing was reserved: counter `index` would pass its hard limit. */
  | { outcome: 'refused'; index: number; spentNanoUsd: number; reservedNanoUsd: number }
  /** Nothing was reserved: these counters need a seed. */
  | { outcome: 'unseeded'; indexes: number[] };

export interface SettleRequest {
  now: number;
  reservedNanoUsd: number;
  actualNanoUsd: number;
  counters: Omit<SpendCounter, 'ttlMs' | 'seedNanoUsd'>[];
}

export interface ThresholdReached {
  /** The counter's position in the request. */
  index: number;
  threshold: 'soft' | 'hard';
  spentNanoUsd: number;
}

/** The store refused the connection, timed out or failed the command. */
export class LimitStoreUnavailable extends Error {
  constructor(cause: unknown) {
    super(`Limit store unavailable: ${cause instanceof Error ? cause.message : String(cause)}`, {
      cause,
    });
    this.name = 'LimitStoreUnavailable';
  }
}

/**
 * The tenant id is the key's Redis Cluster hash tag: all of one tenant's counters share a slot, so
 * one script can update any of them together.
 */
export function tenantKey(prefix: string, tenantId: string, key: string): string {
  return `${prefix}{${tenantId}}:${key}`;
}
