import { BkError } from '../../core/errors.ts';
import { type OnStoreDown, StoreFailover, type WarnLog } from '../store/failover.ts';
import {
  type LimitStore,
  LimitStoreUnavailable,
  type ReserveResult,
  type SpendCounter,
} from '../store/limit-store.ts';
import { type BudgetWindow, type WindowSpan, budgetWindow } from './budget-window.ts';

export type { BudgetWindow } from './budget-window.ts';

/** Money is in nano-USD; a limit left out is not enforced. */
export interface BudgetSubject {
  scope: 'tenant' | 'key';
  id: string;
  window: BudgetWindow;
  softNanoUsd?: number;
  hardNanoUsd?: number;
}

export interface ThresholdCrossing {
  scope: BudgetSubject['scope'];
  id: string;
  window: BudgetWindow;
  windowStart: Date;
  threshold: 'soft' | 'hard';
  limitNanoUsd: number;
  spentNanoUsd: number;
}

export interface BudgetReservation {
  /**
   * Replaces the reservation by the actual cost. Returns the thresholds this settle crossed: each
   * (subject, window, threshold) once, across every node sharing the store. Idempotent; never
   * throws (a store failure is logged).
   */
  settle(actualNanoUsd: number): Promise<ThresholdCrossing[]>;
}

/**
 * Spend recorded in the database for a subject and window, to seed a counter the store lacks.
 * Given per call, so it reads inside the scope of the request's own tenant context.
 */
export type LoadSpent = (
  subject: BudgetSubject,
  windowStart: Date,
  windowEnd: Date,
) => Promise<number>;

/** Counters outlive their window by this much, for calls reserved just before it ended. */
const KEEP_AFTER_WINDOW_MS = 24 * 60 * 60 * 1000;
/** Seeding takes one more pass; a third only if a counter vanished in between. */
const MAX_RESERVE_PASSES = 3;

interface Counter {
  subject: BudgetSubject;
  span: WindowSpan;
  key: string;
}

function wholeNanoUsd(value: number): number {
  return Math.max(0, Math.round(value));
}

/** $1.50, $0.000123: cents always, further digits only when not zero. */
export function formatUsd(nanoUsd: number): string {
  const [whole, fraction = ''] = (nanoUsd / 1e9).toFixed(9).replace(/0+$/, '').split('.');
  return `$${whole}.${fraction.padEnd(2, '0')}`;
}

function refusal(
  { subject, span }: Counter,
  spent: number,
  reserved: number,
  estimate: number,
): BkError {
  const owner = subject.scope === 'tenant' ? "This tenant's" : "This API key's";
  const period = subject.window === 'day' ? 'daily' : 'monthly';
  return new BkError(
    'BK_BUDGET_EXCEEDED',
    `Budget exceeded: ${owner} ${period} budget of ${formatUsd(subject.hardNanoUsd ?? 0)} would be passed ` +
      `(${formatUsd(spent + reserved)} spent or reserved, this request may cost up to ${formatUsd(estimate)}). ` +
      `It resets at ${span.end.toISOString()}.`,
  );
}

/**
 * Money budgets per UTC day or month. A call reserves its estimated cost against every hard limit
 * at once and settles with its actual cost; the counters start from the spend already recorded in
 * the database, read once per window by whichever node needs the counter first.
 */
export class BudgetGuard {
  readonly #failover: StoreFailover;
  readonly #now: () => number;
  readonly #log: WarnLog;
  /** Loads in flight, so a burst of first calls reads the database once per node. */
  readonly #loading = new Map<string, Promise<number>>();

