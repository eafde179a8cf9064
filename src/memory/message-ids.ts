import { newId } from '../core/ids.ts';

// The id alphabet of core/ids.ts: an id's first 10 body characters are its time in ms, in base 32.
const alphabet = '0123456789abcdefghjkmnpqrstvwxyz';

/** The creation time (ms) an id encodes. */
export function idTimeMs(id: string): number {
  const body = id.slice(id.indexOf('_') + 1, id.indexOf('_') + 11);
  let t = 0;
  for (const c of body) {
    const digit = alphabet.indexOf(c);
    if (digit < 0) throw new Error(`not a Bulkhead id: ${id}`);
    t = t * 32 + digit;
  }
  return t;
}

/**
 * Ids for messages appended after `previous` (the thread's newest message, or null), strictly
 * increasing. Messages are listed and paged in id order, and two ids made in the same millisecond
 * sort by their random tail, so each id gets its own millisecond, after the previous message's
 * (even when another node's clock ran ahead). The thread row is locked while they are made.
 */
export function nextMessageIds(previous: string | null, count: number, nowMs: number): string[] {
  const start = previous === null ? nowMs : Math.max(nowMs, idTimeMs(previous) + 1);
  return Array.from({ length: count }, (_, i) => newId('message', start + i));
}
