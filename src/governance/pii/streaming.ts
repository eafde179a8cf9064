import { BkError } from '../../core/errors.ts';
import { isContextWord, lastSafeCut, openPemStart, wordBefore } from './boundaries.ts';
import { detectPii } from './detect.ts';
import { PEM_MAX_CHARS } from './detectors/secret.ts';
import type { PiiEntity } from './entities.ts';
import type { PiiRedactor } from './redactor.ts';

const DEFAULT_MAX_HOLD_CHARS = 256;
/**
 * What a forced cut keeps held: more than the longest value that spans whitespace (an IBAN in print
 * form, 34 characters and 8 spaces), so a value that crosses the cut has arrived whole and is seen.
 */
const FORCED_CUT_TAIL = 48;

/**
 * Redacts streamed output. Text is held back only while it could still become part of a value: it
 * is emitted up to the last cut where splitting cannot change what is detected (boundaries.ts) — in
 * prose, everything but a word still arriving — and each emitted part goes through the request's
 * PiiRedactor, so a value split across chunks is found exactly as if the text had arrived whole.
 *
 * When more than `maxHoldChars` have no safe cut (a long table of numbers, minified code), the text
 * is cut anyway at a word start that keeps the last characters held and splits no value detected so
 * far; a value spanning such a forced cut can then be missed. An open PEM private key is the
 * exception: it is held until its END line or PEM_MAX_CHARS, then redacted as a secret either way.
 */
export class StreamingPiiRedactor {
  readonly #redactor: PiiRedactor;
  readonly #maxHoldChars: number;
  #pending = '';
  #blocked: PiiEntity[] = [];
  readonly #found: Partial<Record<PiiEntity, number>> = {};

  constructor(redactor: PiiRedactor, options: { maxHoldChars?: number } = {}) {
    const maxHoldChars = options.maxHoldChars ?? DEFAULT_MAX_HOLD_CHARS;
    if (!Number.isInteger(maxHoldChars) || maxHoldChars < 2 * FORCED_CUT_TAIL) {
      throw new BkError(
        'BK_VALIDATION_FAILED',
        `maxHoldChars must be an integer of at least ${2 * FORCED_CUT_TAIL}.`,
      );
    }
    this.#redactor = redactor;
    this.#maxHoldChars = maxHoldChars;
  }

  /** Entities with action 'block' seen so far; once there is one, nothing more is emitted. */
  get blocked(): PiiEntity[] {
    return [...this.#blocked];
  }

  /** Values found so far per redacted or blocked entity. */
  get found(): Partial<Record<PiiEntity, number>> {
    return { ...this.#found };
  }

  /** Takes the next chunk; returns the text that is safe to emit now (possibly ''). */
  push(chunk: string): string {
    if (this.#blocked.length > 0) return '';
    this.#pending += chunk;
    return this.#emit(this.#cut());
  }

  /** At the end of the stream: everything still held. */
  flush(): string {
    if (this.#blocked.length > 0) return '';
    return this.#emit(this.#pending.length);
  }

  #cut(): number {
    const pending = this.#pending;
    const safe = lastSafeCut(pending);
    if (pending.length - safe <= this.#maxHoldChars) return safe;
    const pemStart = openPemStart(pending);
    return this.#forcedCut(safe, pemStart < 0 ? pending.length : pemStart);
  }

  /**
   * A cut after `safe` and no later than `limit`: the last word start that keeps FORCED_CUT_TAIL
   * characters held, is not inside a value detected in what is held and does not follow a word
   * that may be a value's context. A single word longer than four times the hold limit is cut
   * inside, though never inside a detected value, nor after the start of one that reaches the held
   * tail and may still be growing (a long JWT) until PEM_MAX_CHARS are held.
   */
  #forcedCut(safe: number, limit: number): number {
    const pending = this.#pending;
    const latest = Math.min(limit, pending.length - FORCED_CUT_TAIL);
    if (latest <= safe) return safe;
    const matches = detectPii(pending);
    const splitsValue = (cut: number) => matches.some((m) => m.start < cut && cut < m.end);
    for (let cut = latest; cut > safe; cut--) {
      const wordStart = /\s/.test(pending[cut - 1]!) && !/\s/.test(pending[cut]!);
      if (wordStart && !isContextWord(wordBefore(pending, cut)) && !splitsValue(cut)) return cut;
    }
    if (latest - safe <= 4 * this.#maxHoldChars) return safe;
    const straddled = matches.find((m) => m.start < latest && latest < m.end);
    if (straddled === undefined) return latest;
    if (straddled.start > safe) return straddled.start;
    const growing = straddled.end > pending.length - FORCED_CUT_TAIL;
    return growing && pending.length - safe < PEM_MAX_CHARS ? safe : straddled.end;
  }

  #emit(cut: number): string {
    if (cut === 0) return '';
    const result = this.#redactor.redact(this.#pending.slice(0, cut));
    this.#pending = this.#pending.slice(cut);
    for (const [entity, count] of Object.entries(result.found) as [PiiEntity, number][]) {
      this.#found[entity] = (this.#found[entity] ?? 0) + count;
    }
    if (result.blocked.length > 0) {
      this.#blocked = result.blocked;
      this.#pending = '';
      return '';
    }
    return result.text;
  }
}
