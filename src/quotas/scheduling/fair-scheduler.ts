import { BkError } from '../../core/errors.ts';

export type Release = () => void;

export interface AcquireOptions {
  /** The tenant's share relative to other waiting tenants; the latest acquire's weight applies. */
  weight?: number;
  /** What this request uses of the tenant's turn (e.g. estimated tokens); it holds one slot either way. */
  cost?: number;
  signal?: AbortSignal;
}

interface Waiter {
  readonly cost: number;
  readonly grant: (release: Release) => void;
}

interface TenantQueue {
  readonly waiters: Set<Waiter>;
  weight: number;
  deficit: number;
}

// The queue drains at whatever speed the upstream answers, which this scheduler cannot know; a short
// hint keeps well-behaved clients from hammering without making them wait needlessly long.
const QUEUE_FULL_RETRY_AFTER_SECONDS = '1';

function assertPositive(name: string, value: number): void {
  if (!Number.isFinite(value) || value <= 0) {
    throw new RangeError(`${name} must be a positive number, got ${value}`);
  }
}

function assertCount(name: string, value: number, min: number): void {
  if (!Number.isInteger(value) || value < min) {
    throw new RangeError(`${name} must be an integer of at least ${min}, got ${value}`);
  }
}

/**
 * Shares one upstream endpoint's concurrency between tenants. While a slot is free, requests go
 * straight through; once the endpoint is saturated, each tenant waits in its own queue and freed
 * slots go to the queues by weighted deficit round-robin (Shreedhar & Varghese, "Efficient Fair
 * Queueing using Deficit Round Robin", 1995): on its turn a tenant earns `weight` credit and
 * dispatches requests while their cost fits its credit, so a burst from one tenant costs the others
 * at most one turn each.
 */
export class FairScheduler {
  #concurrency: number;
  readonly #maxQueuedPerTenant: number;
  readonly #onIdle: (() => void) | undefined;
  #active = 0;
  #queued = 0;
  /** Tenants with waiting requests, in round-robin order: the first entry holds the turn. */
  readonly #ring = new Map<string, TenantQueue>();
  /** Whether the tenant holding the turn has already earned its credit for this turn. */
  #turnCredited = false;

  constructor(options: { concurrency: number; maxQueuedPerTenant: number; onIdle?: () => void }) {
    assertCount('concurrency', options.concurrency, 1);
    assertCount('maxQueuedPerTenant', options.maxQueuedPerTenant, 0);
    this.#concurrency = options.concurrency;
    this.#maxQueuedPerTenant = options.maxQueuedPerTenant;
    this.#onIdle = options.onIdle;
  }

  /** A lower limit lets current holders finish; slots are handed out again once under it. */
  setConcurrency(concurrency: number): void {
    assertCount('concurrency', concurrency, 1);
    this.#concurrency = concurrency;
    this.#dispatch();
  }

  async acquire(tenantId: string, options: AcquireOptions = {}): Promise<Release> {
    const weight = options.weight ?? 1;
    const cost = options.cost ?? 1;
    assertPositive('weight', weight);
    assertPositive('cost', cost);
    const signal = options.signal;
    signal?.throwIfAborted();

    // #dispatch hands every free slot to a waiter, so a free slot means nobody is queued ahead.
    if (this.#active < this.#concurrency) return this.#occupySlot();

    let queue = this.#ring.get(tenantId);
    if ((queue?.waiters.size ?? 0) >= this.#maxQueuedPerTenant) {
      throw new BkError(
        'BK_RATE_LIMITED',
        `Too many requests from this tenant are already waiting for this upstream (limit ${this.#maxQueuedPerTenant}).`,
        { headers: { 'retry-after': QUEUE_FULL_RETRY_AFTER_SECONDS } },
      );
    }
    if (queue === undefined) {
      queue = { waiters: new Set(), weight, deficit: 0 };
      this.#ring.set(tenantId, queue);
    }
    queue.weight = weight;

    const tenantQueue = queue;
    const granted = await new Promise<Release | undefined>((resolve) => {
      const onAbort = (): void => {
        this.#leave(tenantId, tenantQueue, waiter);
        resolve(undefined);
      };
      const waiter: Waiter = {
        cost,
        grant: (release) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(release);
        },
      };
      tenantQueue.waiters.add(waiter);
      this.#queued += 1;
      signal?.addEventListener('abort', onAbort, { once: true });
    });
    // Only an abort settles the wait without a grant; its reason is passed on as given, like fetch does.
    if (granted === undefined) throw signal?.reason;
    return granted;
  }

