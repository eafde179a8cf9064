import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BkError } from '../../core/errors.ts';
import { MemoryLimitStore } from '../store/memory-limit-store.ts';
import { RedisLimitStore } from '../store/redis-limit-store.ts';
import {
  backends,
  FlakyStore,
  type OpenBackend,
  UNREACHABLE_REDIS_URL,
} from '../store/test-backends.ts';
import {
  type BudgetSubject,
  BudgetGuard,
  type ThresholdCrossing,
  formatUsd,
} from './budget-guard.ts';
import { budgetWindow } from './budget-window.ts';
import type { OnStoreDown } from '../store/failover.ts';

const TENANT = 'tn_0000000000budgetstenant0';
/** A call's cost: ten cents. */
const C = 100_000_000;

async function refusal(promise: Promise<unknown>): Promise<BkError> {
  const err: unknown = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  if (!(err instanceof BkError)) throw new Error(`expected a BkError, got ${String(err)}`);
  return err;
}

/** The usage records of every tenant; a request's loader reads its own tenant's. */
type TenantSpend = (
  tenantId: string,
  subject: BudgetSubject,
  windowStart: Date,
  windowEnd: Date,
) => Promise<number>;

/**
 * A guard as the gateway uses it: each reservation gets a loader bound to the reserving tenant,
 * as the gateway binds it to the request's tenant context.
 */
function withSpend(guard: BudgetGuard, spend: TenantSpend) {
  return {
    reserve: (tenantId: string, subjects: BudgetSubject[], estimate: number, down: OnStoreDown) =>
      guard.reserve(tenantId, subjects, estimate, down, (subject, start, end) =>
        spend(tenantId, subject, start, end),
      ),
  };
}

/** A stand-in for the usage records: what each subject spent so far, and who asked. */
function recordedSpend(spent: Record<string, number> = {}) {
  const calls: { subject: string; windowStart: string; windowEnd: string }[] = [];
  const load: TenantSpend = async (tenantId, subject, windowStart, windowEnd) => {
    calls.push({
      subject: `${subject.scope}:${subject.id}:${subject.window}`,
      windowStart: windowStart.toISOString(),
      windowEnd: windowEnd.toISOString(),
    });
    await new Promise((resolve) => setTimeout(resolve, 5));
    return tenantId === TENANT ? (spent[`${subject.scope}:${subject.id}`] ?? 0) : 0;
  };
  return { load, calls };
}

const keyDaily = (limits: Partial<BudgetSubject> = {}): BudgetSubject => ({
  scope: 'key',
  id: 'key_a',
  window: 'day',
  ...limits,
});
const tenantMonthly = (limits: Partial<BudgetSubject> = {}): BudgetSubject => ({
  scope: 'tenant',
  id: TENANT,
  window: 'month',
  ...limits,
});

describe('budget windows and money', () => {
  it('are UTC calendar days and months', () => {
    const now = Date.UTC(2024, 1, 29, 23, 59, 59, 999);
    expect(budgetWindow('day', now)).toEqual({
      start: new Date('2024-02-29T00:00:00Z'),
      end: new Date('2024-03-01T00:00:00Z'),
      label: '2024-02-29',
    });
    expect(budgetWindow('month', now)).toEqual({
      start: new Date('2024-02-01T00:00:00Z'),
      end: new Date('2024-03-01T00:00:00Z'),
      label: '2024-02',
    });
    expect(budgetWindow('month', Date.UTC(2024, 11, 31, 12)).end).toEqual(
      new Date('2025-01-01T00:00:00Z'),
    );
  });

  it.each([
    [0, '$0.00'],
    [1_500_000_000, '$1.50'],
    [10_000_000_000, '$10.00'],
    [123_000, '$0.000123'],
    [9_000_000_000_000_000, '$9000000.00'],
  ])('%d nano-USD is %s', (nano, text) => {
    expect(formatUsd(nano)).toBe(text);
  });
});

