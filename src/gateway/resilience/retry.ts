import { BkError, type ErrorCode } from '../../core/errors.ts';

const retryableCodes: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'BK_UPSTREAM_RATE_LIMITED',
  'BK_UPSTREAM_ERROR',
  'BK_UPSTREAM_UNREACHABLE',
  'BK_UPSTREAM_TIMEOUT',
  'BK_UPSTREAM_CIRCUIT_OPEN',
]);

/**
 * Whether another attempt (or the next candidate upstream) may succeed where this one failed. A
 * rejected request or credential fails the same way again, and a client that left wants nothing.
 */
export function isRetryable(err: unknown): boolean {
  return err instanceof BkError && retryableCodes.has(err.code);
}

export interface BackoffOptions {
  baseMs: number;
  maxMs: number;
  random?: () => number;
}

/**
 * Exponential backoff with full jitter (https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/):
 * a uniform delay in [0, min(maxMs, baseMs * 2^attempt)), `attempt` counting retries from 0, so
 * clients that failed together do not retry together.
 */
export function backoffDelayMs(attempt: number, options: BackoffOptions): number {
  const random = options.random ?? Math.random;
  const ceiling = Math.min(options.maxMs, options.baseMs * 2 ** attempt);
  return Math.floor(random() * ceiling);
}

/** Retry-After as delta-seconds or an HTTP-date (RFC 9110 §10.2.3), in ms from now. */
function retryAfterMs(value: string, now: number): number | undefined {
  if (/^\d+$/.test(value.trim())) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/**
 * The wait before retrying after `err`: the upstream's own Retry-After on a rate limit when it is
 * within `maxMs`, otherwise the jittered backoff for this attempt.
 */
export function retryDelayMs(
  err: unknown,
  attempt: number,
  options: BackoffOptions & { now?: () => number },
): number {
  if (err instanceof BkError && err.code === 'BK_UPSTREAM_RATE_LIMITED') {
    const header = err.headers['retry-after'];
    const now = options.now ?? Date.now;
    const asked = header === undefined ? undefined : retryAfterMs(header, now());
    if (asked !== undefined && asked <= options.maxMs) return asked;
  }
  return backoffDelayMs(attempt, options);
}

/** Waits `ms`, or rejects with the signal's reason as soon as it aborts. */
export async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  signal?.throwIfAborted();
  await new Promise<void>((resolve) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
  signal?.throwIfAborted();
}
