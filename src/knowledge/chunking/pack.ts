import { countTextTokens } from '../../metering/token-count.ts';
import { joinedRun, MAX_JOINED_RUN, type Unit, type UnitGroup } from './units.ts';

export interface PackOptions {
  maxTokens: number;
  overlapTokens: number;
}

/** A chunk as a run of units: `first` to `end` (exclusive), `tokens` counted exactly. */
export interface PackedSpan {
  first: number;
  end: number;
  tokens: number;
}

/**
 * Packs one section's units into chunks greedily. A group that fits in the chunk being filled
 * joins it whole; one that does not starts the next chunk, and only a group too big for any chunk
 * is split, between sentences or lines. Unit counts are estimates (tokens do not simply add up
 * across a boundary), so each chunk is counted once exactly, and trimmed in the rare case the
 * estimate was low.
 */
export function packSection(
  text: string,
  units: readonly Unit[],
  groups: readonly UnitGroup[],
  options: PackOptions,
): PackedSpan[] {
  const { maxTokens } = options;
  const groupAt = new Map(groups.map((group) => [group.first, group]));
  const exact = (first: number, end: number) => countTextTokens(spanText(text, units, first, end));
  const spans: PackedSpan[] = [];
  let next = 0;
  while (next < units.length) {
    const previous = spans[spans.length - 1];
    let first = previous === undefined ? next : overlapStart(previous, next);
    let tokens = sumTokens(units, first, next);
    let end = next;
    let run = 0;
    while (end < units.length) {
      const unit = at(units, end);
      if (end > next && unit.breakBefore) break;
      const group = groupAt.get(end);
      if (group !== undefined && tokens + group.tokens <= maxTokens) {
        tokens += group.tokens;
        end = group.end;
        continue;
      }
      if (
        end > next &&
        (group !== undefined ||
          tokens + unit.tokens > maxTokens ||
          (unit.joined && joinedRun(run, unit) > MAX_JOINED_RUN))
      ) {
        break;
      }
      tokens += unit.tokens;
      run = joinedRun(run, unit);
      end += 1;
    }
    let count = exact(first, end);
    while (count > maxTokens && (end - next > 1 || first < next)) {
      if (end - next > 1) end -= 1;
      else first += 1;
      count = exact(first, end);
    }
    spans.push({ first, end, tokens: count });
    next = end;
  }
  return spans;

  /**
   * Where the chunk starting at unit `next` begins: with the trailing whole sentences of the
   * previous chunk, as many as fit in `overlapTokens` and leave room for what comes next (a whole
   * group when it fits a chunk), never the whole previous chunk.
   */
  function overlapStart(previous: PackedSpan, next: number): number {
    const unit = at(units, next);
    if (options.overlapTokens === 0 || unit.breakBefore) return next;
    const group = groupAt.get(next);
    const needed = group !== undefined && group.tokens <= maxTokens ? group.tokens : unit.tokens;
    const budget = Math.min(options.overlapTokens, maxTokens - needed);
    let first = next;
    let tokens = 0;
    while (first - 1 > previous.first) {
      const candidate = at(units, first - 1);
      if (!candidate.sentence || tokens + candidate.tokens > budget) break;
      tokens += candidate.tokens;
      first -= 1;
    }
    while (first < next && exact(first, next) > options.overlapTokens) first += 1;
    return first;
  }
}

export function spanText(text: string, units: readonly Unit[], first: number, end: number): string {
  return text.slice(at(units, first).start, at(units, end - 1).end);
}

function sumTokens(units: readonly Unit[], first: number, end: number): number {
  let total = 0;
  for (let i = first; i < end; i++) total += at(units, i).tokens;
  return total;
}

function at(units: readonly Unit[], index: number): Unit {
  const unit = units[index];
  if (unit === undefined) throw new Error(`No unit ${index}.`);
  return unit;
}
