import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLimitStore } from './index.ts';
import { type LimitStore, LimitStoreUnavailable, type SpendCounter } from './limit-store.ts';
import { MemoryLimitStore } from './memory-limit-store.ts';
import { RedisLimitStore } from './redis-limit-store.ts';
import {
  backends,
  deleteKeys,
  type OpenBackend,
  randomKeyPrefix,
  REDIS_URL,
  UNREACHABLE_REDIS_URL,
} from './test-backends.ts';

const TENANT = 'tn_0000000000storetenant000';
const NOW = Date.UTC(2025, 0, 15, 12);
const DAY_MS = 24 * 60 * 60 * 1000;

const counter = (counter: Partial<SpendCounter> = {}): SpendCounter => ({
  key: 'bg:key:key_a:day:2025-01-15',
  ttlMs: DAY_MS,
  ...counter,
});

describe.each(backends)('the $name limit store', (backend) => {
  let shared: OpenBackend;
  let a: LimitStore;
  let b: LimitStore;

  beforeEach(() => {
    shared = backend.open();
    a = shared.node();
    b = shared.node();
  });

  afterEach(() => shared.dispose());

  it('keeps the first seed of a counter when two nodes seed it at once', async () => {
    const results = await Promise.all([
      a.reserveSpend(TENANT, {
        now: NOW,
        amountNanoUsd: 0,
        counters: [counter({ seedNanoUsd: 100 })],
      }),
      b.reserveSpend(TENANT, {
        now: NOW,
        amountNanoUsd: 0,
        counters: [counter({ seedNanoUsd: 999 })],
      }),
    ]);
    expect(results).toEqual([{ outcome: 'reserved' }, { outcome: 'reserved' }]);

    const probe = await a.reserveSpend(TENANT, {
      now: NOW,
      amountNanoUsd: 1,
      counters: [counter({ hardNanoUsd: 0 })],
    });
    expect(probe).toMatchObject({ outcome: 'refused', index: 0, reservedNanoUsd: 0 });
    expect([100, 999]).toContain(probe.outcome === 'refused' && probe.spentNanoUsd);
  });

  it('asks for seeds of the counters it lacks, reserving nothing meanwhile', async () => {
    const seeded = counter({ key: 'bg:tenant:t:month:2025-01', seedNanoUsd: 5 });
    expect(
      await a.reserveSpend(TENANT, { now: NOW, amountNanoUsd: 7, counters: [seeded, counter()] }),
    ).toEqual({ outcome: 'unseeded', indexes: [1] });
    await a.reserveSpend(TENANT, {
      now: NOW,
      amountNanoUsd: 0,
      counters: [counter({ seedNanoUsd: 0 })],
    });
    expect(
      await a.reserveSpend(TENANT, {
        now: NOW,
        amountNanoUsd: 1,
        counters: [{ ...seeded, hardNanoUsd: 5 }],
      }),
    ).toEqual({ outcome: 'refused', index: 0, spentNanoUsd: 5, reservedNanoUsd: 0 });
  });

  it('keeps money exact up to nine million dollars', async () => {
    const big = 8_999_999_999_999_999;
    await a.reserveSpend(TENANT, {
      now: NOW,
      amountNanoUsd: 0,
      counters: [counter({ seedNanoUsd: big - 2 })],
    });
    const reached = await a.settleSpend(TENANT, {
      now: NOW,
      reservedNanoUsd: 0,
      actualNanoUsd: 1,
      counters: [{ key: counter().key, hardNanoUsd: big - 1 }],
    });
    expect(reached).toEqual([{ index: 0, threshold: 'hard', spentNanoUsd: big - 1 }]);
  });

  it('keeps tenants apart', async () => {
    const bucket = { key: 'rl:key:k:rpm', capacity: 1, periodMs: 60_000, cost: 1 };
    const take = (tenantId: string) =>
      a.acquire(tenantId, { now: NOW, buckets: [bucket], leases: [] });
    expect((await take(TENANT)).admitted).toBe(true);
    expect((await take(TENANT)).admitted).toBe(false);
    expect((await take('tn_someoneelse')).admitted).toBe(true);
  });
});

