import {
  type AcquireRequest,
  type AcquireResult,
  type Bucket,
  type LimitStore,
  type ReleaseRequest,
  type ReserveRequest,
  type ReserveResult,
  type SettleRequest,
  type SpendCounter,
  type ThresholdReached,
  tenantKey,
} from './limit-store.ts';

interface BucketState {
  level: number;
  at: number;
  /** When it is full again, so the entry can go. */
  expiresAt: number;
}

interface SpendState {
  spent: number;
  reserved: number;
  reported: Set<'soft' | 'hard'>;
  expiresAt: number;
}

const SWEEP_EVERY_MS = 60_000;
const THRESHOLDS = ['soft', 'hard'] as const;

function refill(state: BucketState | undefined, bucket: Bucket, now: number) {
  if (state === undefined) return { level: bucket.capacity, at: now };
  // A clock behind the last writer's refills nothing rather than moving time backwards.
  const at = Math.max(state.at, now);
  const level = state.level + ((at - state.at) * bucket.capacity) / bucket.periodMs;
  return { level: Math.min(bucket.capacity, level), at };
}

function thresholdLimit(counter: Omit<SpendCounter, 'ttlMs'>, threshold: 'soft' | 'hard') {
  return threshold === 'soft' ? counter.softNanoUsd : counter.hardNanoUsd;
}

/**
 * One node's counters, in memory: the embedded default, and the fallback while a shared store is
 * down. Every operation runs without yielding, which is what makes it atomic.
 */
export class MemoryLimitStore implements LimitStore {
  readonly #buckets = new Map<string, BucketState>();
  /** Lease id → expiry, per pool. */
  readonly #pools = new Map<string, Map<string, number>>();
  readonly #spend = new Map<string, SpendState>();
  #lastSweep = -Infinity;

  acquire(tenantId: string, { now, buckets, leases }: AcquireRequest): Promise<AcquireResult> {
    this.#sweep(now);
    const bucketKeys = buckets.map((b) => tenantKey('', tenantId, b.key));
    const levels = buckets.map((b, i) => refill(this.#buckets.get(bucketKeys[i]!), b, now));
    const pools = leases.map((l) => this.#pool(tenantKey('', tenantId, l.key), now));
    const inUse = pools.map((pool) => pool.size);
    const admitted =
      levels.every((state, i) => state.level >= buckets[i]!.cost) &&
      inUse.every((count, i) => count < leases[i]!.limit);
    if (admitted) {
      buckets.forEach((b, i) => {
        const { level, at } = levels[i]!;
        this.#setBucket(bucketKeys[i]!, b, level - b.cost, at);
      });
      leases.forEach((l, i) => pools[i]!.set(l.leaseId, now + l.ttlMs));
    }
    return Promise.resolve({ admitted, levels: levels.map((s) => s.level), inUse });
  }

  release(tenantId: string, { now, buckets, leases }: ReleaseRequest): Promise<void> {
    this.#sweep(now);
    for (const b of buckets) {
      const key = tenantKey('', tenantId, b.key);
      const { level, at } = refill(this.#buckets.get(key), b, now);
      this.#setBucket(key, b, Math.min(b.capacity, level + b.amount), at);
    }
    for (const l of leases) this.#pools.get(tenantKey('', tenantId, l.key))?.delete(l.leaseId);
    return Promise.resolve();
  }

  reserveSpend(
    tenantId: string,
    { now, amountNanoUsd, counters }: ReserveRequest,
  ): Promise<ReserveResult> {
    this.#sweep(now);
    const states: SpendState[] = [];
    const unseeded: number[] = [];
    counters.forEach((counter, index) => {
      const key = tenantKey('', tenantId, counter.key);
      let state = this.#liveSpend(key, now);
      if (state === undefined && counter.seedNanoUsd !== undefined) {
        const seed = counter.seedNanoUsd;
        const reached = THRESHOLDS.filter((t) => seed >= (thresholdLimit(counter, t) ?? Infinity));
        state = {
          spent: seed,
          reserved: 0,
          reported: new Set(reached),
          expiresAt: now + counter.ttlMs,
        };
        this.#spend.set(key, state);
      }
      if (state === undefined) unseeded.push(index);
      else states.push(state);
    });
    if (unseeded.length > 0) return Promise.resolve({ outcome: 'unseeded', indexes: unseeded });

    for (const [index, counter] of counters.entries()) {
      const { spent, reserved } = states[index]!;
      if (
        counter.hardNanoUsd !== undefined &&
        spent + reserved + amountNanoUsd > counter.hardNanoUsd
      )
        return Promise.resolve({
          outcome: 'refused',
          index,
          spentNanoUsd: spent,
          reservedNanoUsd: reserved,
        });
    }
    counters.forEach((counter, index) => {
      const state = states[index]!;
      state.reserved += amountNanoUsd;
      state.expiresAt = now + counter.ttlMs;
    });
    return Promise.resolve({ outcome: 'reserved' });
  }

  settleSpend(
    tenantId: string,
    { now, reservedNanoUsd, actualNanoUsd, counters }: SettleRequest,
  ): Promise<ThresholdReached[]> {
    this.#sweep(now);
    const reached: ThresholdReached[] = [];
    counters.forEach((counter, index) => {
      // A counter that is gone is seeded again, from recorded spend, by the next reservation.
      const state = this.#liveSpend(tenantKey('', tenantId, counter.key), now);
      if (state === undefined) return;
      state.spent += actualNanoUsd;
      state.reserved = Math.max(0, state.reserved - reservedNanoUsd);
      for (const threshold of THRESHOLDS) {
        const limit = thresholdLimit(counter, threshold);
        if (limit === undefined || state.spent < limit || state.reported.has(threshold)) continue;
        state.reported.add(threshold);
        reached.push({ index, threshold, spentNanoUsd: state.spent });
      }
    });
    return Promise.resolve(reached);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  #setBucket(key: string, bucket: Bucket, level: number, at: number): void {
    if (level >= bucket.capacity) this.#buckets.delete(key);
    else {
      const untilFull = ((bucket.capacity - level) * bucket.periodMs) / bucket.capacity;
      this.#buckets.set(key, { level, at, expiresAt: at + untilFull });
    }
  }

  #liveSpend(key: string, now: number): SpendState | undefined {
    const state = this.#spend.get(key);
    return state !== undefined && state.expiresAt > now ? state : undefined;
  }

  #pool(key: string, now: number): Map<string, number> {
    let pool = this.#pools.get(key);
    if (pool === undefined) {
      pool = new Map();
      this.#pools.set(key, pool);
    }
    for (const [leaseId, expiresAt] of pool) if (expiresAt <= now) pool.delete(leaseId);
    return pool;
  }

  /** Expired entries go in one pass a minute, so idle tenants and past windows do not pile up. */
  #sweep(now: number): void {
    if (now - this.#lastSweep < SWEEP_EVERY_MS) return;
    this.#lastSweep = now;
    for (const [key, state] of this.#buckets) if (state.expiresAt <= now) this.#buckets.delete(key);
    for (const [key, state] of this.#spend) if (state.expiresAt <= now) this.#spend.delete(key);
    for (const key of this.#pools.keys())
      if (this.#pool(key, now).size === 0) this.#pools.delete(key);
  }
}
