import type { PiiMatch } from '../entities.ts';

/** AAA-GG-SSSS, or with spaces as printed on the card; the separator must be consistent. */
const SSN = /(?<![\w+#@$%&./\\-])(\d{3})([- ])(\d{2})\2(\d{4})(?![\w@]|[./-]\d)/g;

/** Nine bare digits count only right after the word SSN: `SSN: 123456789`, `ssn=123456789`. */
export const SSN_WORD = 'ssn';
const BARE_SSN = new RegExp(
  `(?<=(?:^|[^\\w])${SSN_WORD}\\s*[:#=]?\\s*)(\\d{3})()(\\d{2})(\\d{4})(?![\\w@]|[./-]\\d)`,
  'gi',
);

/**
 * Ranges the SSA never issues (https://www.ssa.gov/employer/randomization.html): area 000, 666 and
 * 900–999 (the 9xx area is ITINs), group 00, serial 0000.
 */
function issuable(area: string, group: string, serial: string): boolean {
  return area !== '000' && area !== '666' && area[0] !== '9' && group !== '00' && serial !== '0000';
}

export function findUsSsns(text: string): PiiMatch[] {
  const found: PiiMatch[] = [];
  for (const m of [...text.matchAll(SSN), ...text.matchAll(BARE_SSN)]) {
    if (!issuable(m[1]!, m[3]!, m[4]!)) continue;
    found.push({ entity: 'us_ssn', start: m.index, end: m.index + m[0].length, value: m[0] });
  }
  return found;
}
