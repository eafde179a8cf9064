import { lexicalWords } from './lexical-words.ts';
import { isStopword } from './stopwords.ts';

/** The words of a text that carry its topic: stopwords dropped, English plurals folded. */
export function contentTerms(text: string): string[] {
  return lexicalWords(text)
    .filter((word) => !isStopword(word))
    .map(foldPlural);
}

/** Harman's S-stemmer: conservative, so it never merges unrelated words the way full stemmers do. */
function foldPlural(word: string): string {
  if (word.length <= 3) return word;
  if (word.endsWith('ies') && !/[ae]ies$/.test(word)) return `${word.slice(0, -3)}y`;
  if (word.endsWith('es') && !/[aeo]es$/.test(word)) return word.slice(0, -1);
  if (word.endsWith('s') && !/[us]s$/.test(word)) return word.slice(0, -1);
  return word;
}
