// Two words count as one term when their character trigrams overlap this much (Dice coefficient):
// "configure" / "configuration" 0.61, "reset" / "resetting" 0.57, "organ" / "organization" 0.47.
const SAME_TERM = 0.55;
const MIN_FUZZY_LENGTH = 4;

/**
 * The terms of a sentence, each inflected variant of a query term replaced by that query term, so
 * exact-match scoring also credits "configuration" for a question about "configure".
 */
export function alignToQuery(terms: readonly string[], queryTerms: readonly string[]): string[] {
  const query = new Set(queryTerms);
  const aligned = new Map<string, string>();
  for (const term of new Set(terms)) {
    aligned.set(term, query.has(term) ? term : (closestQueryTerm(term, queryTerms) ?? term));
  }
  return terms.map((term) => aligned.get(term) ?? term);
}

function closestQueryTerm(term: string, queryTerms: readonly string[]): string | undefined {
  if (term.length < MIN_FUZZY_LENGTH) return undefined;
  let best: string | undefined;
  let bestSimilarity = SAME_TERM;
  for (const candidate of queryTerms) {
    if (candidate.length < MIN_FUZZY_LENGTH) continue;
    const similarity = trigramDice(term, candidate);
    if (similarity >= bestSimilarity) {
      best = candidate;
      bestSimilarity = similarity;
    }
  }
  return best;
}

function trigramDice(a: string, b: string): number {
  const left = trigrams(a);
  const right = trigrams(b);
  let shared = 0;
  for (const trigram of left) if (right.has(trigram)) shared++;
  return (2 * shared) / (left.size + right.size);
}

function trigrams(word: string): Set<string> {
  const chars = Array.from(`<${word}>`);
  const set = new Set<string>();
  for (let i = 2; i < chars.length; i++) set.add(`${chars[i - 2]}${chars[i - 1]}${chars[i]}`);
  return set;
}
