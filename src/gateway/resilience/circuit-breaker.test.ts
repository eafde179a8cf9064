import { describe, expect, it } from 'vitest';
import { BkError } from '../../core/errors.ts';
import { upstreamStatusError, upstreamTransportError } from '../providers/upstream/errors.ts';
import { CircuitBreakers, countsAsEndpointFailure } from './circuit-breaker.ts';

const endpoint = 'https://api.example.com';

function breakers(options: { failureThreshold?: number; openMs?: number } = {}) {
  const clock = { now: 1_000_000 };
  const circuits = new CircuitBreakers({
    failureThreshold: options.failureThreshold ?? 3,
    openMs: options.openMs ?? 10_000,
    now: () => clock.now,
  });
  return { clock, circuits };
}

function refusal(enter: () => void): BkError {
  try {
    enter();
  } catch (err) {
    if (err instanceof BkError) return err;
    throw err;
  }
  throw new Error('expected enter to refuse');
}

describe('CircuitBreakers', () => {
  it('opens after the threshold of consecutive failures and names the endpoint and the retry', () => {
    const { circuits } = breakers();
    circuits.failure(endpoint);
    circuits.failure(endpoint);
    expect(circuits.state(endpoint)).toBe('closed');
    expect(() => circuits.enter(endpoint)).not.toThrow();

    circuits.failure(endpoint);
    expect(circuits.state(endpoint)).toBe('open');
    const err = refusal(() => circuits.enter(endpoint));
    expect(err.code).toBe('BK_UPSTREAM_CIRCUIT_OPEN');
    expect(err.status).toBe(503);
    expect(err.message).toContain(endpoint);
    expect(err.message).toContain('10s');
    expect(err.headers).toEqual({ 'retry-after': '10' });
  });

  it('counts consecutive failures only: a success in between starts over', () => {
    const { circuits } = breakers();
    circuits.failure(endpoint);
    circuits.failure(endpoint);
    circuits.success(endpoint);
    circuits.failure(endpoint);
    circuits.failure(endpoint);
    expect(circuits.state(endpoint)).toBe('closed');
  });

  it('keeps endpoints apart', () => {
    const { circuits } = breakers({ failureThreshold: 1 });
    circuits.failure(endpoint);
    expect(circuits.state(endpoint)).toBe('open');
    expect(circuits.state('https://other.example.com')).toBe('closed');
    expect(() => circuits.enter('https://other.example.com')).not.toThrow();
  });

  it('lets exactly one probe through when half-open; its success closes the circuit', () => {
    const { clock, circuits } = breakers({ failureThreshold: 1 });
    circuits.failure(endpoint);
    clock.now += 9_999;
    expect(() => circuits.enter(endpoint)).toThrow(BkError);

    clock.now += 1;
    expect(circuits.state(endpoint)).toBe('half_open');
    circuits.enter(endpoint);
    expect(refusal(() => circuits.enter(endpoint)).code).toBe('BK_UPSTREAM_CIRCUIT_OPEN');

    circuits.success(endpoint);
    expect(circuits.state(endpoint)).toBe('closed');
    circuits.enter(endpoint);
    circuits.enter(endpoint);
  });

  it('reopens for another openMs when the probe fails', () => {
    const { clock, circuits } = breakers({ failureThreshold: 1 });
    circuits.failure(endpoint);
    clock.now += 10_000;
    circuits.enter(endpoint);
    circuits.failure(endpoint);
    expect(circuits.state(endpoint)).toBe('open');
    clock.now += 9_999;
    expect(() => circuits.enter(endpoint)).toThrow(BkError);
    clock.now += 1;
    expect(() => circuits.enter(endpoint)).not.toThrow();
  });

  it('lets a new probe through once an unreported probe has been out for openMs', () => {
    const { clock, circuits } = breakers({ failureThreshold: 1 });
    circuits.failure(endpoint);
    clock.now += 10_000;
    circuits.enter(endpoint);
    clock.now += 5_000;
    expect(refusal(() => circuits.enter(endpoint)).headers).toEqual({ 'retry-after': '5' });
    clock.now += 5_000;
    expect(() => circuits.enter(endpoint)).not.toThrow();
  });

  it('ignores late outcomes while open: only time moves it to half-open', () => {
    const { clock, circuits } = breakers({ failureThreshold: 1 });
    circuits.failure(endpoint);
    clock.now += 5_000;
    circuits.success(endpoint);
    circuits.failure(endpoint);
    expect(circuits.state(endpoint)).toBe('open');
    clock.now += 5_000;
    expect(circuits.state(endpoint)).toBe('half_open');
  });
});

describe('countsAsEndpointFailure', () => {
  const signal = new AbortController().signal;
  it.each([
    ['5xx', upstreamStatusError('p', 500, '', {})],
    ['429', upstreamStatusError('p', 429, '', {})],
    ['timeout', upstreamTransportError('p', { code: 'UND_ERR_HEADERS_TIMEOUT' }, signal)],
    ['unreachable', upstreamTransportError('p', { code: 'ECONNREFUSED' }, signal)],
  ])('counts %s', (_name, err) => {
    expect(countsAsEndpointFailure(err)).toBe(true);
  });

  it.each([
    ['400', upstreamStatusError('p', 400, '', {})],
    ['401', upstreamStatusError('p', 401, '', {})],
    ['client closed', upstreamTransportError('p', new Error('x'), AbortSignal.abort())],
    ['an internal error', new Error('bug')],
  ])('does not count %s', (_name, err) => {
    expect(countsAsEndpointFailure(err)).toBe(false);
  });
});
