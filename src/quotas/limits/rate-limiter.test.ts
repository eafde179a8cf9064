import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BkError } from '../../core/errors.ts';
import type { LimitStore } from '../store/limit-store.ts';
import { MemoryLimitStore } from '../store/memory-limit-store.ts';
import { RedisLimitStore } from '../store/redis-limit-store.ts';
import {
  backends,
  FlakyStore,
  type OpenBackend,
  UNREACHABLE_REDIS_URL,
} from '../store/test-backends.ts';
import { type LimitSubject, RateLimiter } from './rate-limiter.ts';
import { formatResetDuration } from './reset-duration.ts';

const TENANT = 'tn_0000000000limitstenant00';
const LEASE_TTL_MS = 5 * 60_000;

async function refusal(promise: Promise<unknown>): Promise<BkError> {
  const err: unknown = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  if (!(err instanceof BkError)) throw new Error(`expected a BkError, got ${String(err)}`);
  return err;
}

const key = (limits: LimitSubject['limits'], id = 'key_a'): LimitSubject => ({
  scope: 'key',
  id,
  limits,
});
const tenant = (limits: LimitSubject['limits']): LimitSubject => ({
  scope: 'tenant',
  id: TENANT,
  limits,
});
const user = (limits: LimitSubject['limits']): LimitSubject => ({
  scope: 'user',
  id: 'usr_a',
  limits,
});

describe('formatResetDuration', () => {
  it.each([
    [0, '0s'],
    [0.2, '1ms'],
    [20, '20ms'],
    [1000, '1s'],
    [1500, '1.5s'],
    [6000, '6s'],
    [360_000, '6m0s'],
    [3_723_004, '1h2m3.004s'],
  ])('%d ms is %s', (ms, text) => {
    expect(formatResetDuration(ms)).toBe(text);
  });
});

