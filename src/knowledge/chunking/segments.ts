/**
 * The spans units are made of: sentences and words (found with `Intl.Segmenter`), lines, and
 * slices of long words. Offsets are into the whole text; no span ends with whitespace, and only a
 * line begins with it (its indentation).
 */

export interface Span {
  start: number;
  end: number;
}

interface Segment extends Span {
  wordLike: boolean;
  /** False when a window cut it: it is part of a longer segment. */
  whole: boolean;
}

// V8's Intl.Segmenter spends time proportional to the length of the whole string on every segment
// it returns, which makes segmenting a long paragraph quadratic; text is segmented in windows,
// each several times longer than most segments.
const SENTENCE_WINDOW = 2048;
const WORD_WINDOW = 256;

// A line break continues the sentence unless the next line opens a list item, quote or table row.
const SOFT_LINE_BREAK = /\n(?![ \t]*(?:[-*+•][ \t]|\d{1,9}[.)][ \t]|>|\|))/g;

/** Sentences, `whole` unless one was too long for a window and cut at a space. */
export function* sentenceSpans(
  segmenter: Intl.Segmenter,
  text: string,
  start: number,
  end: number,
): Generator<Span & { whole: boolean }> {
  const joinLines = (slice: string) => slice.replace(SOFT_LINE_BREAK, ' ');
  for (const segment of windowedSegments(segmenter, SENTENCE_WINDOW, text, start, end, joinLines)) {
    const span = trimmed(text, segment);
    if (span !== null) yield { ...span, whole: segment.whole };
  }
}

/**
 * Runs of whole words at most `maxLength` code units long; a word longer than that is cut into
 * slices of `maxLength`.
 */
export function* wordRuns(
  segmenter: Intl.Segmenter,
  text: string,
  start: number,
  end: number,
  maxLength: number,
): Generator<Span> {
  let run: Span | null = null;
  for (const word of words(segmenter, text, start, end)) {
    if (run !== null && word.end - run.start <= maxLength) {
      run.end = word.end;
      continue;
    }
    if (run !== null) yield run;
    run = null;
    if (word.end - word.start <= maxLength) run = { ...word };
    else yield* slices(text, word.start, word.end, maxLength);
  }
  if (run !== null) yield run;
}

/** Words with the punctuation attached to them; whitespace separates them. */
function* words(
  segmenter: Intl.Segmenter,
  text: string,
  start: number,
  end: number,
): Generator<Span> {
  let open: Span | null = null;
  let hasWord = false;
  for (const segment of windowedSegments(segmenter, WORD_WINDOW, text, start, end)) {
    if (text.slice(segment.start, segment.end).trim() === '') {
      if (open !== null) yield open;
      open = null;
    } else if (open !== null && !(segment.wordLike && hasWord)) {
      open.end = segment.end;
      hasWord ||= segment.wordLike;
    } else {
      if (open !== null) yield open;
      open = { start: segment.start, end: segment.end };
      hasWord = segment.wordLike;
    }
  }
  if (open !== null) yield open;
}

/** Each non-blank line, keeping its indentation. */
export function* lineSpans(text: string, start: number, end: number): Generator<Span> {
  let from = start;
  while (from < end) {
    const newline = text.indexOf('\n', from);
    const to = newline < 0 || newline > end ? end : newline;
    const line = text.slice(from, to);
    if (line.trim() !== '') yield { start: from, end: from + line.trimEnd().length };
    from = to + 1;
  }
}

/** Cuts a span every `length` code units or one fewer, never inside a surrogate pair. */
function* slices(text: string, start: number, end: number, length: number): Generator<Span> {
  let from = start;
  while (from < end) {
    let to = Math.min(end, from + length);
    if (to < end && isHighSurrogate(text.charCodeAt(to - 1))) to += to - 1 > from ? -1 : 1;
    yield { start: from, end: to };
    from = to;
  }
}

/**
 * Segments a window at a time. A window's last segment may run on past it, so the next window
 * starts where that segment does; a segment longer than a whole window is cut at its last space.
 * `prepare` may rewrite a window's text but not change its length.
 */
function* windowedSegments(
  segmenter: Intl.Segmenter,
  window: number,
  text: string,
  start: number,
  end: number,
  prepare: (slice: string) => string = (slice) => slice,
): Generator<Segment> {
  let from = start;
  let cutAt = -1;
  while (from < end) {
    const to = Math.min(end, from + window);
    let last: Segment | null = null;
    let emitted = false;
    for (const { segment, index, isWordLike } of segmenter.segment(prepare(text.slice(from, to)))) {
      if (last !== null) {
        yield last;
        emitted = true;
      }
      const segmentStart = from + index;
      last = {
        start: segmentStart,
        end: segmentStart + segment.length,
        wordLike: isWordLike ?? false,
        whole: segmentStart !== cutAt,
      };
    }
    if (last === null) return;
    if (to === end) {
      yield last;
      return;
    }
    if (emitted) {
      from = last.start;
    } else {
      const cut = cutPoint(text, from, to, window);
      yield { ...last, end: cut, whole: false };
      from = cutAt = cut;
    }
  }
}

/** After the last whitespace in the second half of [from, to), else at `to`. */
function cutPoint(text: string, from: number, to: number, window: number): number {
  for (let i = to - 1; i > from + window / 2; i--) {
    if (/\s/.test(text[i] ?? '')) return i + 1;
  }
  return isHighSurrogate(text.charCodeAt(to - 1)) ? to - 1 : to;
}

function trimmed(text: string, span: Span): Span | null {
  const segment = text.slice(span.start, span.end);
  const content = segment.trim();
  if (content === '') return null;
  const start = span.start + segment.length - segment.trimStart().length;
  return { start, end: start + content.length };
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}
