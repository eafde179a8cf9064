/**
 * Work a node repeats in the background (sweeps, publishing): the next run is scheduled one
 * interval after the previous one ends, so runs never overlap; the timer never keeps the process
 * alive; `stop` cancels the next run and waits for one in progress. `run` must not throw (log and
 * carry on: a failed run is retried at the next interval).
 */
export class IntervalTask {
  readonly #intervalMs: number;
  readonly #run: () => Promise<void>;
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<void> | null = null;
  #stopped = false;

  /** An interval of 0 means never. */
  constructor(intervalMs: number, run: () => Promise<void>) {
    this.#intervalMs = intervalMs;
    this.#run = run;
  }

  /** Schedules the first run one interval from now. */
  start(): void {
    if (this.#intervalMs === 0 || this.#stopped || this.#timer !== null) return;
    this.#schedule();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    await this.#running;
  }

  #schedule(): void {
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#running = this.#run().finally(() => {
        this.#running = null;
        if (!this.#stopped) this.#schedule();
      });
    }, this.#intervalMs);
    this.#timer.unref();
  }
}
