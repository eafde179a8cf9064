import { ibanChecksumValid } from '../checksums.ts';
import type { PiiMatch } from '../entities.ts';

/** IBAN length per country, from the SWIFT IBAN registry. */
// prettier-ignore
const LENGTHS: Readonly<Record<string, number>> = {
  AD: 24, AE: 23, AL: 28, AT: 20, AZ: 28, BA: 20, BE: 16, BG: 22, BH: 22, BI: 27, BR: 29, BY: 28,
  CH: 21, CR: 22, CY: 28, CZ: 24, DE: 22, DJ: 27, DK: 18, DO: 28, EE: 20, EG: 29, ES: 24, FI: 18,
  FK: 18, FO: 18, FR: 27, GB: 22, GE: 22, GI: 23, GL: 18, GR: 27, GT: 28, HN: 28, HR: 21, HU: 28,
  IE: 22, IL: 23, IQ: 23, IS: 26, IT: 27, JO: 30, KW: 30, KZ: 20, LB: 28, LC: 32, LI: 21, LT: 20,
  LU: 20, LV: 21, LY: 25, MC: 27, MD: 24, ME: 22, MK: 19, MN: 20, MR: 27, MT: 31, MU: 30, NI: 28,
  NL: 18, NO: 15, OM: 23, PK: 24, PL: 28, PS: 29, PT: 25, QA: 29, RO: 24, RS: 22, RU: 33, SA: 24,
  SC: 31, SD: 18, SE: 24, SI: 19, SK: 24, SM: 27, SO: 23, ST: 25, SV: 28, TL: 23, TN: 24, TR: 26,
  UA: 29, VA: 22, VG: 24, XK: 20,
};

const HEAD = /(?<![A-Za-z0-9])([A-Z]{2})\d{2}/g;
const ALNUM = /^[A-Z0-9]$/;
const SEPARATOR = /^[ \u00a0]$/;

function isAlnum(ch: string | undefined): boolean {
  return ch !== undefined && ALNUM.test(ch);
}

/**
 * The end of an IBAN of `length` characters starting at `start`, written either compact or in the
 * printed form (groups of four separated by single spaces), or -1. The character after it must
 * not continue the word, so a longer id that starts like an IBAN is not cut short.
 */
function ibanEnd(text: string, start: number, length: number): number {
  let compact = start + 4;
  while (compact < start + length && isAlnum(text[compact])) compact++;
  if (compact === start + length && !/[A-Za-z0-9]/.test(text[compact] ?? '')) return compact;

  let pos = start + 4;
  let remaining = length - 4;
  while (remaining > 0) {
    if (!SEPARATOR.test(text[pos] ?? '')) return -1;
    pos++;
    const group = Math.min(4, remaining);
    for (let i = 0; i < group; i++, pos++) {
      if (!isAlnum(text[pos])) return -1;
    }
    remaining -= group;
  }
  return /[A-Za-z0-9]/.test(text[pos] ?? '') ? -1 : pos;
}

export function findIbans(text: string): PiiMatch[] {
  const found: PiiMatch[] = [];
  for (const m of text.matchAll(HEAD)) {
    const length = LENGTHS[m[1]!];
    if (length === undefined) continue;
    const end = ibanEnd(text, m.index, length);
    if (end < 0) continue;
    const value = text.slice(m.index, end);
    if (!ibanChecksumValid(value.replace(/[ \u00a0]/g, ''))) continue;
    found.push({ entity: 'iban', start: m.index, end, value });
  }
  return found;
}