describe.each(backends)('BudgetGuard on $name', (backend) => {
  let now: number;
  let shared: OpenBackend;

  beforeEach(() => {
    now = Date.UTC(2025, 0, 15, 12);
    shared = backend.open();
  });

  afterEach(() => shared.dispose());

  /** A Bulkhead node: its own guard and database reads, the shared counters. */
  const node = (load: TenantSpend = recordedSpend().load) =>
    withSpend(
      new BudgetGuard({
        store: shared.node(),
        local: new MemoryLimitStore(),
        now: () => now,
      }),
      load,
    );

  it('refuses a reservation that would pass a hard limit, naming the window and limit', async () => {
    const guard = node(recordedSpend({ 'key:key_a': 9 * C }).load);
    const subjects = [keyDaily({ hardNanoUsd: 10 * C })];

    const err = await refusal(guard.reserve(TENANT, subjects, 2 * C, 'closed'));
    expect(err.code).toBe('BK_BUDGET_EXCEEDED');
    expect(err.status).toBe(429);
    expect(err.message).toBe(
      "Budget exceeded: This API key's daily budget of $1.00 would be passed ($0.90 spent or reserved, this request may cost up to $0.20). It resets at 2025-01-16T00:00:00.000Z.",
    );

    await guard.reserve(TENANT, subjects, C, 'closed'); // exactly reaches the limit
    const monthly = await refusal(
      guard.reserve(TENANT, [tenantMonthly({ hardNanoUsd: 0 })], 1, 'closed'),
    );
    expect(monthly.message).toMatch(
      /^Budget exceeded: This tenant's monthly budget of \$0.00 .* It resets at 2025-02-01T00:00:00.000Z\.$/,
    );
  });

  it('is all or nothing across subjects', async () => {
    const guard = node();
    const tenantCap = tenantMonthly({ hardNanoUsd: 10 * C });
    await guard.reserve(TENANT, [tenantCap, keyDaily({ hardNanoUsd: 5 * C })], 4 * C, 'closed');

    await expect(
      guard.reserve(TENANT, [tenantCap, keyDaily({ hardNanoUsd: 5 * C })], 2 * C, 'closed'),
    ).rejects.toThrow(/API key's daily budget of \$0.50/);

    // Had the refused call reserved its 2C against the tenant, 4 + 2 + 6 would pass 10.
    const otherKey = keyDaily({ id: 'key_b', hardNanoUsd: 6 * C });
    await guard.reserve(TENANT, [tenantCap, otherKey], 6 * C, 'closed');
    await expect(guard.reserve(TENANT, [tenantCap], 1, 'closed')).rejects.toThrow(BkError);
  });

  it('replaces the reservation by the actual cost, once', async () => {
    const guard = node();
    const subjects = [keyDaily({ hardNanoUsd: 10 * C })];
    const reservation = await guard.reserve(TENANT, subjects, 8 * C, 'closed');
    await reservation.settle(2 * C);
    await reservation.settle(2 * C);

    const next = await guard.reserve(TENANT, subjects, 8 * C, 'closed');
    await expect(guard.reserve(TENANT, subjects, 1, 'closed')).rejects.toThrow(BkError);
    await next.settle(9 * C); // over the estimate: spent may pass the hard limit
    await expect(guard.reserve(TENANT, subjects, 0, 'closed')).rejects.toThrow(
      /\$1.10 spent or reserved/,
    );
  });

  it('admits exactly ten of fifty parallel first calls against a limit of ten, through three nodes', async () => {
    const nodes = [node(), node(), node()];
    const subjects = [tenantMonthly({ hardNanoUsd: 10 * C })];
    const results = await Promise.allSettled(
      Array.from({ length: 50 }, (_, i) => nodes[i % 3]!.reserve(TENANT, subjects, C, 'closed')),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(10);
    const refused = results.flatMap((r) => (r.status === 'rejected' ? [r.reason] : []));
    expect(refused.every((e) => e instanceof BkError && e.code === 'BK_BUDGET_EXCEEDED')).toBe(
      true,
    );
  });

  it('seeds each counter from the recorded spend once per window', async () => {
    const { load, calls } = recordedSpend({ 'key:key_a': 3 * C, [`tenant:${TENANT}`]: 5 * C });
    const guard = node(load);
    const subjects = [
      keyDaily({ hardNanoUsd: 4 * C }),
      tenantMonthly({ hardNanoUsd: 100 * C }),
      keyDaily({ id: 'key_unlimited' }), // no limits: no counter
    ];

    await Promise.all(
      Array.from({ length: 10 }, () => guard.reserve(TENANT, subjects, 0, 'closed')),
    );
    await guard.reserve(TENANT, subjects, C, 'closed');
    await expect(guard.reserve(TENANT, subjects, 1, 'closed')).rejects.toThrow(
      /\$0.40 spent or reserved/,
    );
    expect(calls).toEqual([
      {
        subject: 'key:key_a:day',
        windowStart: '2025-01-15T00:00:00.000Z',
        windowEnd: '2025-01-16T00:00:00.000Z',
      },
      {
        subject: `tenant:${TENANT}:month`,
        windowStart: '2025-01-01T00:00:00.000Z',
        windowEnd: '2025-02-01T00:00:00.000Z',
      },
    ]);

    // Another node finds the counters already seeded.
    const { load: otherLoad, calls: otherCalls } = recordedSpend();
    await node(otherLoad).reserve(TENANT, [tenantMonthly({ hardNanoUsd: 100 * C })], 0, 'closed');
    expect(otherCalls).toEqual([]);

    // The next day is a new window for the daily budget only.
    now += 24 * 60 * 60 * 1000;
    await guard.reserve(TENANT, subjects, 0, 'closed');
    expect(calls.slice(2)).toEqual([
      {
        subject: 'key:key_a:day',
        windowStart: '2025-01-16T00:00:00.000Z',
        windowEnd: '2025-01-17T00:00:00.000Z',
      },
    ]);
  });

  it('reports each threshold once, across nodes', async () => {
    const nodes = [node(), node(), node()];
    const subjects = [
      keyDaily({ softNanoUsd: 5 * C, hardNanoUsd: 10 * C }),
      tenantMonthly({ softNanoUsd: 7 * C }),
    ];
    const reservations = await Promise.all(
      Array.from({ length: 10 }, (_, i) => nodes[i % 3]!.reserve(TENANT, subjects, C, 'closed')),
    );
    const crossings = (await Promise.all(reservations.map((r) => r.settle(C)))).flat();

    const sorted = crossings.sort((a, b) => a.limitNanoUsd - b.limitNanoUsd);
    expect(sorted).toEqual<ThresholdCrossing[]>([
      {
        scope: 'key',
        id: 'key_a',
        window: 'day',
        windowStart: new Date('2025-01-15T00:00:00Z'),
        threshold: 'soft',
        limitNanoUsd: 5 * C,
        spentNanoUsd: 5 * C,
      },
      {
        scope: 'tenant',
        id: TENANT,
        window: 'month',
        windowStart: new Date('2025-01-01T00:00:00Z'),
        threshold: 'soft',
        limitNanoUsd: 7 * C,
        spentNanoUsd: 7 * C,
      },
      {
        scope: 'key',
        id: 'key_a',
        window: 'day',
        windowStart: new Date('2025-01-15T00:00:00Z'),
        threshold: 'hard',
        limitNanoUsd: 10 * C,
        spentNanoUsd: 10 * C,
      },
    ]);

    // Already reported: spending on past the thresholds reports nothing more.
    const more = await nodes[0]!.reserve(
      TENANT,
      [tenantMonthly({ softNanoUsd: 7 * C })],
      C,
      'closed',
    );
    expect(await more.settle(C)).toEqual([]);
  });

  it('reports a crossing in the window the call reserved in, even when it settles after', async () => {
    now = Date.UTC(2025, 0, 15, 23, 59, 59, 900);
    const guard = node();
    const reservation = await guard.reserve(TENANT, [keyDaily({ softNanoUsd: C })], C, 'closed');
    now += 1000;
    const [crossing] = await reservation.settle(C);
    expect(crossing?.windowStart).toEqual(new Date('2025-01-15T00:00:00Z'));
  });

  it('treats thresholds the recorded spend is already past as reported', async () => {
    const guard = node(recordedSpend({ 'key:key_a': 6 * C }).load);
    const subjects = [keyDaily({ softNanoUsd: 5 * C, hardNanoUsd: 8 * C })];
    expect(await (await guard.reserve(TENANT, subjects, C, 'closed')).settle(C)).toEqual([]);
    const crossings = await (await guard.reserve(TENANT, subjects, C, 'closed')).settle(C);
    expect(crossings.map((c) => [c.threshold, c.spentNanoUsd])).toEqual([['hard', 8 * C]]);
  });
});

describe('BudgetGuard when the limit store is down', () => {
  let down: RedisLimitStore;
  let warnings: string[];
  const log = { warn: (_obj: object, msg: string) => warnings.push(msg) };

  beforeEach(() => {
    down = new RedisLimitStore(UNREACHABLE_REDIS_URL);
    warnings = [];
  });

  afterEach(() => down.close());

  it('refuses when the tenant’s policy fails closed', async () => {
    const { load, calls } = recordedSpend();
    const guard = withSpend(
      new BudgetGuard({
        store: down,
        local: new MemoryLimitStore(),
        log,
      }),
      load,
    );
    const err = await refusal(guard.reserve(TENANT, [keyDaily({ hardNanoUsd: C })], 1, 'closed'));
    expect(err.code).toBe('BK_LIMIT_STORE_UNAVAILABLE');
    expect(err.message).toMatch(/limit store is unreachable.*fails closed.*budgets/);
    expect(calls).toEqual([]);
  });

  it('keeps budgets on this node, seeded from the recorded spend, when the tenant chose local', async () => {
    const { load, calls } = recordedSpend({ 'key:key_a': 9 * C });
    const guard = withSpend(
      new BudgetGuard({
        store: down,
        local: new MemoryLimitStore(),
        log,
      }),
      load,
    );
    const subjects = [keyDaily({ hardNanoUsd: 10 * C })];
    await guard.reserve(TENANT, subjects, C, 'local');
    await expect(guard.reserve(TENANT, subjects, 1, 'local')).rejects.toThrow(
      /daily budget of \$1.00/,
    );
    expect(calls).toHaveLength(1);
    expect(warnings).toEqual([expect.stringMatching(/unreachable: budgets .* per node/)]);
  });

  it('settles without throwing when the store fails after reserving', async () => {
    const flaky = new FlakyStore();
    const guard = withSpend(
      new BudgetGuard({
        store: flaky,
        local: new MemoryLimitStore(),
        log,
      }),
      recordedSpend().load,
    );
    const reservation = await guard.reserve(TENANT, [keyDaily({ softNanoUsd: 1 })], C, 'closed');
    flaky.down = true;
    await expect(reservation.settle(C)).resolves.toEqual([]);
    expect(warnings).toEqual([expect.stringMatching(/Could not settle a budget reservation/)]);
  });
});
