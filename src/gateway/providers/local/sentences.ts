// A run of terminators (and closing quotes or brackets) followed by space; CJK full stops need none.
const BOUNDARY = /[.!?…]+["'”’)\]]*\s+|[。！？]+\s*/gu;

// A terminator after one of these does not end the sentence: "e.g. this", "Dr. Lee", "J. Smith",
// and list markers such as "1." or "a.".
const ABBREVIATION = /(?:^|[\s(])(?:e\.g|i\.e|vs|cf|approx|mr|mrs|ms|dr|prof)\.$/i;
const INITIAL = /(?:^|\s)\p{Lu}\.$/u;
const LIST_MARKER = /^(?:\d+|\p{L})\.$/u;

// Text without punctuation (logs, tool output) would otherwise be one unbounded "sentence".
const MAX_SENTENCE_WORDS = 60;

/**
 * Sentences of a text: split at ., !, ? and line breaks. Decimals ("3.5") stay whole because a
 * boundary needs space after the terminator.
 */
export function splitSentences(text: string): string[] {
  const sentences: string[] = [];
  for (const line of text.split(/\r?\n/)) {
    let start = 0;
    for (const match of line.matchAll(BOUNDARY)) {
      const end = match.index + match[0].length;
      const sentence = line.slice(start, end).trim();
      if (isNotAnEnd(sentence)) continue;
      sentences.push(sentence);
      start = end;
    }
    sentences.push(line.slice(start).trim());
  }
  return sentences.filter((sentence) => /[\p{L}\p{N}]/u.test(sentence)).flatMap(boundLength);
}

function isNotAnEnd(sentence: string): boolean {
  return ABBREVIATION.test(sentence) || INITIAL.test(sentence) || LIST_MARKER.test(sentence);
}

function boundLength(sentence: string): string[] {
  const words = sentence.split(/\s+/);
  if (words.length <= MAX_SENTENCE_WORDS) return [sentence];
  const pieces: string[] = [];
  for (let i = 0; i < words.length; i += MAX_SENTENCE_WORDS) {
    pieces.push(words.slice(i, i + MAX_SENTENCE_WORDS).join(' '));
  }
  return pieces;
}
