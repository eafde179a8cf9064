import { describe, expect, it } from 'vitest';
import { LatencyTracker } from './latency-tracker.ts';

describe('LatencyTracker', () => {
  it('knows nothing about a key it never observed', () => {
    expect(new LatencyTracker().estimate('a')).toBeUndefined();
  });

  it('starts at the first observation and moves by alpha of each difference', () => {
    const tracker = new LatencyTracker({ alpha: 0.25 });
    tracker.observe('a', 100);
    expect(tracker.estimate('a')).toBe(100);
    tracker.observe('a', 200);
    expect(tracker.estimate('a')).toBe(125);
    tracker.observe('a', 25);
    expect(tracker.estimate('a')).toBe(100);
  });

  it('uses alpha 0.2 by default', () => {
    const tracker = new LatencyTracker();
    tracker.observe('a', 100);
    tracker.observe('a', 600);
    expect(tracker.estimate('a')).toBe(200);
  });

  it('ignores measurements that are not finite and non-negative', () => {
    const tracker = new LatencyTracker();
    tracker.observe('a', 100);
    tracker.observe('a', Number.NaN);
    tracker.observe('a', -5);
    expect(tracker.estimate('a')).toBe(100);
  });

  it('drops the least recently observed key beyond maxKeys', () => {
    const tracker = new LatencyTracker({ maxKeys: 2 });
    tracker.observe('a', 1);
    tracker.observe('b', 2);
    tracker.observe('a', 1);
    tracker.observe('c', 3);
    expect(tracker.estimate('b')).toBeUndefined();
    expect(tracker.estimate('a')).toBe(1);
    expect(tracker.estimate('c')).toBe(3);
  });
});
