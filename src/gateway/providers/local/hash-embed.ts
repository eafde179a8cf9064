import { lexicalWords } from './lexical-words.ts';
import { isStopword } from './stopwords.ts';

export const DEFAULT_DIMENSIONS = 384;

// Unigrams carry the meaning; bigrams of neighbouring content words reward shared phrasing;
// character trigrams give partial credit to inflections and compounds ("password" / "passwords").
// Stopwords count, but little: at full weight "How do I …?" questions all look alike. Changing any
// of this, or the hashing below, changes every vector, and stored vectors would stop matching.
const UNIGRAM_WEIGHT = 1;
const STOPWORD_WEIGHT = 0.1;
const BIGRAM_WEIGHT = 0.5;
const TRIGRAM_WEIGHT = 0.25;

/**
 * A lexical embedding by signed feature hashing: similar wording gives close vectors, meaning does
 * not. Deterministic across runs and platforms, L2-normalised; text without words gives the zero
 * vector.
 */
export function hashEmbed(text: string, dimensions: number = DEFAULT_DIMENSIONS): Float32Array {
  if (!Number.isInteger(dimensions) || dimensions < 1) {
    throw new RangeError(`dimensions must be a positive integer, got ${dimensions}`);
  }
  const words = lexicalWords(text);
  const contentWords = words.filter((word) => !isStopword(word));
  const stopwords = words.filter(isStopword);
  const sums = new Float64Array(dimensions);
  addFeatures(sums, countFeatures(contentWords.map((word) => `u:${word}`)), UNIGRAM_WEIGHT);
  addFeatures(sums, countFeatures(stopwords.map((word) => `u:${word}`)), STOPWORD_WEIGHT);
  addFeatures(sums, countFeatures(wordBigrams(contentWords)), BIGRAM_WEIGHT);
  addFeatures(sums, countFeatures(contentWords.flatMap(characterTrigrams)), TRIGRAM_WEIGHT);
  return normalise(sums);
}

/** FNV-1a, 32 bits, over the UTF-8 bytes of the text. */
export function fnv1a32(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of utf8.encode(text)) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

const utf8 = new TextEncoder();

function wordBigrams(words: readonly string[]): string[] {
  const bigrams: string[] = [];
  for (let i = 1; i < words.length; i++) bigrams.push(`b:${words[i - 1]} ${words[i]}`);
  return bigrams;
}

function characterTrigrams(word: string): string[] {
  // Code points, so a trigram never splits a surrogate pair; the padding marks word edges.
  const chars = Array.from(`<${word}>`);
  const trigrams: string[] = [];
  for (let i = 2; i < chars.length; i++)
    trigrams.push(`t:${chars[i - 2]}${chars[i - 1]}${chars[i]}`);
  return trigrams;
}

function countFeatures(features: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const feature of features) counts.set(feature, (counts.get(feature) ?? 0) + 1);
  return counts;
}

function addFeatures(sums: Float64Array, counts: Map<string, number>, weight: number): void {
  for (const [feature, count] of counts) {
    const hash = finalise(fnv1a32(feature));
    // The sign from a bit the index does not use keeps collisions unbiased: they cancel on average.
    const sign = hash & 0x80000000 ? -1 : 1;
    sums[hash % sums.length]! += sign * weight * (1 + Math.log(count));
  }
}

/**
 * Murmur3's finaliser. FNV-1a's low bits mix poorly for short keys that differ in their last bytes,
 * and the index comes from the low bits.
 */
function finalise(hash: number): number {
  let h = hash;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function normalise(sums: Float64Array): Float32Array {
  let squares = 0;
  for (const value of sums) squares += value * value;
  const vector = new Float32Array(sums.length);
  if (squares === 0) return vector;
  const norm = Math.sqrt(squares);
  for (let i = 0; i < sums.length; i++) vector[i] = sums[i]! / norm;
  return vector;
}
