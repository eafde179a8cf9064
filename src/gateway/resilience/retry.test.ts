import { afterEach, describe, expect, it, vi } from 'vitest';
import { BkError } from '../../core/errors.ts';
import { upstreamStatusError } from '../providers/upstream/errors.ts';
import { backoffDelayMs, isRetryable, retryDelayMs, sleep } from './retry.ts';

describe('isRetryable', () => {
  it.each([
    'BK_UPSTREAM_RATE_LIMITED',
    'BK_UPSTREAM_ERROR',
    'BK_UPSTREAM_UNREACHABLE',
    'BK_UPSTREAM_TIMEOUT',
    'BK_UPSTREAM_CIRCUIT_OPEN',
  ] as const)('retries %s', (code) => {
    expect(isRetryable(new BkError(code, 'x'))).toBe(true);
  });

  it.each(['BK_UPSTREAM_BAD_REQUEST', 'BK_UPSTREAM_AUTH_FAILED', 'BK_CLIENT_CLOSED'] as const)(
    'does not retry %s',
    (code) => {
      expect(isRetryable(new BkError(code, 'x'))).toBe(false);
    },
  );

  it('does not retry errors from outside the registry', () => {
    expect(isRetryable(new Error('bug'))).toBe(false);
  });
});

describe('backoffDelayMs', () => {
  const options = { baseMs: 100, maxMs: 5_000 };

  it('doubles the ceiling per attempt and caps it at maxMs', () => {
    const almostOne = () => 0.999_999;
    expect(backoffDelayMs(0, { ...options, random: almostOne })).toBe(99);
    expect(backoffDelayMs(1, { ...options, random: almostOne })).toBe(199);
    expect(backoffDelayMs(3, { ...options, random: almostOne })).toBe(799);
    expect(backoffDelayMs(10, { ...options, random: almostOne })).toBe(4_999);
  });

  it('jitters over the whole range down to zero', () => {
    expect(backoffDelayMs(3, { ...options, random: () => 0 })).toBe(0);
    expect(backoffDelayMs(3, { ...options, random: () => 0.5 })).toBe(400);
  });
});

describe('retryDelayMs', () => {
  const options = { baseMs: 100, maxMs: 5_000, random: () => 0.5, now: () => 1_700_000_000_000 };

  it('honours an upstream Retry-After in seconds within maxMs', () => {
    const err = upstreamStatusError('p', 429, '', { 'retry-after': '3' });
    expect(retryDelayMs(err, 0, options)).toBe(3_000);
  });

  it('honours an upstream Retry-After given as an HTTP date', () => {
    const at = new Date(1_700_000_000_000 + 2_000).toUTCString();
    const err = upstreamStatusError('p', 429, '', { 'retry-after': at });
    expect(retryDelayMs(err, 0, options)).toBe(2_000);
  });

  it('falls back to backoff when Retry-After exceeds maxMs, is missing or unreadable', () => {
    for (const headers of [{ 'retry-after': '60' }, {}, { 'retry-after': 'soon' }]) {
      const err = upstreamStatusError('p', 429, '', headers);
      expect(retryDelayMs(err, 2, options)).toBe(200);
    }
  });

  it('uses backoff for other errors', () => {
    const err = new BkError('BK_UPSTREAM_ERROR', 'x', { headers: { 'retry-after': '1' } });
    expect(retryDelayMs(err, 1, options)).toBe(100);
  });
});

describe('sleep', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('resolves once the time has passed', async () => {
    vi.useFakeTimers();
    let done = false;
    void sleep(1_000).then(() => {
      done = true;
    });
    await vi.advanceTimersByTimeAsync(999);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(done).toBe(true);
  });

  it('rejects with the abort reason when aborted while waiting, and drops its timer', async () => {
    vi.useFakeTimers();
    const controller = new AbortController();
    const waiting = sleep(60_000, controller.signal);
    const reason = new Error('client went away');
    controller.abort(reason);
    await expect(waiting).rejects.toBe(reason);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('rejects at once when already aborted', async () => {
    const reason = new Error('gone');
    await expect(sleep(60_000, AbortSignal.abort(reason))).rejects.toBe(reason);
  });
});
