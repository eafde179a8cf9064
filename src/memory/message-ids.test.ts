import { describe, expect, it } from 'vitest';
import { isId, newId } from '../core/ids.ts';
import { idTimeMs, nextMessageIds } from './message-ids.ts';

describe('message ids', () => {
  it('reads back the time an id encodes', () => {
    const t = Date.UTC(2031, 4, 6, 7, 8, 9, 123);
    expect(idTimeMs(newId('message', t))).toBe(t);
    expect(idTimeMs(newId('thread', 0))).toBe(0);
  });

  it('makes ids that increase strictly within one batch, all in one millisecond', () => {
    const ids = nextMessageIds(null, 50, 1_700_000_000_000);
    expect(ids.every((id) => isId('message', id))).toBe(true);
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(50);
  });

  it("follows the thread's newest message, even when its time is ahead of this clock", () => {
    const now = 1_700_000_000_000;
    for (const previousAt of [now - 5, now, now + 2_000]) {
      const previous = newId('message', previousAt);
      const [next] = nextMessageIds(previous, 1, now);
      expect(next! > previous).toBe(true);
      expect(idTimeMs(next!)).toBe(Math.max(now, previousAt + 1));
    }
  });

  it('refuses what is not an id', () => {
    expect(() => idTimeMs('msg_UPPERCASE!!')).toThrow('not a Bulkhead id');
  });
});
