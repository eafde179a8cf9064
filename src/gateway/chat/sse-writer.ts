import type { ServerResponse } from 'node:http';
import { once } from 'node:events';

/** Server-sent events onto a raw response, respecting backpressure. */
export class SseWriter {
  readonly #raw: ServerResponse;

  constructor(raw: ServerResponse, headers: Record<string, string>) {
    this.#raw = raw;
    raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
      ...headers,
    });
  }

  get open(): boolean {
    return !this.#raw.destroyed && !this.#raw.writableEnded;
  }

  async data(payload: unknown): Promise<void> {
    await this.#write(
      `data: ${typeof payload === 'string' ? payload : JSON.stringify(payload)}\n\n`,
    );
  }

  end(): void {
    if (this.open) this.#raw.end();
  }

  async #write(text: string): Promise<void> {
    if (!this.open) return;
    if (!this.#raw.write(text)) {
      await Promise.race([once(this.#raw, 'drain'), once(this.#raw, 'close')]);
    }
  }
}