describe.each(backends)('RateLimiter on $name', (backend) => {
  let now: number;
  let shared: OpenBackend;
  let limiters: RateLimiter[];

  beforeEach(() => {
    now = Date.UTC(2025, 0, 15, 12);
    shared = backend.open();
    // Three Bulkhead nodes sharing the counters.
    limiters = [0, 1, 2].map(
      () =>
        new RateLimiter({
          store: shared.node(),
          local: new MemoryLimitStore(),
          now: () => now,
          leaseTtlMs: LEASE_TTL_MS,
        }),
    );
  });

  afterEach(() => shared.dispose());

  const admit = (subjects: LimitSubject[], tokens = 0, node = 0) =>
    limiters[node]!.admit(TENANT, subjects, tokens, 'closed');

  it('lets a minute’s requests through as a burst, then refills continuously', async () => {
    const subjects = [key({ requestsPerMinute: 60 })];
    for (let i = 0; i < 60; i++) await admit(subjects, 0, i % 3);

    const err = await refusal(admit(subjects));
    expect(err.code).toBe('BK_RATE_LIMITED');
    expect(err.status).toBe(429);
    expect(err.message).toBe(
      'Rate limit reached: 60 requests per minute for this API key. Retry after 1s.',
    );
    expect(err.headers).toEqual({
      'retry-after': '1',
      'x-ratelimit-limit-requests': '60',
      'x-ratelimit-remaining-requests': '0',
      'x-ratelimit-reset-requests': '1m0s',
    });

    now += 500;
    expect((await refusal(admit(subjects))).headers['retry-after']).toBe('1');
    now += 500;
    await admit(subjects);
    await expect(admit(subjects)).rejects.toThrow(/60 requests per minute/);

    now += 30_000;
    for (let i = 0; i < 30; i++) await admit(subjects);
    await expect(admit(subjects)).rejects.toThrow(BkError);

    // Idle for longer than a minute: full again, not more than full.
    now += 5 * 60_000;
    for (let i = 0; i < 60; i++) await admit(subjects);
    await expect(admit(subjects)).rejects.toThrow(BkError);
  });

  it('sends OpenAI’s headers for the subject with the fewest left, only for limits that exist', async () => {
    const subjects = [
      tenant({ requestsPerMinute: 100, tokensPerMinute: 10_000 }),
      key({ requestsPerMinute: 10 }),
    ];
    const { headers } = await admit(subjects, 1000);
    expect(headers).toEqual({
      'x-ratelimit-limit-requests': '10',
      'x-ratelimit-remaining-requests': '9',
      'x-ratelimit-reset-requests': '6s',
      'x-ratelimit-limit-tokens': '10000',
      'x-ratelimit-remaining-tokens': '9000',
      'x-ratelimit-reset-tokens': '6s',
    });

    now += 240;
    const second = await admit(subjects, 10);
    expect(second.headers['x-ratelimit-remaining-tokens']).toBe('9030');
    expect(second.headers['x-ratelimit-reset-tokens']).toBe('5.82s');

    expect((await admit([user({ concurrent: 3 })])).headers).toEqual({});
    expect((await admit([user({ tokensPerMinute: 50 })], 20)).headers).toEqual({
      'x-ratelimit-limit-tokens': '50',
      'x-ratelimit-remaining-tokens': '30',
      'x-ratelimit-reset-tokens': '24s',
    });
  });

  it('is all or nothing: a request refused by one limit consumes none of the others', async () => {
    const subjects = [
      key({ requestsPerMinute: 100, concurrent: 1 }),
      tenant({ tokensPerMinute: 1000 }),
    ];
    const first = await admit(subjects, 900);
    await first.settle(900);

    const err = await refusal(admit(subjects, 200));
    expect(err.message).toBe(
      'Rate limit reached: 1000 tokens per minute for this tenant. Retry after 6s.',
    );
    expect(err.headers).toMatchObject({
      'retry-after': '6',
      'x-ratelimit-remaining-requests': '99',
      'x-ratelimit-remaining-tokens': '100',
    });

    // The refused request took neither a request nor the key's only concurrency slot.
    const next = await admit(subjects, 100);
    expect(next.headers['x-ratelimit-remaining-requests']).toBe('98');
    expect(next.headers['x-ratelimit-remaining-tokens']).toBe('0');
  });

  it('names the limit that frees last when several refuse', async () => {
    const subjects = [key({ requestsPerMinute: 1 }), tenant({ tokensPerMinute: 600 })];
    await admit(subjects, 600);
    const err = await refusal(admit(subjects, 300));
    expect(err.message).toBe(
      'Rate limit reached: 1 request per minute for this API key. Retry after 60s.',
    );
    expect(err.headers['retry-after']).toBe('60');
  });

  it('holds concurrency slots until settled, and lets leases of lost calls expire', async () => {
    const subjects = [user({ concurrent: 2 })];
    const a = await admit(subjects, 0, 0);
    const b = await admit(subjects, 0, 1);

    const err = await refusal(admit(subjects, 0, 2));
    expect(err.message).toBe(
      'Rate limit reached: 2 concurrent requests for this user. Retry after 1s.',
    );
    expect(err.headers).toEqual({ 'retry-after': '1' });

    await a.settle(0);
    await admit(subjects, 0, 2); // never settled, like b: their node crashed
    await expect(admit(subjects)).rejects.toThrow(/2 concurrent requests/);

    now += LEASE_TTL_MS - 1;
    await expect(admit(subjects)).rejects.toThrow(/2 concurrent requests/);
    now += 1;
    await admit(subjects);
    await admit(subjects);
    await expect(admit(subjects)).rejects.toThrow(/2 concurrent requests/);
    await b.settle(0); // long expired: harmless
  });

  it('settles by the actual tokens, into debt when over the estimate, and only once', async () => {
    const subjects = [key({ tokensPerMinute: 1000 })];
    const over = await admit(subjects, 100);
    await over.settle(1600);
    await over.settle(1600);

    // 1000 − 1600 = −600: one more token is 601 tokens of refill away.
    const err = await refusal(admit(subjects, 1));
    expect(err.headers).toMatchObject({
      'retry-after': '37',
      'x-ratelimit-remaining-tokens': '0',
      'x-ratelimit-reset-tokens': '1m36s',
    });

    now += 96_000;
    const under = await admit(subjects, 800);
    expect(under.headers['x-ratelimit-remaining-tokens']).toBe('200');
    await under.settle(300);
    await under.settle(300);
    expect((await admit(subjects, 0)).headers['x-ratelimit-remaining-tokens']).toBe('700');

    // A refund never fills the bucket past its capacity.
    now += 60_000;
    const refunded = await admit(subjects, 500);
    now += 30_000;
    await refunded.settle(0);
    expect((await admit(subjects, 0)).headers['x-ratelimit-remaining-tokens']).toBe('1000');
  });

  it('admits a call estimated above a whole minute once the bucket is full, leaving it in debt', async () => {
    const subjects = [key({ tokensPerMinute: 1000 })];
    const big = await admit(subjects, 5000);
    expect(big.headers['x-ratelimit-remaining-tokens']).toBe('0');
    await big.settle(4000);
    expect((await refusal(admit(subjects, 1))).headers['retry-after']).toBe('181');
  });

  it('admits exactly the limit from a burst through three nodes', async () => {
    const subjects = [key({ requestsPerMinute: 10 }), tenant({ concurrent: 50 })];
    const results = await Promise.allSettled(
      Array.from({ length: 50 }, (_, i) => admit(subjects, 0, i % 3)),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(10);
    const refused = results.flatMap((r) => (r.status === 'rejected' ? [r.reason] : []));
    expect(refused.every((e) => e instanceof BkError && e.code === 'BK_RATE_LIMITED')).toBe(true);

    const slots = [user({ concurrent: 5 })];
    const admitted = await Promise.allSettled(
      Array.from({ length: 50 }, (_, i) => admit(slots, 0, i % 3)),
    );
    expect(admitted.filter((r) => r.status === 'fulfilled')).toHaveLength(5);
  });

  it('keeps tenants and subjects apart', async () => {
    await admit([key({ requestsPerMinute: 1 })]);
    await expect(admit([key({ requestsPerMinute: 1 })])).rejects.toThrow(BkError);
    await admit([key({ requestsPerMinute: 1 }, 'key_b')]);
    await limiters[0]!.admit('tn_other', [key({ requestsPerMinute: 1 })], 0, 'closed');
  });
});

describe('RateLimiter when the limit store is down', () => {
  let down: RedisLimitStore;
  let warnings: { obj: object; msg: string }[];
  let local: MemoryLimitStore;
  const log = { warn: (obj: object, msg: string) => warnings.push({ obj, msg }) };

  beforeEach(() => {
    down = new RedisLimitStore(UNREACHABLE_REDIS_URL);
    warnings = [];
    local = new MemoryLimitStore();
  });

  afterEach(() => down.close());

  it('refuses every request when the tenant’s policy fails closed', async () => {
    const limiter = new RateLimiter({ store: down, local, log });
    const err = await refusal(limiter.admit(TENANT, [key({ requestsPerMinute: 5 })], 0, 'closed'));
    expect(err.code).toBe('BK_LIMIT_STORE_UNAVAILABLE');
    expect(err.status).toBe(503);
    expect(err.message).toMatch(/limit store is unreachable.*fails closed/);
    expect(warnings).toEqual([]);
  });

  it('limits on this node’s memory when the tenant chose local, warning once per outage', async () => {
    const limiter = new RateLimiter({ store: down, local, log });
    const subjects = [key({ requestsPerMinute: 2 })];
    const first = await limiter.admit(TENANT, subjects, 0, 'local');
    expect(first.headers['x-ratelimit-remaining-requests']).toBe('1');
    await limiter.admit(TENANT, subjects, 0, 'local');
    await expect(limiter.admit(TENANT, subjects, 0, 'local')).rejects.toThrow(
      /2 requests per minute/,
    );
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.msg).toMatch(/unreachable.*per node/);
  });

  it('warns again only after the store came back and went down again', async () => {
    const flaky = new FlakyStore();
    const limiter = new RateLimiter({ store: flaky, local, log });
    const subjects = [key({ requestsPerMinute: 100 })];
    const admit = () => limiter.admit(TENANT, subjects, 0, 'local');

    flaky.down = true;
    await admit();
    await admit();
    flaky.down = false;
    expect((await admit()).headers['x-ratelimit-remaining-requests']).toBe('99');
    expect(warnings).toHaveLength(1);
    flaky.down = true;
    await admit();
    expect(warnings).toHaveLength(2);
  });

  it('settles without throwing when the store fails after admitting', async () => {
    const flaky = new FlakyStore();
    const limiter = new RateLimiter({ store: flaky, local, log });
    const admission = await limiter.admit(
      TENANT,
      [key({ concurrent: 1, tokensPerMinute: 100 })],
      10,
      'closed',
    );
    flaky.down = true;
    await expect(admission.settle(50)).resolves.toBeUndefined();
    expect(warnings.map((w) => w.msg)).toEqual([expect.stringMatching(/Could not settle/)]);
  });

  it('does not touch the store for subjects without limits', async () => {
    const limiter = new RateLimiter({ store: down, local, log });
    const admission = await limiter.admit(TENANT, [key({})], 10, 'closed');
    expect(admission.headers).toEqual({});
  });
});

describe('RateLimiter input', () => {
  it('rejects limits that are not positive', async () => {
    const store: LimitStore = new MemoryLimitStore();
    const limiter = new RateLimiter({ store, local: store });
    await expect(
      limiter.admit(TENANT, [key({ tokensPerMinute: 0 })], 10, 'closed'),
    ).rejects.toThrow(RangeError);
  });
});
