import { describe, expect, it } from 'vitest';
import { splitSentences } from './sentences.ts';

describe('splitSentences', () => {
  it('splits at terminators and line breaks', () => {
    expect(splitSentences('One here. Two here! Three here?\nFour here\n\nFive')).toEqual([
      'One here.',
      'Two here!',
      'Three here?',
      'Four here',
      'Five',
    ]);
  });

  it('keeps decimals, common abbreviations, initials and list markers inside the sentence', () => {
    expect(
      splitSentences(
        'Use a flag, e.g. --force to skip. Pi is 3.14 roughly. Ask Dr. Lee or J. Smith.',
      ),
    ).toEqual([
      'Use a flag, e.g. --force to skip.',
      'Pi is 3.14 roughly.',
      'Ask Dr. Lee or J. Smith.',
    ]);
    expect(splitSentences('1. Install it.\n2. Run it.')).toEqual(['1. Install it.', '2. Run it.']);
  });

  it('splits after closing quotes and at CJK full stops', () => {
    expect(splitSentences('He said "stop." Then left.')).toEqual(['He said "stop."', 'Then left.']);
    expect(splitSentences('東京は大きい。大阪も大きい。')).toEqual([
      '東京は大きい。',
      '大阪も大きい。',
    ]);
  });

  it('drops fragments without words', () => {
    expect(splitSentences('---\n...\nReal text.')).toEqual(['Real text.']);
  });

  it('bounds unpunctuated text to 60-word pieces', () => {
    const pieces = splitSentences(Array.from({ length: 130 }, (_, i) => `w${i}`).join(' '));
    expect(pieces.map((piece) => piece.split(' ').length)).toEqual([60, 60, 10]);
  });
});
