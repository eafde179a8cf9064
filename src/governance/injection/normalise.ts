/**
 * Undoes the tricks that hide words from a pattern match, and reports which tricks were used:
 * compatibility forms (full-width, mathematical letters), invisible characters inside words,
 * look-alike letters from other scripts, and text smuggled in Unicode tag characters.
 */

export type ObfuscationTechnique =
  'styled_letters' | 'invisible_characters' | 'homoglyphs' | 'unicode_tags';

export interface Obfuscation {
  technique: ObfuscationTechnique;
  excerpt: string;
}

export interface NormalisedText {
  /** NFKC, invisible and tag characters removed, look-alikes mapped in mixed-script words. */
  text: string;
  obfuscations: Obfuscation[];
  /** Printable text hidden in Unicode tag characters (U+E0020–U+E007E), if any. */
  smuggled: string | null;
}

// Mathematical alphanumerics, full-width Latin, circled and squared letters: NFKC folds them to
// ASCII, but ordinary prose does not use them to spell words.
const STYLED_LETTERS =
  /[\u{1D400}-\u{1D7FF}\uFF21-\uFF3A\uFF41-\uFF5A\u24B6-\u24E9\u{1F130}-\u{1F189}]/u;

// Zero-width characters, joiners, bidi controls, soft hyphen, variation selectors, fillers, BOM:
// Unicode's default-ignorable set, which renders as nothing.
const INVISIBLE = /\p{Default_Ignorable_Code_Point}+/gu;
// The soft hyphen is legitimate inside words in scraped web text, so it is removed, not reported.
const INVISIBLE_INSIDE_WORD = /[A-Za-z][^\P{Default_Ignorable_Code_Point}\u00AD]+[A-Za-z]/u;

const TAG_RUN = /(\u{1F3F4})?([\u{E0000}-\u{E007F}]+)/gu;

/** Cyrillic and Greek letters that render like Latin ones, each followed by the letter it imitates. */
const LOOKALIKES =
  'аaвbеeкkмmнhоoрpсcтtуyхxіiјjѕsԁdһhӏlԛqԝwүyАAВBЕEКKМMНHОOРPСCТTХXІIЈJЅS' +
  'αaεeιiκkνvοoρpτtυuχxΑAΒBΕEΖZΗHΙIΚKΜMΝNΟOΡPΤTΥYΧX';
const HOMOGLYPHS: ReadonlyMap<string, string> = new Map(
  Array.from({ length: LOOKALIKES.length / 2 }, (_, i) => [
    LOOKALIKES[2 * i]!,
    LOOKALIKES[2 * i + 1]!,
  ]),
);
const HOMOGLYPH_CLASS = `[${[...HOMOGLYPHS.keys()].join('')}]`;
const WORD = /[\p{L}\p{M}]+/gu;
const LATIN = /[A-Za-z]/;
const HAS_HOMOGLYPH = new RegExp(HOMOGLYPH_CLASS, 'u');
const HOMOGLYPH_GLOBAL = new RegExp(HOMOGLYPH_CLASS, 'gu');

const NAMED_ENTITIES: Readonly<Record<string, string>> = {
  lt: '<',
  gt: '>',
  amp: '&',
  quot: '"',
  apos: "'",
  nbsp: ' ',
};

