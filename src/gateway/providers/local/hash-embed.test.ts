import { describe, expect, it } from 'vitest';
import { fnv1a32, hashEmbed } from './hash-embed.ts';

const norm = (v: Float32Array) => Math.sqrt(v.reduce((sum, x) => sum + x * x, 0));
const cosine = (a: Float32Array, b: Float32Array) =>
  a.reduce((sum, x, i) => sum + x * b[i]!, 0) / (norm(a) * norm(b));

describe('fnv1a32', () => {
  it('matches the published FNV-1a test vectors', () => {
    expect(fnv1a32('')).toBe(0x811c9dc5);
    expect(fnv1a32('a')).toBe(0xe40c292c);
    expect(fnv1a32('foobar')).toBe(0xbf9cf968);
  });

  it('hashes UTF-8 bytes, not UTF-16 code units', () => {
    // "é" is C3 A9 in UTF-8.
    let expected = 0x811c9dc5;
    for (const byte of [0xc3, 0xa9]) expected = Math.imul(expected ^ byte, 0x01000193) >>> 0;
    expect(fnv1a32('é')).toBe(expected);
  });
});

describe('hashEmbed', () => {
  it('defaults to 384 dimensions and honours others', () => {
    expect(hashEmbed('hello world')).toHaveLength(384);
    expect(hashEmbed('hello world', 1)).toHaveLength(1);
    expect(hashEmbed('hello world', 4096)).toHaveLength(4096);
  });

  it('returns unit vectors', () => {
    for (const text of [
      'a',
      'hello world',
      'The quick brown fox jumps over the lazy dog. '.repeat(50),
    ]) {
      expect(norm(hashEmbed(text))).toBeCloseTo(1, 6);
    }
  });

  it('is deterministic, and pinned: a change would invalidate stored vectors', () => {
    expect(hashEmbed('Bulkhead gateway')).toEqual(hashEmbed('Bulkhead gateway'));
    expect(Array.from(hashEmbed('Bulkhead gateway', 8), (v) => Number(v.toFixed(6)))).toEqual([
      -0.132453, -0.132453, 0.39736, -0.132453, 0, 0.662266, 0.529813, -0.264906,
    ]);
  });

  it('gives the zero vector, not NaN, for text without words', () => {
    for (const text of ['', '   ', '?!... -- ***']) {
      const vector = hashEmbed(text, 16);
      expect(Array.from(vector)).toEqual(new Array(16).fill(0));
    }
  });

  it('puts similar texts closer than unrelated ones', () => {
    const query = hashEmbed('How do I reset my password?');
    const similar = hashEmbed('Steps to reset a forgotten password');
    const inflected = hashEmbed('Resetting passwords');
    const unrelated = hashEmbed('The weather in Paris is sunny today.');
    const sameShape = hashEmbed('How do I bake bread?');
    expect(cosine(query, similar)).toBeGreaterThan(0.4);
    expect(cosine(query, inflected)).toBeGreaterThan(cosine(query, unrelated) + 0.1);
    expect(cosine(query, similar)).toBeGreaterThan(cosine(query, sameShape) + 0.3);
    expect(Math.abs(cosine(query, unrelated))).toBeLessThan(0.15);
  });

  it('ignores case, punctuation and Unicode width, and keeps non-Latin words', () => {
    expect(hashEmbed('Café, RÉSUMÉ!')).toEqual(hashEmbed('café résumé'));
    expect(hashEmbed('ＡＰＩ key')).toEqual(hashEmbed('api key'));
    expect(cosine(hashEmbed('東京 の 天気'), hashEmbed('東京 天気'))).toBeGreaterThan(0.5);
    expect(norm(hashEmbed('नमस्ते दुनिया'))).toBeCloseTo(1, 6);
  });

  it('rejects a dimension count that is not a positive integer', () => {
    expect(() => hashEmbed('x', 0)).toThrow(RangeError);
    expect(() => hashEmbed('x', 2.5)).toThrow(RangeError);
  });
});
