import { randomUUID } from 'node:crypto';
import { BkError } from '../../core/errors.ts';
import { type OnStoreDown, StoreFailover, type WarnLog } from '../store/failover.ts';
import type { LimitStore } from '../store/limit-store.ts';
import { formatResetDuration } from './reset-duration.ts';

export type { OnStoreDown } from '../store/failover.ts';

/** Positive numbers; a limit left out is not enforced. */
export interface RateLimits {
  requestsPerMinute?: number;
  tokensPerMinute?: number;
  concurrent?: number;
}

export interface LimitSubject {
  scope: 'tenant' | 'key' | 'user';
  id: string;
  limits: RateLimits;
}

export interface Admission {
  /**
   * OpenAI's x-ratelimit-{limit,remaining,reset}-{requests,tokens} headers, each kind from the
   * subject with the fewest left; only for kinds some subject limits.
   */
  headers: Record<string, string>;
  /**
   * After the call: corrects the token buckets by (actual − estimated), possibly into debt, and
   * ends the concurrency leases. Idempotent; never throws (a store failure is logged).
   */
  settle(actualTokens: number): Promise<void>;
}

const MINUTE_MS = 60_000;
const DEFAULT_LEASE_TTL_MS = 10 * MINUTE_MS;
/** A concurrency slot frees when some call in flight ends, which cannot be foreseen. */
const CONCURRENCY_RETRY_MS = 1000;

const scopeNames = { tenant: 'this tenant', key: 'this API key', user: 'this user' } as const;

interface PlannedBucket {
  subject: LimitSubject;
  kind: 'requests' | 'tokens';
  key: string;
  capacity: number;
  periodMs: number;
  cost: number;
}

interface PlannedPool {
  subject: LimitSubject;
  key: string;
  limit: number;
  leaseId: string;
  ttlMs: number;
}

