import type { Decision } from './decisions.ts';
import { PiiTally } from './pii-decisions.ts';
import { type PiiRedactor, StreamingPiiRedactor } from './pii/index.ts';
import type { PolicyDocument } from './policy/schema.ts';

/**
 * The output half of the policy for a whole response. `redactor` is the request's input redactor:
 * the output shares its placeholder numbering, so `[EMAIL_1]` means one address in both.
 */
export function governChatOutput(
  policy: PolicyDocument,
  inputRedactor: PiiRedactor,
  texts: readonly string[],
): { texts: string[]; decisions: Decision[]; blocked: Decision | null } {
  const redactor = inputRedactor.withActions(policy.pii.output);
  const tally = new PiiTally();
  const out = texts.map((text) => {
    const result = redactor.redact(text);
    tally.add(result);
    return result.text;
  });
  const decisions = tally.decisions('output', policy.pii.output);
  return { texts: out, decisions, blocked: decisions.find((d) => d.outcome === 'blocked') ?? null };
}

/**
 * The output half for a stream: one streaming redactor per choice, so a value split across chunks
 * is caught; text that could still turn out to be part of a value is held back until it cannot.
 */
export class StreamGovernor {
  readonly #policy: PolicyDocument;
  readonly #redactor: PiiRedactor;
  readonly #perChoice = new Map<number, StreamingPiiRedactor>();

  constructor(policy: PolicyDocument, inputRedactor: PiiRedactor) {
    this.#policy = policy;
    this.#redactor = inputRedactor.withActions(policy.pii.output);
  }

  /** Whether the policy acts on output at all; if not, chunks pass through untouched. */
  get active(): boolean {
    return Object.values(this.#policy.pii.output).some((a) => a !== 'allow');
  }

  push(choice: number, text: string): string {
    return this.#stream(choice).push(text);
  }

  /** The held-back rest of one choice, when it finishes. */
  finish(choice: number): string {
    const stream = this.#perChoice.get(choice);
    return stream === undefined ? '' : stream.flush();
  }

  /** The held-back rest of every choice, at the end of the stream. */
  finishAll(): Map<number, string> {
    const rest = new Map<number, string>();
    for (const [choice, stream] of this.#perChoice) rest.set(choice, stream.flush());
    return rest;
  }

  get blocked(): Decision | null {
    return this.decisions().find((d) => d.outcome === 'blocked') ?? null;
  }

  decisions(): Decision[] {
    const tally = new PiiTally();
    for (const stream of this.#perChoice.values())
      tally.add({ found: stream.found, blocked: stream.blocked });
    return tally.decisions('output', this.#policy.pii.output);
  }

  #stream(choice: number): StreamingPiiRedactor {
    let stream = this.#perChoice.get(choice);
    if (stream === undefined) {
      stream = new StreamingPiiRedactor(this.#redactor);
      this.#perChoice.set(choice, stream);
    }
    return stream;
  }
}
