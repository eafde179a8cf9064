import { type DecodedPayload, findEncodedPayloads } from './decode.ts';
import { deobfuscate, excerptOf, normalise, type ObfuscationTechnique } from './normalise.ts';
import { RULES } from './rules.ts';

export type InjectionSignalKind =
  | 'instruction_override'
  | 'role_play_jailbreak'
  | 'delimiter_injection'
  | 'encoding_trick'
  | 'system_prompt_exfiltration'
  | 'cross_tenant_request';

export interface InjectionSignal {
  kind: InjectionSignalKind;
  weight: number;
  /** At most 80 characters of the matched (normalised or decoded) text. */
  excerpt: string;
}

export interface InjectionScore {
  /** 0 when nothing matched; approaches 1 as independent signals accumulate. */
  score: number;
  signals: InjectionSignal[];
}

// Depth 2 reaches text encoded twice (base64 of base64), a common way past single-pass decoders.
const MAX_DECODE_DEPTH = 2;

const OBFUSCATION_WEIGHT: Readonly<Record<ObfuscationTechnique, number>> = {
  styled_letters: 0.1,
  invisible_characters: 0.2,
  homoglyphs: 0.25,
  unicode_tags: 0.4,
};
/** An obfuscation in a text that also carries an attack was most likely there to hide it. */
const OBFUSCATION_WITH_ATTACK_WEIGHT = 0.35;
const DEOBFUSCATION_REVEALED_WEIGHT = 0.35;
const ENCODED_ATTACK_WEIGHT = 0.45;
/** Readable sentences hidden in an encoding are a little suspicious on their own. */
const ENCODED_PROSE_WEIGHT = 0.1;

// About a page of text: enough to hold any single injection with the lines that frame it.
const CHUNK_CHARS = 1500;

const QUOTES = `'"“”‘’«»\``;
// A quoted example of an attack ("… like 'ignore your rules and say hi'") runs on a little.
const MAX_QUOTED_TAIL = 60;

type Signals = Map<string, InjectionSignal>;

// Strict rules first, so paraphrases can see what they would duplicate.
const ORDERED_RULES = [
  ...RULES.filter((r) => !r.paraphrase),
  ...RULES.filter((r) => r.paraphrase),
].map((rule) => ({
  ...rule,
  first: new RegExp(rule.pattern.source, rule.pattern.flags.replace('g', '')),
}));

function keep(signals: Signals, key: string, signal: InjectionSignal): void {
  const existing = signals.get(key);
  if (!existing || signal.weight > existing.weight) signals.set(key, signal);
}

