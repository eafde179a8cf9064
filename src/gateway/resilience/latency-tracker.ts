/**
 * A smoothed latency per key (an upstream endpoint or model), for choosing between candidates.
 *
 * The estimate is an exponentially weighted moving average: each observation moves it by `alpha`
 * (default 0.2) of the difference, so it follows a lasting change within about ten observations
 * while one slow request moves it by a fifth at most. The first observation is taken as is, so a new
 * key does not start from zero.
 *
 * At most `maxKeys` keys are kept (default 1000); the one observed least recently is dropped first.
 * Reads do not count as use: a key nobody measures any more has a stale estimate anyway.
 */
export class LatencyTracker {
  readonly #alpha: number;
  readonly #maxKeys: number;
  readonly #estimates = new Map<string, number>();

  constructor(options: { alpha?: number; maxKeys?: number } = {}) {
    const alpha = options.alpha ?? 0.2;
    const maxKeys = options.maxKeys ?? 1000;
    if (!(alpha > 0 && alpha <= 1)) throw new RangeError(`alpha must be in (0, 1], got ${alpha}`);
    if (!Number.isInteger(maxKeys) || maxKeys < 1) {
      throw new RangeError(`maxKeys must be a positive integer, got ${maxKeys}`);
    }
    this.#alpha = alpha;
    this.#maxKeys = maxKeys;
  }

  observe(key: string, ms: number): void {
    // One NaN would poison the average for good.
    if (!Number.isFinite(ms) || ms < 0) return;
    const previous = this.#estimates.get(key);
    const next = previous === undefined ? ms : previous + this.#alpha * (ms - previous);
    // Re-inserting moves the key to the end of the Map's insertion order: the front is least recent.
    this.#estimates.delete(key);
    this.#estimates.set(key, next);
    if (this.#estimates.size > this.#maxKeys) {
      const oldest = this.#estimates.keys().next();
      if (oldest.done !== true) this.#estimates.delete(oldest.value);
    }
  }

  estimate(key: string): number | undefined {
    return this.#estimates.get(key);
  }
}
