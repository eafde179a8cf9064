import type { PiiMatch } from '../entities.ts';

const SPACE = '[ \\u00a0\\u202f]';
const SEPARATOR = `(?:${SPACE}?[-./]${SPACE}?|${SPACE})`;

/**
 * Digit groups joined by the separators people write in phone numbers, optionally after a `+`, with
 * parenthesised groups (`(415)`, `(0)`). A digit group needs a separator or a `)` before it, which
 * keeps the pattern unambiguous. Candidates are then checked against the formats below; most
 * numbers in text (dates, prices, order and tracking numbers, versions) fail every one of them.
 */
const CANDIDATE = new RegExp(
  `(?<![\\w+#@$%&./\\\\-])\\+?(?:\\(\\d{1,5}\\)|\\d{1,15})` +
    `(?:(?:${SEPARATOR})?\\(\\d{1,5}\\)|(?:${SEPARATOR}|(?<=\\)))\\d{1,15})*` +
    `(?![\\w@]|[./-]\\d)`,
  'g',
);

interface Parsed {
  groups: string[];
  /** separators[i] sits between groups[i] and groups[i + 1], spaces normalised to ' '. */
  separators: string[];
  /** Which groups were written in parentheses. */
  parenthesised: boolean[];
}

function parse(candidate: string): Parsed {
  const parsed: Parsed = { groups: [], separators: [], parenthesised: [] };
  const tokens = candidate.replace(/^\+/, '').match(/\(\d+\)|\d+|[^\d()]+/g) ?? [];
  let pendingSeparator = '';
  for (const token of tokens) {
    if (/^\d/.test(token) || token.startsWith('(')) {
      if (parsed.groups.length > 0) parsed.separators.push(pendingSeparator);
      parsed.groups.push(token.replace(/[()]/g, ''));
      parsed.parenthesised.push(token.startsWith('('));
      pendingSeparator = '';
    } else {
      pendingSeparator = token.replace(/[\u00a0\u202f]/g, ' ');
    }
  }
  return parsed;
}

// ITU-T E.164 country calling codes are prefix-free: one digit (1, 7), two digits, or three digits
// in the zones where no two-digit code exists.
const TWO_DIGIT_CODES = new Set([
  20, 27, 30, 31, 32, 33, 34, 36, 39, 40, 41, 43, 44, 45, 46, 47, 48, 49, 51, 52, 53, 54, 55, 56,
  57, 58, 60, 61, 62, 63, 64, 65, 66, 81, 82, 84, 86, 90, 91, 92, 93, 94, 95, 98,
]);
const THREE_DIGIT_ZONES = new Set([
  21, 22, 23, 24, 25, 26, 29, 35, 37, 38, 42, 50, 59, 67, 68, 69, 80, 85, 87, 88, 96, 97, 99,
]);

function callingCode(digits: string): string | null {
  if (digits[0] === '1' || digits[0] === '7') return digits.slice(0, 1);
  const two = Number(digits.slice(0, 2));
  if (TWO_DIGIT_CODES.has(two)) return digits.slice(0, 2);
  if (THREE_DIGIT_ZONES.has(two) && digits.length >= 3) return digits.slice(0, 3);
  return null;
}

/** National significant number lengths where a country's plan is strict; others get 6–12. */
const NATIONAL_LENGTHS: Readonly<Record<string, readonly [number, number]>> = {
  '1': [10, 10],
  '7': [10, 10],
  '31': [9, 9],
  '32': [8, 9],
  '33': [9, 9],
  '34': [9, 9],
  '39': [6, 11],
  '41': [9, 9],
  '44': [9, 10],
  '45': [8, 8],
  '46': [7, 9],
  '47': [8, 8],
  '48': [9, 9],
  '49': [6, 12],
  '61': [9, 9],
  '65': [8, 8],
  '81': [9, 10],
  '86': [10, 11],
  '91': [10, 10],
};

/** +CC …, or 00 CC … with at least one separator; a `(0)` trunk prefix after the code is dropped. */
function isInternational(candidate: string, p: Parsed): boolean {
  let groups = p.groups.map((digits, i) => ({
    digits,
    trunk: digits === '0' && p.parenthesised[i],
  }));
  if (!candidate.startsWith('+')) {
    if (groups.length < 2) return false;
    groups = [{ digits: groups[0]!.digits.slice(2), trunk: false }, ...groups.slice(1)];
    if (groups[0]!.digits === '') groups = groups.slice(1);
  }
  groups = groups.filter((g, i) => !(g.trunk && i === 1));
  const digits = groups.map((g) => g.digits).join('');
  const code = callingCode(digits);
  if (code === null || groups[0]!.digits.length < code.length) return false;
  const national = digits.slice(code.length);
  const [min, max] = NATIONAL_LENGTHS[code] ?? [6, 12];
  if (national.length < min || national.length > max || digits.length > 15) return false;
  return code !== '1' || /^[2-9]/.test(national);
}

