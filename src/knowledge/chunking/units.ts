import { countTextTokens } from '../../metering/token-count.ts';
import type { Block } from './markdown-blocks.ts';
import { lineSpans, sentenceSpans, wordRuns } from './segments.ts';

/**
 * The smallest spans chunks are made of: sentences, code and table lines, and, for one too long
 * for a chunk, runs of its words and slices of a long word.
 */
export interface Unit {
  start: number;
  end: number;
  /** Its tokens counted together with the whitespace before it, as it appears inside a chunk. */
  tokens: number;
  /** A whole sentence: the trailing ones of a chunk open the next as its overlap. */
  sentence: boolean;
  /** Preceded by a whitespace run too long to keep inside a chunk. */
  breakBefore: boolean;
  /** Follows the unit before with nothing between two letters: the tokenizer reads one run. */
  joined: boolean;
}

/** Consecutive units that belong together: a paragraph, a code block or a table. */
export interface UnitGroup {
  first: number;
  end: number;
  /** Infinity when it cannot be kept together (it holds a break, or too long a run). */
  tokens: number;
}

// gpt-tokenizer's byte-pair merge takes time quadratic in the length of a run of text its
// pre-tokenizer does not split (a long word, text in scripts written without spaces, a long run
// of spaces). A span holding a run longer than LONG_RUN is never counted whole but cut into
// pieces of at most MAX_PIECE; a chunk breaks at such whitespace rather than hold it, and holds
// at most MAX_JOINED_RUN characters of pieces the tokenizer would read as one run.
const LONG_RUN = 100;
const HAS_LONG_RUN = new RegExp(`\\S{${LONG_RUN}}|\\s{${LONG_RUN}}`);
const MAX_PIECE = 64;
export const MAX_JOINED_RUN = 256;
const RUN_CHARACTER = /[\p{L}\p{N}\p{M}]/u;

export interface Segmenters {
  sentences: Intl.Segmenter;
  words: Intl.Segmenter;
}

export function englishSegmenters(): Segmenters {
  return {
    sentences: new Intl.Segmenter('en', { granularity: 'sentence' }),
    words: new Intl.Segmenter('en', { granularity: 'word' }),
  };
}

/**
 * The units of one section's blocks, and their groups: each block is a group, except that a
 * heading is grouped with the block after it so that it never ends up alone in a chunk.
 */
export function sectionUnits(
  text: string,
  blocks: readonly Block[],
  maxTokens: number,
  segmenters: Segmenters,
): { units: Unit[]; groups: UnitGroup[] } {
  const units: Unit[] = [];
  const groupStarts: number[] = [];
  let previousEnd: number | null = null;

  const count = (start: number, end: number): number => {
    const gapStart = previousEnd ?? start;
    return countTextTokens(text.slice(start - gapStart > LONG_RUN ? start : gapStart, end));
  };
  const push = (start: number, end: number, tokens: number, sentence: boolean): void => {
    const breakBefore = previousEnd !== null && start - previousEnd > LONG_RUN;
    const joined =
      start === previousEnd &&
      RUN_CHARACTER.test(text[start - 1] ?? '') &&
      RUN_CHARACTER.test(text[start] ?? '');
    units.push({ start, end, tokens, sentence, breakBefore, joined });
    previousEnd = end;
  };
  // A UTF-16 code unit is at most three UTF-8 bytes and a token at least one, so a piece this
  // long always fits a chunk.
  const pieceLength = Math.max(1, Math.min(MAX_PIECE, Math.floor(maxTokens / 3)));
  // A span as one unit if it fits a chunk, else as runs of its words, or slices of a long word.
  const add = (start: number, end: number, sentence: boolean): void => {
    if (!HAS_LONG_RUN.test(text.slice(start, end))) {
      const tokens = count(start, end);
      if (tokens <= maxTokens) return push(start, end, tokens, sentence);
    }
    for (const piece of wordRuns(segmenters.words, text, start, end, pieceLength)) {
      push(piece.start, piece.end, count(piece.start, piece.end), false);
    }
  };

  blocks.forEach((block, index) => {
    if (index !== 1 || blocks[0]?.kind !== 'heading') groupStarts.push(units.length);
    if (block.kind === 'paragraph') {
      for (const sentence of sentenceSpans(segmenters.sentences, text, block.start, block.end)) {
        add(sentence.start, sentence.end, sentence.whole);
      }
    } else if (block.kind === 'heading') {
      add(block.start, block.end, false);
    } else {
      for (const line of lineSpans(text, block.start, block.end)) add(line.start, line.end, false);
    }
  });
  const groups = groupStarts.map((first, i) =>
    group(units, first, groupStarts[i + 1] ?? units.length),
  );
  return { units, groups };
}

function group(units: readonly Unit[], first: number, end: number): UnitGroup {
  let tokens = 0;
  let run = 0;
  for (let i = first; i < end; i++) {
    const unit = units[i];
    if (unit === undefined) continue;
    run = joinedRun(run, unit);
    const apart = i > first && (unit.breakBefore || (unit.joined && run > MAX_JOINED_RUN));
    tokens += apart ? Infinity : unit.tokens;
  }
  return { first, end, tokens };
}

/** The length of the joined run a unit ends, given the run before it. */
export function joinedRun(runBefore: number, unit: Unit): number {
  return (unit.joined ? runBefore : 0) + unit.end - unit.start;
}
