import { describe, expect, it } from 'vitest';
import { BkError } from '../../core/errors.ts';
import { FairScheduler, UpstreamSchedulers, type Release } from './fair-scheduler.ts';

/** Lets granted acquires run their continuations. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Records the order in which queued acquires are granted. Each granted request keeps its slot until
 * `releaseOldest` frees it, so with concurrency 1 every release hands the slot to exactly one waiter.
 */
function recorder(scheduler: FairScheduler) {
  const order: string[] = [];
  const holders: Release[] = [];
  return {
    order,
    enqueue(tenantId: string, options: { weight?: number; cost?: number } = {}) {
      void scheduler.acquire(tenantId, options).then((release) => {
        order.push(tenantId);
        holders.push(release);
      });
    },
    async hold(tenantId: string) {
      holders.push(await scheduler.acquire(tenantId));
    },
    async releaseOldest() {
      holders.shift()?.();
      await settle();
    },
  };
}

describe('FairScheduler', () => {
  it('grants at once while a slot is free, without queuing', async () => {
    const scheduler = new FairScheduler({ concurrency: 2, maxQueuedPerTenant: 0 });
    await scheduler.acquire('tn_a');
    await scheduler.acquire('tn_b');
    expect(scheduler.stats()).toEqual({ active: 2, queued: 0, queuedByTenant: {} });
  });

  it('serves a quiet tenant after at most one more dispatch of a tenant that queued 1000', async () => {
    const scheduler = new FairScheduler({ concurrency: 1, maxQueuedPerTenant: 1000 });
    const run = recorder(scheduler);
    await run.hold('tn_a');
    for (let i = 0; i < 1000; i++) run.enqueue('tn_a');
    run.enqueue('tn_b');
    expect(scheduler.stats().queuedByTenant).toEqual({ tn_a: 1000, tn_b: 1 });

    for (let i = 0; i < 3; i++) await run.releaseOldest();

    // With equal weights and unit costs, B waits for at most one A dispatch after it arrives: A may
    // already hold the turn when B joins the round, and B's turn comes right after it. FIFO order
    // would put B at index 1000.
    expect(run.order.indexOf('tn_b')).toBeGreaterThanOrEqual(0);
    expect(run.order.indexOf('tn_b')).toBeLessThanOrEqual(1);
  });

  it('splits dispatches 3:1 between saturated tenants weighted 3 and 1', async () => {
    const scheduler = new FairScheduler({ concurrency: 1, maxQueuedPerTenant: 1000 });
    const run = recorder(scheduler);
    await run.hold('tn_x');
    for (let i = 0; i < 1000; i++) {
      run.enqueue('tn_heavy', { weight: 3 });
      run.enqueue('tn_light', { weight: 1 });
    }

    for (let i = 0; i < 400; i++) {
      await run.releaseOldest();
      const heavy = run.order.filter((tenant) => tenant === 'tn_heavy').length;
      const light = run.order.length - heavy;
      // Every prefix of the schedule stays within one turn of the 3:1 share.
      expect(Math.abs(heavy - 3 * light)).toBeLessThanOrEqual(3);
    }
    const heavy = run.order.filter((tenant) => tenant === 'tn_heavy').length;
    expect(heavy).toBeGreaterThanOrEqual(299);
    expect(heavy).toBeLessThanOrEqual(301);
  });

  it('charges a request its cost: a tenant sending cost-2 requests gets half as many dispatches', async () => {
    const scheduler = new FairScheduler({ concurrency: 1, maxQueuedPerTenant: 100 });
    const run = recorder(scheduler);
    await run.hold('tn_x');
    for (let i = 0; i < 100; i++) {
      run.enqueue('tn_big', { cost: 2 });
      run.enqueue('tn_small', { cost: 1 });
    }
    for (let i = 0; i < 90; i++) await run.releaseOldest();
    const big = run.order.filter((tenant) => tenant === 'tn_big').length;
    expect(big).toBeGreaterThanOrEqual(29);
    expect(big).toBeLessThanOrEqual(31);
  });

  it('still dispatches when every request costs far more than a turn earns', async () => {
    const scheduler = new FairScheduler({ concurrency: 1, maxQueuedPerTenant: 10 });
    const run = recorder(scheduler);
    await run.hold('tn_x');
    run.enqueue('tn_a', { cost: 5000 });
    run.enqueue('tn_b', { cost: 12_000 });
    run.enqueue('tn_a', { cost: 5000 });
    for (let i = 0; i < 3; i++) await run.releaseOldest();
    // A can afford a request every 5000 rounds, B only after 12000: A goes twice before B.
    expect(run.order).toEqual(['tn_a', 'tn_a', 'tn_b']);
  });

  it('refuses a tenant whose queue is full with BK_RATE_LIMITED and retry-after, leaving others alone', async () => {
    const scheduler = new FairScheduler({ concurrency: 1, maxQueuedPerTenant: 2 });
    await scheduler.acquire('tn_a');
    void scheduler.acquire('tn_a');
    void scheduler.acquire('tn_a');

    const err = await scheduler.acquire('tn_a').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BkError);
    expect((err as BkError).code).toBe('BK_RATE_LIMITED');
    expect((err as BkError).headers['retry-after']).toMatch(/^\d+$/);

    void scheduler.acquire('tn_b');
    expect(scheduler.stats().queuedByTenant).toEqual({ tn_a: 2, tn_b: 1 });
  });

  it('rejects with the abort reason and leaves the queue when aborted while waiting', async () => {
    const scheduler = new FairScheduler({ concurrency: 1, maxQueuedPerTenant: 10 });
    const release = await scheduler.acquire('tn_a');
    const controller = new AbortController();
    const waiting = scheduler.acquire('tn_b', { signal: controller.signal });
    const next = scheduler.acquire('tn_c');
    expect(scheduler.stats().queued).toBe(2);

    const reason = new Error('client went away');
    controller.abort(reason);
    await expect(waiting).rejects.toBe(reason);
    expect(scheduler.stats()).toEqual({ active: 1, queued: 1, queuedByTenant: { tn_c: 1 } });

    release();
    await next;
    expect(scheduler.stats()).toEqual({ active: 1, queued: 0, queuedByTenant: {} });
  });

  it('rejects at once when the signal is already aborted', async () => {
    const scheduler = new FairScheduler({ concurrency: 1, maxQueuedPerTenant: 10 });
    const reason = new Error('gone');
    await expect(scheduler.acquire('tn_a', { signal: AbortSignal.abort(reason) })).rejects.toBe(
      reason,
    );
    expect(scheduler.stats().active).toBe(0);
  });

  it('frees a slot once however often release is called', async () => {
    const scheduler = new FairScheduler({ concurrency: 1, maxQueuedPerTenant: 10 });
    const release = await scheduler.acquire('tn_a');
    const second = scheduler.acquire('tn_b');
    let thirdGranted = false;
    void scheduler.acquire('tn_c').then(() => {
      thirdGranted = true;
    });

    release();
    release();
    await second;
    await settle();
    expect(thirdGranted).toBe(false);
    expect(scheduler.stats()).toEqual({ active: 1, queued: 1, queuedByTenant: { tn_c: 1 } });
  });

  it('hands out slots freed by a raised concurrency', async () => {
    const scheduler = new FairScheduler({ concurrency: 1, maxQueuedPerTenant: 10 });
    await scheduler.acquire('tn_a');
    const waiting = scheduler.acquire('tn_b');
    scheduler.setConcurrency(2);
    await waiting;
    expect(scheduler.stats()).toEqual({ active: 2, queued: 0, queuedByTenant: {} });
  });

  it('refuses invalid options', async () => {
    expect(() => new FairScheduler({ concurrency: 0, maxQueuedPerTenant: 1 })).toThrow(RangeError);
    const scheduler = new FairScheduler({ concurrency: 1, maxQueuedPerTenant: 1 });
    await expect(scheduler.acquire('tn_a', { weight: 0 })).rejects.toThrow(RangeError);
    await expect(scheduler.acquire('tn_a', { cost: Number.NaN })).rejects.toThrow(RangeError);
    expect(scheduler.stats().active).toBe(0);
  });
});

describe('UpstreamSchedulers', () => {
  it('shares one scheduler per endpoint and applies a changed concurrency to new acquires', async () => {
    const schedulers = new UpstreamSchedulers({ maxQueuedPerTenant: 10 });
    const first = schedulers.for('https://api.example.com', 1);
    await first.acquire('tn_a');
    expect(schedulers.for('https://other.example.com', 1)).not.toBe(first);

    const same = schedulers.for('https://api.example.com', 2);
    expect(same).toBe(first);
    await same.acquire('tn_b');
    expect(same.stats()).toEqual({ active: 2, queued: 0, queuedByTenant: {} });
  });

  it('drops a scheduler once it has no holders and no waiters', async () => {
    const schedulers = new UpstreamSchedulers({ maxQueuedPerTenant: 10 });
    const scheduler = schedulers.for('https://api.example.com', 1);
    const release = await scheduler.acquire('tn_a');
    const waiting = scheduler.acquire('tn_b');
    release();
    const releaseB = await waiting;
    expect(schedulers.for('https://api.example.com', 1)).toBe(scheduler);

    releaseB();
    expect(schedulers.for('https://api.example.com', 1)).not.toBe(scheduler);
  });
});
