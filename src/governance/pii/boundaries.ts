import { VERSION_WORDS } from './detectors/ip-address.ts';
import { AWS_SECRET_WORD, PEM_END_LINE_MAX_CHARS, PEM_MAX_CHARS } from './detectors/secret.ts';
import { SSN_WORD } from './detectors/us-ssn.ts';

/*
 * Where a text can be cut so that detecting PII in the two parts finds exactly what detecting it
 * in the whole finds, and so redacting the parts one after the other gives the one-shot result.
 * The streaming redactor only emits up to such a cut, and decides it without knowing what follows.
 *
 * The detectors are built to make this hold: every look-behind and look-ahead treats whitespace
 * and the start or end of the text alike; the values that span whitespace (phone numbers, grouped
 * cards and IBANs, SSNs) are made of digits, parentheses, separators and IBAN groups of at most
 * four capitals; and the context a detector reads (`version 1.2.3.4`, `SSN: 123456789`,
 * `aws_secret_access_key = …`) is the word, or the punctuation, right before a value. So a cut is
 * safe:
 *
 *  - after whitespace that follows an inert word: letters only (with surrounding punctuation), not
 *    four or fewer capitals, not a context word. Such a word cannot be part of a value spanning the
 *    whitespace, nor the context of a value after it; what comes after does not matter.
 *  - next to a character of a script written without spaces (Han, kana, Thai…): no value contains
 *    one, so nothing can span it.
 *
 * and in both cases not inside a PEM block that may still be open: from `-----BEGIN` to its first
 * `-----END` line, and at most PEM_MAX_CHARS. The property is checked over every cut of every
 * sample of the labelled set in boundaries.test.ts.
 */

const NO_SPACE_SCRIPT =
  /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Thai}\p{Script=Lao}\p{Script=Khmer}\p{Script=Myanmar}\u3000-\u303f\uff00-\uffef]/u;
const SPACE = /\s/;
const INERT_WORD =
  /^[\p{Ps}\p{Pi}"'*_`~]*(\p{L}[\p{L}\p{M}]*(?:['’-]\p{L}[\p{L}\p{M}]*)*)[\p{Pe}\p{Pf}"'*_`~.,;:!?]*$/u;
const CONTEXT_WORDS: ReadonlySet<string> = new Set([...VERSION_WORDS, SSN_WORD]);

function isNoSpaceScript(ch: string | undefined): boolean {
  return ch !== undefined && NO_SPACE_SCRIPT.test(ch);
}

/** Whether `word` can be read as the context of a value that follows it. */
export function isContextWord(word: string): boolean {
  const lower = word.toLowerCase().replace(/[^\p{L}\p{N}_]/gu, '');
  return (
    !/[\p{L}\p{N}]/u.test(word) ||
    CONTEXT_WORDS.has(lower) ||
    lower.replaceAll('_', '').includes(AWS_SECRET_WORD)
  );
}

export function isInertWord(word: string): boolean {
  if (word === '') return true;
  const core = INERT_WORD.exec(word)?.[1];
  return core !== undefined && !/^[A-Z]{1,4}$/.test(core) && !isContextWord(core);
}

/** The word before the whitespace that ends at `cut` ('' at the start or after a no-space script). */
export function wordBefore(text: string, cut: number): string {
  let end = cut;
  while (end > 0 && SPACE.test(text[end - 1]!)) end--;
  let start = end;
  while (start > 0 && !SPACE.test(text[start - 1]!) && !isNoSpaceScript(text[start - 1])) start--;
  return text.slice(start, end);
}

/** A whole END line: its label has no dashes, so the line decides whether it closes the block. */
const END_LINE = /^-----END[ A-Z0-9]*-----/;

/**
 * Intervals (start, end] that may not be cut because a PEM block opened at `start` may span them:
 * up to the end of the first END line after it, or as far as that line could reach while it is
 * still arriving, and never past PEM_MAX_CHARS.
 */
function pemHolds(text: string): [number, number][] {
  const holds: [number, number][] = [];
  for (let begin = text.indexOf('-----BEGIN'); begin >= 0;) {
    const limit = begin + PEM_MAX_CHARS;
    const end = text.indexOf('-----END', begin);
    const line = end < 0 ? null : END_LINE.exec(text.slice(end, end + PEM_END_LINE_MAX_CHARS));
    const released = end < 0 ? limit : end + (line?.[0].length ?? PEM_END_LINE_MAX_CHARS);
    holds.push([begin, Math.min(limit, released)]);
    begin = text.indexOf('-----BEGIN', begin + 1);
  }
  return holds;
}

function isSafeCutWithin(text: string, cut: number, holds: readonly [number, number][]): boolean {
  if (cut <= 0 || cut > text.length) return false;
  if (holds.some(([start, end]) => cut > start && cut <= end)) return false;
  if (isNoSpaceScript(text[cut - 1]) || isNoSpaceScript(text[cut])) return true;
  return SPACE.test(text[cut - 1]!) && isInertWord(wordBefore(text, cut));
}

/** Whether `text` (the whole text, or all that is known so far of it) can be cut at `cut`. */
export function isSafeCut(text: string, cut: number): boolean {
  return isSafeCutWithin(text, cut, pemHolds(text));
}

/** The last safe cut in what is known so far of a text, or 0. */
export function lastSafeCut(text: string): number {
  const holds = pemHolds(text);
  for (let cut = text.length; cut > 0; cut--) {
    const hold = holds.find(([start, end]) => cut > start && cut <= end);
    if (hold !== undefined) cut = hold[0] + 1;
    else if (isSafeCutWithin(text, cut, holds)) return cut;
  }
  return 0;
}

/** Where a PEM block starts whose hold reaches past what is known of the text, or -1. */
export function openPemStart(text: string): number {
  return pemHolds(text).find(([, end]) => end >= text.length)?.[0] ?? -1;
}