function checkLimit(value: number | undefined, name: string): number | undefined {
  if (value !== undefined && !(Number.isFinite(value) && value > 0))
    throw new RangeError(`${name} must be a positive number, not ${value}`);
  return value;
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

/** Headers for the bucket of each kind with the fewest left; `level` is what is left. */
function rateLimitHeaders(buckets: (PlannedBucket & { level: number })[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const kind of ['requests', 'tokens'] as const) {
    const [tightest] = buckets.filter((b) => b.kind === kind).sort((a, b) => a.level - b.level);
    if (tightest === undefined) continue;
    const { capacity, level, periodMs } = tightest;
    headers[`x-ratelimit-limit-${kind}`] = String(capacity);
    headers[`x-ratelimit-remaining-${kind}`] = String(Math.max(0, Math.floor(level)));
    headers[`x-ratelimit-reset-${kind}`] = formatResetDuration(
      ((capacity - level) * periodMs) / capacity,
    );
  }
  return headers;
}

/**
 * Per-minute request and token limits as token buckets (a full minute's worth may come as one
 * burst, then they refill continuously), and concurrency as leases that expire, so a node that
 * dies mid-call cannot hold slots for ever. One admission checks every subject and limit at once:
 * a request refused by one limit consumes none of the others.
 */
export class RateLimiter {
  readonly #failover: StoreFailover;
  readonly #now: () => number;
  readonly #log: WarnLog;
  readonly #leaseTtlMs: number;

  constructor(options: {
    store: LimitStore;
    /** This node's memory store, for tenants that chose 'local' while the shared one is down. */
    local: LimitStore;
    now?: () => number;
    log?: WarnLog;
    /** How long a concurrency slot stays taken when its call never settles. */
    leaseTtlMs?: number;
  }) {
    this.#now = options.now ?? Date.now;
    this.#log = options.log ?? { warn: () => {} };
    this.#leaseTtlMs = options.leaseTtlMs ?? DEFAULT_LEASE_TTL_MS;
    this.#failover = new StoreFailover({
      shared: options.store,
      local: options.local,
      log: this.#log,
      what: 'rate limits',
    });
  }

  /**
   * Refuses with BK_RATE_LIMITED (retry-after and x-ratelimit-* headers), or with
   * BK_LIMIT_STORE_UNAVAILABLE when the store is down and the tenant's policy fails closed.
   */
  async admit(
    tenantId: string,
    subjects: LimitSubject[],
    estimatedTokens: number,
    onStoreDown: OnStoreDown,
  ): Promise<Admission> {
    const now = this.#now();
    const { buckets, pools } = this.#plan(subjects, estimatedTokens);
    if (buckets.length === 0 && pools.length === 0)
      return { headers: {}, settle: () => Promise.resolve() };

    const { store, result } = await this.#failover.run(tenantId, onStoreDown, (s) =>
      s.acquire(tenantId, { now, buckets, leases: pools }),
    );
    const before = buckets.map((b, i) => ({ ...b, level: result.levels[i]! }));
    if (!result.admitted) throw this.#refusal(before, pools, result.inUse);

    let settled = false;
    return {
      headers: rateLimitHeaders(before.map((b) => ({ ...b, level: b.level - b.cost }))),
      settle: async (actualTokens) => {
        if (settled) return;
        settled = true;
        // A call that reports no usage keeps its estimate.
        const actual = Number.isFinite(actualTokens) ? actualTokens : estimatedTokens;
        const corrections = buckets
          .filter((b) => b.kind === 'tokens' && b.cost !== actual)
          .map(({ key, capacity, periodMs, cost }) => ({
            key,
            capacity,
            periodMs,
            amount: cost - actual,
          }));
        const leases = pools.map(({ key, leaseId }) => ({ key, leaseId }));
        if (corrections.length === 0 && leases.length === 0) return;
        try {
          await store.release(tenantId, { now: this.#now(), buckets: corrections, leases });
        } catch (err) {
          this.#log.warn(
            { err, tenantId },
            'Could not settle a rate-limit admission: its token correction is lost and its concurrency slots stay taken until their leases expire',
          );
        }
      },
    };
  }

  #plan(subjects: LimitSubject[], estimatedTokens: number) {
    if (!(Number.isFinite(estimatedTokens) && estimatedTokens >= 0))
      throw new RangeError(`estimatedTokens must be a number ≥ 0, not ${estimatedTokens}`);
    const leaseId = randomUUID();
    const buckets: PlannedBucket[] = [];
    const pools: PlannedPool[] = [];
    for (const subject of subjects) {
      const base = `rl:${subject.scope}:${subject.id}`;
      const rpm = checkLimit(subject.limits.requestsPerMinute, 'requestsPerMinute');
      const tpm = checkLimit(subject.limits.tokensPerMinute, 'tokensPerMinute');
      const concurrent = checkLimit(subject.limits.concurrent, 'concurrent');
      if (rpm !== undefined)
        buckets.push({
          subject,
          kind: 'requests',
          key: `${base}:rpm`,
          capacity: rpm,
          periodMs: MINUTE_MS,
          cost: 1,
        });
      if (tpm !== undefined)
        buckets.push({
          subject,
          kind: 'tokens',
          key: `${base}:tpm`,
          capacity: tpm,
          periodMs: MINUTE_MS,
          // A call estimated above a whole minute's tokens waits for a full bucket and leaves it in
          // debt, instead of never passing.
          cost: Math.min(estimatedTokens, tpm),
        });
      if (concurrent !== undefined)
        pools.push({
          subject,
          key: `${base}:concurrent`,
          limit: concurrent,
          leaseId,
          ttlMs: this.#leaseTtlMs,
        });
    }
    return { buckets, pools };
  }

  /** Names the limit that frees last: the request needs all of them. */
  #refusal(
    buckets: (PlannedBucket & { level: number })[],
    pools: PlannedPool[],
    inUse: number[],
  ): BkError {
    const refusals = [
      ...buckets
        .filter((b) => b.level < b.cost)
        .map((b) => ({
          subject: b.subject,
          limit: `${plural(b.capacity, b.kind === 'requests' ? 'request' : 'token')} per minute`,
          waitMs: ((b.cost - b.level) * b.periodMs) / b.capacity,
        })),
      ...pools
        .filter((p, i) => inUse[i]! >= p.limit)
        .map((p) => ({
          subject: p.subject,
          limit: plural(p.limit, 'concurrent request'),
          waitMs: CONCURRENCY_RETRY_MS,
        })),
    ];
    const [worst] = refusals.sort((a, b) => b.waitMs - a.waitMs);
    if (worst === undefined)
      throw new Error('The limit store refused a request every limit allows');
    const retryAfter = Math.max(1, Math.ceil(worst.waitMs / 1000));
    return new BkError(
      'BK_RATE_LIMITED',
      `Rate limit reached: ${worst.limit} for ${scopeNames[worst.subject.scope]}. Retry after ${retryAfter}s.`,
      { headers: { 'retry-after': String(retryAfter), ...rateLimitHeaders(buckets) } },
    );
  }
}
