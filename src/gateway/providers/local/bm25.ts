// The usual Okapi BM25 constants: term frequency saturates quickly, long sentences are discounted.
const K1 = 1.2;
const B = 0.75;

/** Okapi BM25 score of each document (a list of terms) for the query terms; 0 when none match. */
export function bm25Scores(
  queryTerms: readonly string[],
  documents: readonly string[][],
): number[] {
  const query = new Set(queryTerms);
  const documentFrequency = new Map<string, number>();
  for (const document of documents) {
    for (const term of new Set(document)) {
      if (query.has(term)) documentFrequency.set(term, (documentFrequency.get(term) ?? 0) + 1);
    }
  }
  const averageLength = documents.reduce((sum, d) => sum + d.length, 0) / documents.length || 1;
  return documents.map((document) => {
    const lengthNorm = 1 - B + (B * document.length) / averageLength;
    let score = 0;
    for (const [term, frequency] of termFrequencies(document)) {
      const df = documentFrequency.get(term);
      if (df === undefined) continue;
      const idf = Math.log(1 + (documents.length - df + 0.5) / (df + 0.5));
      score += (idf * frequency * (K1 + 1)) / (frequency + K1 * lengthNorm);
    }
    return score;
  });
}

function termFrequencies(terms: readonly string[]): Map<string, number> {
  const frequencies = new Map<string, number>();
  for (const term of terms) frequencies.set(term, (frequencies.get(term) ?? 0) + 1);
  return frequencies;
}