/** Markup in documents (RAG) can spell `<|im_start|>` as `&lt;|im_start|&gt;`. */
function decodeHtmlEntities(text: string): string {
  return text.replace(
    /&(?:#(\d{1,7})|#x([0-9a-f]{1,6})|(lt|gt|amp|quot|apos|nbsp));/giu,
    (all: string, dec: string | undefined, hex: string | undefined, name: string | undefined) => {
      if (name !== undefined) return NAMED_ENTITIES[name.toLowerCase()] ?? all;
      const code = dec !== undefined ? Number(dec) : Number.parseInt(hex ?? '', 16);
      return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : all;
    },
  );
}

export function excerptOf(text: string, max = 80): string {
  const collapsed = text.replace(/\s+/gu, ' ').trim();
  const chars = Array.from(collapsed);
  return chars.length <= max ? collapsed : chars.slice(0, max).join('');
}

export function normalise(raw: string): NormalisedText {
  const obfuscations: Obfuscation[] = [];
  const smuggledParts: string[] = [];

  // Tag characters spell ASCII invisibly; the one legitimate use is a subdivision flag emoji
  // (🏴 followed by tags), which is left out of the payload.
  let text = raw.replace(TAG_RUN, (_all, flag: string | undefined, run: string) => {
    if (flag !== undefined) return flag;
    const decoded = Array.from(run, (c) => String.fromCharCode(c.codePointAt(0)! - 0xe0000))
      .join('')
      .replace(/[^\x20-\x7e\n]/g, '');
    if (decoded.trim() !== '') smuggledParts.push(decoded);
    return '';
  });
  if (smuggledParts.length > 0) {
    obfuscations.push({ technique: 'unicode_tags', excerpt: excerptOf(smuggledParts.join(' ')) });
  }

  text = decodeHtmlEntities(text);
  // JSON-escaped input: a literal "\n\nSystem:" fakes a new turn as well as a real line break.
  text = text.replace(/\\[nr]/g, '\n').replace(/\\t/g, '\t');

  const styled = STYLED_LETTERS.exec(text);
  if (styled) {
    obfuscations.push({
      technique: 'styled_letters',
      excerpt: excerptOf(text.slice(styled.index, styled.index + 40)),
    });
  }
  text = text.normalize('NFKC');

  const invisible = INVISIBLE_INSIDE_WORD.exec(text);
  if (invisible) {
    obfuscations.push({ technique: 'invisible_characters', excerpt: excerptOf(invisible[0]) });
  }
  text = text.replace(INVISIBLE, '');

  let homoglyphExcerpt: string | null = null;
  text = text.replace(WORD, (word) => {
    if (!LATIN.test(word) || !HAS_HOMOGLYPH.test(word)) return word;
    homoglyphExcerpt ??= word;
    return word.replace(HOMOGLYPH_GLOBAL, (c) => HOMOGLYPHS.get(c) ?? c);
  });
  if (homoglyphExcerpt !== null) {
    obfuscations.push({ technique: 'homoglyphs', excerpt: excerptOf(homoglyphExcerpt) });
  }

  return {
    text,
    obfuscations,
    smuggled: smuggledParts.length > 0 ? smuggledParts.join(' ') : null,
  };
}

const LEET: Readonly<Record<string, string>> = {
  '0': 'o',
  '1': 'i',
  '3': 'e',
  '4': 'a',
  '5': 's',
  '7': 't',
  '8': 'b',
  '9': 'g',
  '@': 'a',
  $: 's',
};
const LEET_TOKEN = /[\p{L}0-9@$]+/gu;
const HAS_LETTER = /\p{L}/u;
const HAS_LEET = /[0-9@$]/;
// "i g n o r e", "i.g.n.o.r.e", "i-g-n-o-r-e": three or more letters, each after the same separator.
const SPACED_LETTERS = /(?<![\p{L}\p{N}])\p{L}([ .\-_*·])\p{L}(?:\1\p{L})+(?![\p{L}\p{N}])/gu;
const MARKUP_INSIDE_WORD = /(?<=\p{L})[*_~`|]+(?=\p{L})/gu;

/**
 * The text as a reader would decode it: leetspeak in words that mix letters with digits or
 * symbols, letters spaced out one by one, emphasis markup inside words. Returned separately
 * because it is lossy ("mp3" becomes "mpe"): it is only scanned for what the plain text hid.
 */
export function deobfuscate(text: string): string {
  return text
    .replace(SPACED_LETTERS, (run, sep: string) => run.split(sep).join(''))
    .replace(MARKUP_INSIDE_WORD, '')
    .replace(LEET_TOKEN, (token) => {
      if (!HAS_LETTER.test(token) || !HAS_LEET.test(token)) return token;
      // "a11" is "all" far more often than "aii".
      return token.replace(/11/g, 'll').replace(/[0-9@$]/g, (c) => LEET[c] ?? c);
    });
}
