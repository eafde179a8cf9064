import autocannon from 'autocannon';

export interface LoadTarget {
  name: string;
  url: string;
  headers: Record<string, string>;
  body: string;
}

export interface LoadResult {
  /** Responses with a 2xx status. */
  ok: number;
  non2xx: number;
  /** Connection errors and timeouts. */
  errors: number;
  /** Requests still in flight when autocannon stopped (their responses were never read). */
  cutOff: number;
  statusCodes: Record<string, number>;
  durationS: number;
  /** 2xx responses per second of wall time. */
  rps: number;
  /** Latency percentiles of 2xx responses, ms. */
  p50: number;
  p99: number;
}

/**
 * One autocannon run against a target, at a fixed number of connections (one request in flight on
 * each: no pipelining). Either for `durationS` seconds, or for exactly `amount` requests.
 *
 * Latencies are collected from the per-response event rather than autocannon's histogram, which
 * keeps whole milliseconds only: the direct upstream answers in about a millisecond, so the
 * difference a gateway adds would otherwise be lost in rounding.
 */
export function runLoad(
  target: LoadTarget,
  options: { connections: number; durationS?: number; amount?: number },
): Promise<LoadResult> {
  const latencies: number[] = [];
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: target.url,
        method: 'POST',
        headers: { 'content-type': 'application/json', ...target.headers },
        body: target.body,
        connections: options.connections,
        pipelining: 1,
        timeout: 10,
        ...(options.amount !== undefined
          ? { amount: options.amount }
          : { duration: options.durationS ?? 10 }),
      },
      (err: unknown, result: autocannon.Result) => {
        if (err !== null && err !== undefined) {
          reject(err instanceof Error ? err : new Error('autocannon failed', { cause: err }));
          return;
        }
        latencies.sort((a, b) => a - b);
        const responses = result['2xx'] + result.non2xx;
        const statusCodes: Record<string, number> = {};
        for (const [code, stats] of Object.entries(result.statusCodeStats ?? {})) {
          statusCodes[code] = stats.count ?? 0;
        }
        resolve({
          ok: result['2xx'],
          non2xx: result.non2xx,
          errors: result.errors,
          cutOff: Math.max(0, result.requests.sent - responses - result.errors),
          statusCodes,
          durationS: result.duration,
          rps: result['2xx'] / result.duration,
          p50: percentile(latencies, 0.5),
          p99: percentile(latencies, 0.99),
        });
      },
    );
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      if (statusCode >= 200 && statusCode < 300) latencies.push(responseTime);
    });
  });
}

/** Nearest-rank percentile of an ascending list; NaN when it is empty. */
export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1]!;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
