// Marks (\p{M}) belong to words: without them Devanagari, Thai and decomposed accents split mid-word.
const WORD = /[\p{L}\p{M}\p{N}]+/gu;

/** Lowercased words of a text; NFKC first, so full-width letters and ligatures match their plain forms. */
export function lexicalWords(text: string): string[] {
  return text.normalize('NFKC').toLowerCase().match(WORD) ?? [];
}