/** (415) 555-0132, 415-555-0132, 415.555.0132, 415 555 0132, 1-800-555-0199. */
function isNorthAmerican(p: Parsed): boolean {
  let { groups, separators, parenthesised } = p;
  if (groups.length === 4 && groups[0] === '1' && !parenthesised[0]) {
    if (!/^[ .-]$/.test(separators[0]!)) return false;
    groups = groups.slice(1);
    separators = separators.slice(1);
    parenthesised = parenthesised.slice(1);
  }
  if (groups.length !== 3 || parenthesised[1] || parenthesised[2]) return false;
  const [area, exchange, line] = groups as [string, string, string];
  if (!/^[2-9]\d\d$/.test(area) || exchange.length !== 3 || line.length !== 4) return false;
  const [first, second] = separators as [string, string];
  if (parenthesised[0]) return /^[ -]?$/.test(first) && /^[ .-]$/.test(second);
  return /^[ .-]$/.test(first) && first === second;
}

const UK_LAYOUTS = new Set(['3,4,4', '4,3,4', '5,6', '5,3,3', '4,6']);

/** 020 7946 0958, 0161 496 0123, 07700 900123, 0800 123 4567. */
function isBritish(p: Parsed): boolean {
  const digits = p.groups.join('');
  if (!/^0[1235789]/.test(digits) || p.parenthesised.slice(1).some(Boolean)) return false;
  if (!p.separators.every((s, i) => s === ' ' || (i === 0 && p.parenthesised[0] && s === ''))) {
    return false;
  }
  return UK_LAYOUTS.has(p.groups.map((g) => g.length).join(','));
}

/**
 * 030 12345678, 0151 23456789, (089) 123456, 0221 / 98 76 54, 030-1234567, 0221 98765-0. Area codes
 * are 0 plus 2–5 digits; of the 01… prefixes only the mobile ranges 015x–017x are area-like.
 */
function isGerman(p: Parsed): boolean {
  const { groups, separators, parenthesised } = p;
  if (groups.length < 2 || !/^0(?:1[5-7]\d|[2-9]\d{1,4})$/.test(groups[0]!)) return false;
  if (parenthesised.slice(1).some(Boolean)) return false;
  const first = separators[0]!.trim();
  if (!(first === '' || first === '/' || first === '-')) return false;
  if (first === '-' && groups.length !== 2) return false;
  let subscriber = groups.slice(1);
  const last = separators.length - 1;
  if (last >= 1 && separators[last] === '-') {
    if (groups[last + 1]!.length > 5) return false;
    subscriber = subscriber.slice(0, -1);
  }
  if (!separators.slice(1, separators[last] === '-' ? last : undefined).every((s) => s === ' ')) {
    return false;
  }
  const digits = groups.join('').length;
  return subscriber.every((g) => g.length >= 2 && g.length <= 8) && digits >= 9 && digits <= 13;
}

/** 01 42 68 53 00, 06.12.34.56.78, 06-12-34-56-78. */
function isFrench(p: Parsed): boolean {
  return (
    p.groups.length === 5 &&
    p.groups.every((g) => g.length === 2) &&
    /^0[1-9]$/.test(p.groups[0]!) &&
    !p.parenthesised.some(Boolean) &&
    /^[ .-]$/.test(p.separators[0]!) &&
    p.separators.every((s) => s === p.separators[0])
  );
}

function isPhone(candidate: string): boolean {
  const p = parse(candidate);
  if (candidate.startsWith('+') || candidate.startsWith('00')) return isInternational(candidate, p);
  if (p.groups.length < 2) return false;
  return isNorthAmerican(p) || isBritish(p) || isGerman(p) || isFrench(p);
}

/** A slash separates alternatives as often as it separates a German area code: `… / …`. */
const SLASH = /([ \u00a0\u202f]*\/[ \u00a0\u202f]*)/;

export function findPhones(text: string): PiiMatch[] {
  const found: PiiMatch[] = [];
  const add = (start: number, value: string) => {
    found.push({ entity: 'phone', start, end: start + value.length, value });
  };
  for (const m of text.matchAll(CANDIDATE)) {
    if (isPhone(m[0])) {
      add(m.index, m[0]);
      continue;
    }
    // Parts at even indexes, the slashes between them at odd ones.
    const pieces = m[0].split(SLASH);
    if (pieces.length === 1) continue;
    let offset = m.index;
    pieces.forEach((piece, i) => {
      if (i % 2 === 0 && isPhone(piece)) add(offset, piece);
      offset += piece.length;
    });
  }
  return found;
}
