import { describe, expect, it } from 'vitest';
import { fitNewest, MESSAGE_FRAMING_TOKENS as F } from './history.ts';

describe('fitNewest: the history budget rule on one batch', () => {
  it('takes whole messages, newest first, while they fit', () => {
    expect(fitNewest([10, 10, 10], 3 * (10 + F))).toEqual({
      taken: 3,
      used: 3 * (10 + F),
      full: false,
    });
  });

  it('stops before the first message that would exceed the budget, even if older ones fit', () => {
    // 5 fits, 100 does not; 1 would fit again but the walk has stopped: older turns are dropped.
    expect(fitNewest([5, 100, 1], 5 + F + 50)).toEqual({ taken: 1, used: 5 + F, full: true });
  });

  it('keeps nothing when the newest message alone is larger than the budget', () => {
    expect(fitNewest([100, 1], 50)).toEqual({ taken: 0, used: 0, full: true });
  });

  it('counts the framing, so a budget admits a bounded number of empty messages', () => {
    expect(fitNewest([0, 0, 0, 0], 2 * F)).toEqual({ taken: 2, used: 2 * F, full: true });
  });

  it('fills a budget exactly', () => {
    expect(fitNewest([7], 7 + F)).toEqual({ taken: 1, used: 7 + F, full: false });
    expect(fitNewest([7], 7 + F - 1)).toEqual({ taken: 0, used: 0, full: true });
  });

  it('takes nothing from an empty batch or with no budget', () => {
    expect(fitNewest([], 100)).toEqual({ taken: 0, used: 0, full: false });
    expect(fitNewest([1], 0)).toEqual({ taken: 0, used: 0, full: true });
  });
});