  stats(): { active: number; queued: number; queuedByTenant: Record<string, number> } {
    const queuedByTenant: Record<string, number> = {};
    for (const [tenantId, queue] of this.#ring) queuedByTenant[tenantId] = queue.waiters.size;
    return { active: this.#active, queued: this.#queued, queuedByTenant };
  }

  #occupySlot(): Release {
    this.#active += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#active -= 1;
      this.#dispatch();
      this.#notifyIfIdle();
    };
  }

  #leave(tenantId: string, queue: TenantQueue, waiter: Waiter): void {
    if (!queue.waiters.delete(waiter)) return;
    this.#queued -= 1;
    if (queue.waiters.size === 0) this.#dropFromRing(tenantId);
    this.#notifyIfIdle();
  }

  #dropFromRing(tenantId: string): void {
    if (this.#ring.keys().next().value === tenantId) this.#turnCredited = false;
    this.#ring.delete(tenantId);
  }

  #passTurn(tenantId: string, queue: TenantQueue): void {
    this.#ring.delete(tenantId);
    this.#ring.set(tenantId, queue);
    this.#turnCredited = false;
  }

  #dispatch(): void {
    let turnsWithoutDispatch = 0;
    while (this.#active < this.#concurrency) {
      const turn = this.#ring.entries().next();
      if (turn.done === true) return;
      const [tenantId, queue] = turn.value;
      const head = queue.waiters.values().next();
      if (head.done === true) {
        this.#dropFromRing(tenantId);
        continue;
      }
      const waiter = head.value;
      if (!this.#turnCredited) {
        queue.deficit += queue.weight;
        this.#turnCredited = true;
      }
      if (waiter.cost > queue.deficit) {
        this.#passTurn(tenantId, queue);
        turnsWithoutDispatch += 1;
        if (turnsWithoutDispatch >= this.#ring.size) {
          this.#skipIdleRounds();
          turnsWithoutDispatch = 0;
        }
        continue;
      }
      turnsWithoutDispatch = 0;
      queue.deficit -= waiter.cost;
      queue.waiters.delete(waiter);
      this.#queued -= 1;
      // DRR: an emptied queue keeps no credit, so a tenant cannot bank turns while it is idle.
      if (queue.waiters.size === 0) {
        queue.deficit = 0;
        this.#dropFromRing(tenantId);
      }
      waiter.grant(this.#occupySlot());
    }
  }

  /**
   * When a whole round passed with every head request costing more than its tenant's credit, the
   * rounds until the first one fits would only add credit: add it at once instead of looping
   * (costs can be token counts against weights of 1).
   */
  #skipIdleRounds(): void {
    let rounds = Infinity;
    for (const queue of this.#ring.values()) {
      const head = queue.waiters.values().next();
      if (head.done === true) continue;
      rounds = Math.min(rounds, Math.ceil((head.value.cost - queue.deficit) / queue.weight));
    }
    if (!Number.isFinite(rounds) || rounds <= 1) return;
    for (const queue of this.#ring.values()) queue.deficit += (rounds - 1) * queue.weight;
  }

  #notifyIfIdle(): void {
    if (this.#active === 0 && this.#queued === 0) this.#onIdle?.();
  }
}

/**
 * One scheduler per upstream endpoint key (e.g. a provider's base URL origin). A scheduler with no
 * holders and no waiters is dropped, so call `acquire` on the returned scheduler right away rather
 * than keeping it: a kept one may no longer be the endpoint's scheduler.
 */
export class UpstreamSchedulers {
  readonly #maxQueuedPerTenant: number;
  readonly #schedulers = new Map<string, FairScheduler>();

  constructor(options: { maxQueuedPerTenant: number }) {
    assertCount('maxQueuedPerTenant', options.maxQueuedPerTenant, 0);
    this.#maxQueuedPerTenant = options.maxQueuedPerTenant;
  }

  /** A changed `concurrency` applies to the endpoint's next acquires; current holders keep their slots. */
  for(endpointKey: string, concurrency: number): FairScheduler {
    const existing = this.#schedulers.get(endpointKey);
    if (existing !== undefined) {
      existing.setConcurrency(concurrency);
      return existing;
    }
    const scheduler: FairScheduler = new FairScheduler({
      concurrency,
      maxQueuedPerTenant: this.#maxQueuedPerTenant,
      onIdle: () => {
        if (this.#schedulers.get(endpointKey) === scheduler) this.#schedulers.delete(endpointKey);
      },
    });
    this.#schedulers.set(endpointKey, scheduler);
    return scheduler;
  }
}
