/**
 * Finds runs of text that are encoded (base64, hex, percent-encoding) or scrambled (rot13,
 * reversed) and decode to readable text. Binary payloads (images, hashes, keys, compressed data)
 * fail the readability check and are ignored.
 */

/** `unicode_tags` payloads are extracted by `normalise`, which has to strip them anyway. */
export type Encoding = 'base64' | 'hex' | 'percent' | 'rot13' | 'reversed' | 'unicode_tags';

export interface DecodedPayload {
  encoding: Encoding;
  /** The encoded run as it appears in the text. */
  source: string;
  text: string;
  /** Whether the decoded text reads like sentences rather than an identifier or JSON. */
  prose: boolean;
}

// A run is decoded up to this many characters: enough for any instruction, bounded for images.
const MAX_RUN = 8192;

const BASE64_RUN = /(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{20,}={0,2}/g;
const HEX_RUN = /(?<![0-9A-Za-z])(?:[0-9A-Fa-f]{2}){10,}(?![0-9A-Za-z])/g;
const HEX_ESCAPED_RUN = /(?:\\x[0-9A-Fa-f]{2}){6,}/g;
const HEX_SPACED_RUN = /(?<![0-9A-Za-z])(?:[0-9A-Fa-f]{2}[ ,:]){6,}[0-9A-Fa-f]{2}(?![0-9A-Za-z])/g;
const PERCENT_RUN = /(?:%[0-9A-Fa-f]{2}){6,}/g;

const UTF8 = new TextDecoder('utf-8', { fatal: true });

function utf8(bytes: Buffer): string | null {
  try {
    return UTF8.decode(bytes);
  } catch {
    return null;
  }
}

/** Printable text: no control characters besides whitespace, mostly letters, digits, punctuation. */
function readable(text: string): boolean {
  // Control characters other than line breaks and tabs, or U+FFFD, mean binary.
  if (text.length < 4 || /[^\P{Cc}\t\n\r]|\uFFFD/u.test(text)) return false;
  const plain = text.match(/[\p{L}\p{N}\p{P}\p{Zs}\n\t]/gu)?.length ?? 0;
  return plain / Array.from(text).length >= 0.9;
}

function isProse(text: string): boolean {
  const words = text.split(/\s+/u).filter((w) => /^\p{L}{2,}[\p{P}]*$/u.test(w));
  const lettersAndSpaces = text.match(/[\p{L}\s]/gu)?.length ?? 0;
  return words.length >= 3 && lettersAndSpaces / text.length >= 0.75;
}

function payload(encoding: Encoding, source: string, text: string | null): DecodedPayload | null {
  if (text === null || !readable(text)) return null;
  return { encoding, source, text, prose: isProse(text) };
}

function decodeBase64(run: string): string | null {
  const body = run.replace(/=+$/, '').slice(0, MAX_RUN);
  const usable = body.slice(0, body.length - (body.length % 4 === 1 ? 1 : 0));
  const alphabet = /[-_]/.test(usable) ? 'base64url' : 'base64';
  return utf8(Buffer.from(usable, alphabet));
}

function hexText(digits: string): string | null {
  return utf8(Buffer.from(digits.slice(0, MAX_RUN), 'hex'));
}

const FUNCTION_WORDS = new Set(
  (
    'the and you your are all to of is in it this that for ' +
    'with now me my what before previous instructions ignore system prompt rules reveal print ' +
    'forget disregard show data from tell'
  ).split(' '),
);

function functionWordCount(text: string): number {
  let count = 0;
  for (const word of text.toLowerCase().match(/[a-z]+/g) ?? []) {
    if (FUNCTION_WORDS.has(word)) count += 1;
  }
  return count;
}

function rot13(text: string): string {
  return text.replace(/[A-Za-z]/g, (c) => {
    const base = c <= 'Z' ? 65 : 97;
    return String.fromCharCode(((c.charCodeAt(0) - base + 13) % 26) + base);
  });
}

function reversed(text: string): string {
  return Array.from(text).reverse().join('');
}

/**
 * Scrambled English has almost no function words; unscrambled, it is full of them. A clause is
 * taken as rot13 (or reversed) when the transformed form has several and clearly more.
 */
function unscrambled(text: string): DecodedPayload[] {
  const found: DecodedPayload[] = [];
  for (const clause of text.split(/[\n.!?;:"“”()[\]{}<>]+/u)) {
    const words = clause.match(/[A-Za-z]+/g)?.length ?? 0;
    if (words < 3) continue;
    const plainCount = functionWordCount(clause);
    // Ordinary prose already reads as prose; only clauses nearly free of function words are tried.
    if (plainCount >= 2 && plainCount * 6 >= words) continue;
    for (const [encoding, transform] of [
      ['rot13', rot13],
      ['reversed', reversed],
    ] as const) {
      const candidate = transform(clause);
      const count = functionWordCount(candidate);
      if (count >= 2 && count >= words / 4 && count > plainCount * 2) {
        found.push({ encoding, source: clause.trim(), text: candidate.trim(), prose: true });
      }
    }
  }
  return found;
}

export function findEncodedPayloads(text: string): DecodedPayload[] {
  const found: DecodedPayload[] = [];
  const add = (p: DecodedPayload | null) => {
    if (p) found.push(p);
  };
  for (const [run] of text.matchAll(BASE64_RUN)) add(payload('base64', run, decodeBase64(run)));
  for (const [run] of text.matchAll(HEX_RUN)) add(payload('hex', run, hexText(run)));
  for (const [run] of text.matchAll(HEX_ESCAPED_RUN)) {
    add(payload('hex', run, hexText(run.replace(/\\x/g, ''))));
  }
  for (const [run] of text.matchAll(HEX_SPACED_RUN)) {
    add(payload('hex', run, hexText(run.replace(/[ ,:]/g, ''))));
  }
  for (const [run] of text.matchAll(PERCENT_RUN)) {
    add(payload('percent', run, utf8(Buffer.from(run.replace(/%/g, ''), 'hex'))));
  }
  found.push(...unscrambled(text));
  return found;
}