describe('RedisLimitStore', () => {
  let redis: Redis;
  let keyPrefix: string;

  beforeEach(() => {
    redis = new Redis(REDIS_URL);
    keyPrefix = randomKeyPrefix();
  });

  afterEach(async () => {
    await deleteKeys(keyPrefix);
    await redis.quit();
  });

  it('puts the tenant id in a hash tag of every key, and lets keys expire', async () => {
    const store = new RedisLimitStore(redis, { keyPrefix });
    await store.acquire(TENANT, {
      now: NOW,
      buckets: [{ key: 'rl:key:k:rpm', capacity: 60, periodMs: 60_000, cost: 1 }],
      leases: [{ key: 'rl:key:k:concurrent', limit: 1, leaseId: 'l1', ttlMs: 600_000 }],
    });
    await store.reserveSpend(TENANT, {
      now: NOW,
      amountNanoUsd: 1,
      counters: [counter({ seedNanoUsd: 0, ttlMs: 2 * DAY_MS })],
    });
    const keys = (await redis.keys(`${keyPrefix}*`)).sort();
    expect(keys).toEqual([
      `${keyPrefix}{${TENANT}}:bg:key:key_a:day:2025-01-15`,
      `${keyPrefix}{${TENANT}}:rl:key:k:concurrent`,
      `${keyPrefix}{${TENANT}}:rl:key:k:rpm`,
    ]);
    const ttls = await Promise.all(keys.map((k) => redis.pttl(k)));
    expect(ttls[0]).toBeGreaterThan(2 * DAY_MS - 60_000);
    expect(ttls[1]).toBeGreaterThan(590_000);
    // A bucket is gone once it would be full again: one request of sixty a minute is a second.
    expect(ttls[2]).toBeGreaterThan(900);
    expect(ttls[2]).toBeLessThanOrEqual(1000);

    await store.close();
    expect(redis.status).toBe('ready'); // the caller's connection stays the caller's
  });

  it('loads its scripts again after Redis forgot them', async () => {
    const store = new RedisLimitStore(redis, { keyPrefix });
    const take = () =>
      store.acquire(TENANT, {
        now: NOW,
        buckets: [{ key: 'rl:key:k:rpm', capacity: 2, periodMs: 60_000, cost: 1 }],
        leases: [],
      });
    await take();
    await redis.script('FLUSH');
    expect(await take()).toEqual({ admitted: true, levels: [1], inUse: [] });
  });

  it('fails fast with LimitStoreUnavailable when Redis is unreachable', async () => {
    const store = new RedisLimitStore(UNREACHABLE_REDIS_URL);
    const release = () =>
      store.release(TENANT, { now: NOW, buckets: [], leases: [{ key: 'k', leaseId: 'l' }] });
    try {
      const started = Date.now();
      await expect(release()).rejects.toBeInstanceOf(LimitStoreUnavailable);
      await expect(release()).rejects.toThrow(/Limit store unavailable/);
      expect(Date.now() - started).toBeLessThan(1000);
    } finally {
      await store.close();
    }
  });

  it('waits for a connection still opening instead of failing the first commands', async () => {
    const store = new RedisLimitStore(REDIS_URL, { keyPrefix, commandTimeoutMs: 2000 });
    try {
      const results = await Promise.all(
        Array.from({ length: 20 }, () =>
          store.acquire(TENANT, {
            now: NOW,
            buckets: [{ key: 'rl:key:k:rpm', capacity: 100, periodMs: 60_000, cost: 1 }],
            leases: [],
          }),
        ),
      );
      expect(results.every((r) => r.admitted)).toBe(true);
    } finally {
      await store.close();
    }
  });
});

describe('MemoryLimitStore', () => {
  it('forgets counters once they expire', async () => {
    const store = new MemoryLimitStore();
    const reserve = (now: number) =>
      store.reserveSpend(TENANT, { now, amountNanoUsd: 0, counters: [counter()] });
    await store.reserveSpend(TENANT, {
      now: NOW,
      amountNanoUsd: 0,
      counters: [counter({ seedNanoUsd: 0 })],
    });
    // Each reservation keeps the counter for its ttl from then.
    expect(await reserve(NOW + DAY_MS - 1)).toEqual({ outcome: 'reserved' });
    expect(await reserve(NOW + 2 * DAY_MS - 2)).toEqual({ outcome: 'reserved' });
    expect(await reserve(NOW + 3 * DAY_MS - 2)).toEqual({ outcome: 'unseeded', indexes: [0] });
  });
});

describe('createLimitStore', () => {
  it('keeps counters in memory without a Redis URL, and in Redis with one', async () => {
    expect(createLimitStore(undefined)).toBeInstanceOf(MemoryLimitStore);
    const store = createLimitStore(REDIS_URL);
    expect(store).toBeInstanceOf(RedisLimitStore);
    await store.close();
  });

  it('refuses a URL that is not Redis at start-up', () => {
    expect(() => createLimitStore('localhost:6379')).toThrow(/redis:\/\//);
    expect(() => createLimitStore('http://localhost:6379')).toThrow(/not http:/);
    expect(() => createLimitStore('not a url')).toThrow(/not a URL/);
  });
});
