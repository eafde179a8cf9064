import { luhnValid } from '../checksums.ts';
import type { PiiMatch } from '../entities.ts';

/** Issuer identification number prefixes and the lengths each scheme issues. */
const SCHEMES: readonly { prefixes: readonly [number, number][]; lengths: readonly number[] }[] = [
  { prefixes: [[4, 4]], lengths: [13, 16, 19] }, // Visa
  {
    prefixes: [
      [51, 55],
      [2221, 2720],
    ],
    lengths: [16],
  }, // Mastercard
  {
    prefixes: [
      [34, 34],
      [37, 37],
    ],
    lengths: [15],
  }, // American Express
  {
    prefixes: [
      [6011, 6011],
      [644, 649],
      [65, 65],
    ],
    lengths: [16, 17, 18, 19],
  }, // Discover
  {
    prefixes: [
      [300, 305],
      [36, 36],
      [38, 39],
    ],
    lengths: [14, 15, 16, 17, 18, 19],
  }, // Diners Club
  { prefixes: [[3528, 3589]], lengths: [16, 17, 18, 19] }, // JCB
  { prefixes: [[62, 62]], lengths: [16, 17, 18, 19] }, // UnionPay
  {
    prefixes: [
      [50, 50],
      [56, 58],
      [63, 63],
      [67, 67],
    ],
    lengths: [13, 14, 15, 16, 17, 18, 19],
  }, // Maestro
  { prefixes: [[2200, 2204]], lengths: [16, 17, 18, 19] }, // Mir
];

function knownScheme(digits: string): boolean {
  return SCHEMES.some(
    (scheme) =>
      scheme.lengths.includes(digits.length) &&
      scheme.prefixes.some(([low, high]) => {
        const prefix = Number(digits.slice(0, String(low).length));
        return prefix >= low && prefix <= high;
      }),
  );
}

/** Digit groups joined by one consistent separator: 4111 1111 1111 1111, 3782-822463-10005. */
const RUN = /(?<![\w+#@$%&./\\-])\d+(?:([ \u00a0-])\d+(?:\1\d+)*)?(?![\w@]|[./-]\d)/g;

/**
 * The cards in a run: stretches of it that form a 13–19 digit number with a known IIN and a valid
 * Luhn digit, so a card written next to other numbers the same way (`4111 1111 1111 1111 12 26`
 * with its expiry, `+44 20 7946 0958 4111111111111111`) is still found. A stretch is one group of
 * 13–19 digits, or groups that look like a card: four digits first, then 3–6 per group.
 */
function cardsInRun(
  run: string,
  separator: string | undefined,
): { offset: number; value: string }[] {
  const groups = separator === undefined ? [run] : run.split(separator);
  const offsets: number[] = [];
  for (let i = 0, offset = 0; i < groups.length; offset += groups[i]!.length + 1, i++) {
    offsets.push(offset);
  }
  const cards: { offset: number; value: string }[] = [];
  for (let first = 0; first < groups.length;) {
    let last = -1;
    let digits = '';
    for (let i = first; i < groups.length; i++) {
      const group = groups[i]!;
      const shaped =
        i === first
          ? group.length === 4 || (group.length >= 13 && group.length <= 19)
          : groups[first]!.length === 4 && group.length >= 3 && group.length <= 6;
      if (!shaped) break;
      digits += group;
      if (digits.length > 19) break;
      if (digits.length >= 13 && isCard(digits)) last = i;
    }
    if (last < 0) {
      first++;
      continue;
    }
    const end = offsets[last]! + groups[last]!.length;
    cards.push({ offset: offsets[first]!, value: run.slice(offsets[first], end) });
    first = last + 1;
  }
  return cards;
}

function isCard(digits: string): boolean {
  return knownScheme(digits) && luhnValid(digits);
}

export function findPaymentCards(text: string): PiiMatch[] {
  const found: PiiMatch[] = [];
  for (const m of text.matchAll(RUN)) {
    for (const { offset, value } of cardsInRun(m[0], m[1])) {
      const start = m.index + offset;
      found.push({ entity: 'payment_card', start, end: start + value.length, value });
    }
  }
  return found;
}