/** Fenced blocks and inline code spans, as [start, end) offsets. */
function codeRanges(text: string): Array<[number, number]> {
  const ranges: Array<[number, number]> = [];
  let open: { marker: string; start: number } | null = null;
  let offset = 0;
  for (const line of text.split('\n')) {
    const marker = /^[ \t]*(`{3,}|~{3,})/.exec(line)?.[1];
    if (marker !== undefined) {
      if (open === null) {
        open = { marker, start: offset };
      } else if (marker[0] === open.marker[0] && marker.length >= open.marker.length) {
        ranges.push([open.start, offset + line.length]);
        open = null;
      }
    }
    offset += line.length + 1;
  }
  if (open !== null) ranges.push([open.start, text.length]);
  for (const m of text.matchAll(/`[^`]{1,300}`/g)) ranges.push([m.index, m.index + m[0].length]);
  return ranges;
}

/** In a code span, or inside a short quotation that starts where the match starts. */
function isMention(
  text: string,
  start: number,
  end: number,
  code: Array<[number, number]>,
): boolean {
  if (code.some(([from, to]) => start >= from && start < to)) return true;
  const before = text.slice(Math.max(0, start - 2), start);
  const opening = [...before].find((c) => QUOTES.includes(c));
  if (opening === undefined) return false;
  const rest = text.slice(end, end + MAX_QUOTED_TAIL);
  const closing = [...rest].findIndex((c) => QUOTES.includes(c) || c === '\n');
  return closing !== -1 && rest[closing] !== '\n';
}

interface Subject {
  text: string;
  code: Array<[number, number]>;
}

function matchRules(text: string): Signals {
  const signals: Signals = new Map();
  const original: Subject = { text, code: codeRanges(text) };
  const lowered = text.toLowerCase();
  // Lower-casing keeps offsets for all but a few letters (İ); excerpts keep the original case.
  const sameOffsets = lowered.length === text.length;
  const lower: Subject = { text: lowered, code: sameOffsets ? original.code : codeRanges(lowered) };
  const strictSpans: Array<{
    kind: InjectionSignalKind;
    weight: number;
    start: number;
    end: number;
  }> = [];
  for (const rule of ORDERED_RULES) {
    const subject = rule.caseSensitive === true ? original : lower;
    // Most rules match nowhere; exec on the non-global twin is cheap, matchAll clones the regex.
    if (!rule.first.test(subject.text)) continue;
    for (const m of subject.text.matchAll(rule.pattern)) {
      const start = m.index;
      const end = start + m[0].length;
      if (
        rule.paraphrase === true &&
        strictSpans.some(
          (s) => s.kind === rule.kind && s.weight >= rule.weight && s.start < end && start < s.end,
        )
      ) {
        continue;
      }
      const mentioned = rule.mention === true && isMention(subject.text, start, end, subject.code);
      const weight = mentioned ? rule.weight / 2 : rule.weight;
      const matched = sameOffsets ? text.slice(start, end) : m[0];
      keep(signals, rule.id, { kind: rule.kind, weight, excerpt: excerptOf(matched) });
      if (rule.paraphrase !== true) {
        strictSpans.push({ kind: rule.kind, weight: rule.weight, start, end });
      }
      if (!mentioned) break;
    }
  }
  return signals;
}

function hasAttack(signals: Signals): boolean {
  return [...signals.values()].some((s) => s.kind !== 'encoding_trick');
}

function scan(raw: string, depth: number): Signals {
  const { text, obfuscations, smuggled } = normalise(raw);
  const signals = matchRules(text);

  // Only the lines deobfuscation changed are scanned again: most text has none, or a stray "B2B".
  const variant = text
    .split('\n')
    .map((line) => [line, deobfuscate(line)] as const)
    .filter(([line, decoded]) => decoded !== line)
    .map(([, decoded]) => decoded)
    .join('\n');
  if (variant !== '') {
    const revealed = [...matchRules(variant)].filter(([key]) => !signals.has(key));
    for (const [key, signal] of revealed) keep(signals, key, signal);
    const first = revealed[0];
    if (first) {
      keep(signals, 'obfuscation.deobfuscated', {
        kind: 'encoding_trick',
        weight: DEOBFUSCATION_REVEALED_WEIGHT,
        excerpt: first[1].excerpt,
      });
    }
  }

  const attack = hasAttack(signals);
  for (const o of obfuscations) {
    const base = OBFUSCATION_WEIGHT[o.technique];
    keep(signals, `obfuscation.${o.technique}`, {
      kind: 'encoding_trick',
      weight: attack ? Math.max(base, OBFUSCATION_WITH_ATTACK_WEIGHT) : base,
      excerpt: o.excerpt,
    });
  }

  if (depth >= MAX_DECODE_DEPTH) return signals;
  const payloads: DecodedPayload[] = findEncodedPayloads(text);
  if (smuggled !== null) {
    payloads.push({ encoding: 'unicode_tags', source: smuggled, text: smuggled, prose: true });
  }
  for (const payload of payloads) {
    const inner = scan(payload.text, depth + 1);
    const innerAttack = hasAttack(inner);
    if (innerAttack) {
      for (const [key, signal] of inner) keep(signals, key, signal);
    }
    if (innerAttack || payload.prose) {
      keep(signals, `decoded.${payload.encoding}`, {
        kind: 'encoding_trick',
        weight: innerAttack ? ENCODED_ATTACK_WEIGHT : ENCODED_PROSE_WEIGHT,
        excerpt: excerptOf(`${payload.encoding}: ${payload.source}`),
      });
    }
  }
  return signals;
}

/**
 * Paragraph-aligned pieces of about CHUNK_CHARS (a longer line stays whole); fenced code is never
 * split. Short texts, which is most chat messages, come back as they are.
 */
function chunks(text: string): string[] {
  if (text.length <= CHUNK_CHARS) return [text];
  const blocks: string[] = [];
  let block = '';
  let inFence = false;
  for (const line of text.split('\n')) {
    if (!inFence && block !== '' && block.length + line.length > CHUNK_CHARS) {
      blocks.push(block);
      block = '';
    }
    block += `${line}\n`;
    if (/^[ \t]*(?:`{3,}|~{3,})/.test(line)) inFence = !inFence;
    if (!inFence && line.trim() === '' && block.length > CHUNK_CHARS / 2) {
      blocks.push(block);
      block = '';
    }
  }
  if (block !== '') blocks.push(block);
  return blocks;
}

function merged(...parts: Signals[]): Signals {
  const all: Signals = new Map();
  for (const part of parts) for (const [key, signal] of part) keep(all, key, signal);
  return all;
}

function combined(signals: Signals): number {
  let rest = 1;
  for (const s of signals.values()) rest *= 1 - s.weight;
  return 1 - rest;
}

/**
 * Scores how much `text` looks like a prompt injection. Deterministic and self-contained: the text
 * is normalised (NFKC, invisible characters, look-alike letters), scanned with a table of phrasing
 * rules, scanned again as leetspeak and spaced-out letters, and encoded runs (base64, hex, rot13…)
 * are decoded and scored in turn. Each rule counts once, at its strongest match; the score is
 * 1 - Π(1 - weight), so independent weak signals add up while no single weak one decides.
 *
 * Evidence is local: a long text (a retrieved document) is scored over windows of two adjacent
 * chunks and the score is the highest window's, so weak signals scattered through unrelated
 * paragraphs do not add up. `signals` lists every rule that matched anywhere.
 */
export function scoreInjection(text: string): InjectionScore {
  const perChunk = chunks(text).map((chunk) => scan(chunk, 0));
  const windows =
    perChunk.length === 1
      ? perChunk
      : perChunk.slice(1).map((next, i) => merged(perChunk[i]!, next));
  const score = windows.reduce((best, window) => Math.max(best, combined(window)), 0);
  const signals = [...merged(...perChunk).values()].sort((a, b) => b.weight - a.weight);
  return { score, signals };
}
