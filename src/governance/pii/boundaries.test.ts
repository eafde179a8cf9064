import { describe, expect, it } from 'vitest';
import { isInertWord, isSafeCut, lastSafeCut } from './boundaries.ts';
import { detectPii } from './detect.ts';
import { PEM_MAX_CHARS } from './detectors/secret.ts';
import type { PiiMatch } from './entities.ts';
import { readLabelledSet } from './quality.ts';

function shifted(matches: PiiMatch[], offset: number): string[] {
  return matches.map((m) => `${m.entity}@${m.start + offset}-${m.end + offset}`);
}

/** Detection on both sides of `cut` equals detection on the whole text. */
function splitsCleanly(text: string, cut: number): boolean {
  const whole = shifted(detectPii(text), 0);
  const parts = [
    ...shifted(detectPii(text.slice(0, cut)), 0),
    ...shifted(detectPii(text.slice(cut)), cut),
  ];
  return JSON.stringify(parts) === JSON.stringify(whole);
}

/** Deterministic pseudo-random numbers (mulberry32), so a failure reproduces. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('safe cuts', () => {
  it('change nothing that is detected, at every safe cut of every labelled sample', () => {
    let cuts = 0;
    for (const { text } of readLabelledSet()) {
      for (let cut = 1; cut <= text.length; cut++) {
        if (!isSafeCut(text, cut)) continue;
        cuts++;
        expect(splitsCleanly(text, cut), `${JSON.stringify(text)} cut at ${cut}`).toBe(true);
      }
    }
    expect(cuts).toBeGreaterThan(2000);
  });

  it('change nothing in random texts built from value fragments, context words and separators', () => {
    const fragments = [
      'call',
      'Version',
      'v',
      'SSN:',
      'ssn',
      'aws_secret_access_key',
      '=',
      '"SecretAccessKey":',
      'GB29',
      'NWBK',
      '6016',
      '1331',
      '9268',
      '19',
      'DE89',
      '3704',
      '0044',
      '0532',
      '0130',
      '00',
      '+44',
      '20',
      '7946',
      '0958',
      '(415)',
      '555-0132',
      '555',
      '123',
      '4567',
      '4111',
      '1111',
      '(0)',
      '030',
      '12345678',
      '06',
      '12',
      '34',
      '123-45-6789',
      '123456789',
      '1.2.3.4',
      '10.0.0.1',
      '::1',
      'fe80::1',
      'a.b@example.com',
      '@',
      'eyJhbGciOiJIUzI1NiJ9',
      '.',
      'eyJzdWIiOiIxIn0',
      'c2lnbmF0dXJl',
      'sk-',
      'abc123def456ghi789jkl',
      'AKIA',
      'ABCDEFGHIJKLMNOP',
      '-----BEGIN',
      'PRIVATE',
      'KEY-----',
      '-----END',
      'MIIEow',
      'hello',
      'world',
      'Gecko)',
      '电话',
      '。',
      'USD',
      'Chrome/',
      '120.0.0.0',
      '#',
      '/',
      'wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEYab',
      'ext.',
    ];
    const separators = [' ', ' ', ' ', '', '\n', '\u00a0', '  ', '-', '.'];
    const next = random(42);
    const pick = <T>(items: readonly T[]) => items[Math.floor(next() * items.length)]!;
    for (let n = 0; n < 3000; n++) {
      let text = '';
      const length = 2 + Math.floor(next() * 14);
      for (let i = 0; i < length; i++) text += pick(fragments) + pick(separators);
      for (let cut = 1; cut <= text.length; cut++) {
        if (isSafeCut(text, cut)) {
          expect(splitsCleanly(text, cut), `${JSON.stringify(text)} cut at ${cut}`).toBe(true);
        }
      }
    }
  });

  it('fall after whitespace behind an inert word, or next to a script written without spaces', () => {
    expect(lastSafeCut('Hello there my fri')).toBe('Hello there my '.length);
    expect(lastSafeCut('Your version ')).toBe('Your '.length);
    expect(lastSafeCut('IBAN: GB29 NWBK ')).toBe(0);
    expect(lastSafeCut('电话号码是')).toBe('电话号码是'.length);
    expect(isInertWord('"Hello,')).toBe(true);
    expect(isInertWord('well-known')).toBe(true);
    expect(isInertWord('हिन्दी')).toBe(true);
    for (const word of ['NWBK', 'version', 'SSN:', '4111', 'a@b', '=', 'SecretAccessKey']) {
      expect(isInertWord(word), word).toBe(false);
    }
  });

  it('hold an open PEM block until its END line, or PEM_MAX_CHARS', () => {
    const open = 'key:\n-----BEGIN PRIVATE KEY-----\nMIIEvQ and more words ';
    expect(lastSafeCut(open)).toBe('key:\n'.length);
    const closed = `${open}\n-----END PRIVATE KEY-----\nthanks a lot `;
    expect(lastSafeCut(closed)).toBe(closed.length);
    const runaway = `-----BEGIN PRIVATE KEY----- ${'word '.repeat(PEM_MAX_CHARS / 5)}`;
    expect(lastSafeCut(runaway)).toBe(runaway.length);
  });
});