  constructor(options: {
    store: LimitStore;
    /** This node's memory store, for tenants that chose 'local' while the shared one is down. */
    local: LimitStore;
    now?: () => number;
    log?: WarnLog;
  }) {
    this.#now = options.now ?? Date.now;
    this.#log = options.log ?? { warn: () => {} };
    this.#failover = new StoreFailover({
      shared: options.store,
      local: options.local,
      log: this.#log,
      what: 'budgets',
    });
  }

  /**
   * Reserves the estimated cost against every subject, or refuses (BK_BUDGET_EXCEEDED) when
   * spent + reserved + estimate would pass any hard limit; then nothing is reserved.
   */
  async reserve(
    tenantId: string,
    subjects: BudgetSubject[],
    estimatedNanoUsd: number,
    onStoreDown: OnStoreDown,
    loadSpent: LoadSpent,
  ): Promise<BudgetReservation> {
    const now = this.#now();
    const estimate = wholeNanoUsd(estimatedNanoUsd);
    const counters = subjects
      .filter((s) => s.softNanoUsd !== undefined || s.hardNanoUsd !== undefined)
      .map((subject): Counter => {
        const span = budgetWindow(subject.window, now);
        return {
          subject,
          span,
          key: `bg:${subject.scope}:${subject.id}:${subject.window}:${span.label}`,
        };
      });
    if (counters.length === 0) return { settle: () => Promise.resolve([]) };

    const { store, result } = await this.#failover.run(tenantId, onStoreDown, (s) =>
      this.#reserveIn(s, tenantId, counters, estimate, now, loadSpent),
    );
    if (result.outcome === 'refused')
      throw refusal(counters[result.index]!, result.spentNanoUsd, result.reservedNanoUsd, estimate);

    let settled = false;
    return {
      settle: async (actualNanoUsd) => {
        if (settled) return [];
        settled = true;
        // A call that reports no cost keeps its estimate.
        const actual = Number.isFinite(actualNanoUsd) ? wholeNanoUsd(actualNanoUsd) : estimate;
        try {
          const reached = await store.settleSpend(tenantId, {
            now: this.#now(),
            reservedNanoUsd: estimate,
            actualNanoUsd: actual,
            counters: counters.map(({ key, subject }) => ({
              key,
              softNanoUsd: subject.softNanoUsd,
              hardNanoUsd: subject.hardNanoUsd,
            })),
          });
          return reached.map(({ index, threshold, spentNanoUsd }) => {
            const { subject, span } = counters[index]!;
            return {
              scope: subject.scope,
              id: subject.id,
              window: subject.window,
              windowStart: span.start,
              threshold,
              limitNanoUsd: (threshold === 'soft' ? subject.softNanoUsd : subject.hardNanoUsd)!,
              spentNanoUsd,
            };
          });
        } catch (err) {
          this.#log.warn(
            { err, tenantId },
            'Could not settle a budget reservation: the counters keep its estimate reserved instead of its actual cost',
          );
          return [];
        }
      },
    };
  }

  async #reserveIn(
    store: LimitStore,
    tenantId: string,
    counters: Counter[],
    amountNanoUsd: number,
    now: number,
    loadSpent: LoadSpent,
  ): Promise<Exclude<ReserveResult, { outcome: 'unseeded' }>> {
    const seeds = new Map<number, number>();
    for (let pass = 1; pass <= MAX_RESERVE_PASSES; pass++) {
      const result = await store.reserveSpend(tenantId, {
        now,
        amountNanoUsd,
        counters: counters.map(({ key, subject, span }, index): SpendCounter => ({
          key,
          ttlMs: span.end.getTime() - now + KEEP_AFTER_WINDOW_MS,
          softNanoUsd: subject.softNanoUsd,
          hardNanoUsd: subject.hardNanoUsd,
          seedNanoUsd: seeds.get(index),
        })),
      });
      if (result.outcome !== 'unseeded') return result;
      await Promise.all(
        result.indexes.map(async (index) =>
          seeds.set(index, await this.#spentSoFar(tenantId, counters[index]!, loadSpent)),
        ),
      );
    }
    throw new LimitStoreUnavailable(new Error('budget counters vanish as soon as they are seeded'));
  }

  #spentSoFar(
    tenantId: string,
    { subject, span, key }: Counter,
    loadSpent: LoadSpent,
  ): Promise<number> {
    const loadKey = `${tenantId}/${key}`;
    let loading = this.#loading.get(loadKey);
    if (loading === undefined) {
      loading = loadSpent(subject, span.start, span.end)
        .then(wholeNanoUsd)
        .finally(() => this.#loading.delete(loadKey));
      this.#loading.set(loadKey, loading);
    }
    return loading;
  }
}
