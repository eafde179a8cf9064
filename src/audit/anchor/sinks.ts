import { open } from 'node:fs/promises';

/** Somewhere outside the database that checkpoints go to and are never taken back from. */
export interface AnchorSink {
  readonly name: string;
  /** Resolves once the sink holds every line; rejects if it may not. */
  publish(lines: readonly string[]): Promise<void>;
}

/**
 * An append-only file: opened with O_APPEND for each batch (so log rotation and other writers are
 * safe), written in one call, fsync'd before the batch counts as published.
 */
export class FileSink implements AnchorSink {
  readonly name = 'file';
  constructor(readonly path: string) {}

  async publish(lines: readonly string[]): Promise<void> {
    if (lines.length === 0) return;
    const handle = await open(this.path, 'a', 0o640);
    try {
      await handle.write(lines.map((l) => `${l}\n`).join(''));
      await handle.sync();
    } finally {
      await handle.close();
    }
  }
}

export interface HttpSinkOptions {
  url: string;
  /** Attempts per checkpoint before the batch is given back to the next tick. */
  attempts?: number;
  /** First pause between attempts; doubled after each failure. */
  backoffMs?: number;
  timeoutMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * POSTs each checkpoint (one JSON document per request, the same as a file line) to a transparency
 * log, timestamping service or any collector. A 2xx means it is held; anything else is retried with
 * exponential backoff, and a checkpoint that still fails fails the batch (the publisher logs it
 * and tries again on a later tick).
 */
export class HttpSink implements AnchorSink {
  readonly name = 'url';
  readonly #url: string;
  readonly #attempts: number;
  readonly #backoffMs: number;
  readonly #timeoutMs: number;
  readonly #sleep: (ms: number) => Promise<void>;

  constructor(options: HttpSinkOptions) {
    this.#url = options.url;
    this.#attempts = options.attempts ?? 4;
    this.#backoffMs = options.backoffMs ?? 500;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.#sleep = options.sleep ?? pause;
  }

  async publish(lines: readonly string[]): Promise<void> {
    for (const line of lines) await this.#post(line);
  }

  async #post(line: string): Promise<void> {
    let lastError = '';
    for (let attempt = 0; attempt < this.#attempts; attempt++) {
      if (attempt > 0) await this.#sleep(this.#backoffMs * 2 ** (attempt - 1));
      try {
        const response = await fetch(this.#url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: line,
          signal: AbortSignal.timeout(this.#timeoutMs),
        });
        await response.body?.cancel();
        if (response.ok) return;
        lastError = `HTTP ${response.status}`;
      } catch (err) {
        lastError = (err as Error).message;
      }
    }
    throw new Error(
      `the anchor URL did not take a checkpoint after ${this.#attempts} attempts: ${lastError}`,
    );
  }
}
