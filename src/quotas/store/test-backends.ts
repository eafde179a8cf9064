import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import {
  type AcquireRequest,
  type AcquireResult,
  type LimitStore,
  LimitStoreUnavailable,
  type ReleaseRequest,
  type ReserveRequest,
  type ReserveResult,
  type SettleRequest,
  type ThresholdReached,
} from './limit-store.ts';
import { MemoryLimitStore } from './memory-limit-store.ts';
import { RedisLimitStore } from './redis-limit-store.ts';

/** Shared by the limits, budgets and store suites: each runs once per backend. */

export const REDIS_URL = 'redis://127.0.0.1:6379';
/** Nothing listens on port 1: connections are refused at once. */
export const UNREACHABLE_REDIS_URL = 'redis://127.0.0.1:1';

export interface OpenBackend {
  /** Another Bulkhead node's store over the same counters (on memory, the same store). */
  node(): LimitStore;
  /** Closes the stores and deletes every key they wrote. */
  dispose(): Promise<void>;
}

export interface Backend {
  name: 'memory' | 'redis';
  open(): OpenBackend;
}

export async function deleteKeys(prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL);
  try {
    const keys: string[] = [];
    for await (const batch of redis.scanStream({ match: `${prefix}*`, count: 1000 }))
      keys.push(...(batch as string[]));
    if (keys.length > 0) await redis.del(...keys);
  } finally {
    await redis.quit();
  }
}

export function randomKeyPrefix(): string {
  return `bktest:${randomBytes(8).toString('hex')}:`;
}

export const backends: Backend[] = [
  {
    name: 'memory',
    open() {
      const store = new MemoryLimitStore();
      return { node: () => store, dispose: () => store.close() };
    },
  },
  {
    name: 'redis',
    open() {
      const keyPrefix = randomKeyPrefix();
      const stores: RedisLimitStore[] = [];
      return {
        node() {
          // A roomier timeout than production's: two shared cores can stall a test for a moment.
          const store = new RedisLimitStore(REDIS_URL, { keyPrefix, commandTimeoutMs: 2000 });
          stores.push(store);
          return store;
        },
        async dispose() {
          await Promise.all(stores.map((s) => s.close()));
          await deleteKeys(keyPrefix);
        },
      };
    },
  },
];

/** A memory store that can be made unreachable, to test outages and recovery. */
export class FlakyStore implements LimitStore {
  down = false;
  readonly #store = new MemoryLimitStore();

  acquire(tenantId: string, request: AcquireRequest): Promise<AcquireResult> {
    return this.#unlessDown(() => this.#store.acquire(tenantId, request));
  }

  release(tenantId: string, request: ReleaseRequest): Promise<void> {
    return this.#unlessDown(() => this.#store.release(tenantId, request));
  }

  reserveSpend(tenantId: string, request: ReserveRequest): Promise<ReserveResult> {
    return this.#unlessDown(() => this.#store.reserveSpend(tenantId, request));
  }

  settleSpend(tenantId: string, request: SettleRequest): Promise<ThresholdReached[]> {
    return this.#unlessDown(() => this.#store.settleSpend(tenantId, request));
  }

  close(): Promise<void> {
    return this.#store.close();
  }

  #unlessDown<T>(operation: () => Promise<T>): Promise<T> {
    return this.down
      ? Promise.reject(new LimitStoreUnavailable(new Error('connect ECONNREFUSED')))
      : operation();
  }
}
