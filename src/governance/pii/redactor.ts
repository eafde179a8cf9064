import { BkError } from '../../core/errors.ts';
import { detectPii } from './detect.ts';
import {
  PII_ACTIONS,
  PII_ENTITIES,
  type PiiAction,
  type PiiEntity,
  type PiiMatch,
} from './entities.ts';

export interface RedactionResult {
  text: string;
  /** How many values of each entity were found, for entities whose action is not 'allow'. */
  found: Partial<Record<PiiEntity, number>>;
  /** The entities found whose action is 'block', in order of first appearance. */
  blocked: PiiEntity[];
}

/** Forms of one value that should share a placeholder: `A@B.com` and `a@b.com`, a card with or without spaces. */
function canonicalValue(match: PiiMatch): string {
  switch (match.entity) {
    case 'email':
    case 'ip_address':
      return match.value.toLowerCase();
    case 'phone':
      return match.value.replace(/[^\d+]/g, '');
    case 'payment_card':
    case 'us_ssn':
      return match.value.replace(/\D/g, '');
    case 'iban':
      return match.value.replace(/\s/g, '').toUpperCase();
    case 'secret':
      return match.value.replace(/\s/g, '');
  }
}

/**
 * Redacts PII for one request. Placeholders are numbered per entity across every text the request
 * passes through it (prompt messages, then the completion), and one value always gets the same
 * placeholder, so the model can still tell two people apart and refer back to them: [EMAIL_1],
 * [PHONE_2], [PAYMENT_CARD_1], [IBAN_1], [US_SSN_1], [IP_ADDRESS_1], [SECRET_1].
 *
 * Every entity is detected even when only some are acted on, so overlaps resolve the same way
 * whatever the policy: the digits of an allowed card number are not redacted as a phone number.
 */
export class PiiRedactor {
  readonly #actions: ReadonlyMap<PiiEntity, Exclude<PiiAction, 'allow'>>;
  #placeholders = new Map<PiiEntity, Map<string, string>>();

  /** An entity without an action is allowed. */
  constructor(actions: Partial<Record<PiiEntity, PiiAction>>) {
    const acted = new Map<PiiEntity, Exclude<PiiAction, 'allow'>>();
    for (const [entity, action] of Object.entries(actions) as [string, unknown][]) {
      if (!PII_ENTITIES.includes(entity as PiiEntity)) {
        throw new BkError('BK_VALIDATION_FAILED', `Unknown PII entity '${entity}'.`);
      }
      if (!PII_ACTIONS.includes(action as PiiAction)) {
        throw new BkError('BK_VALIDATION_FAILED', `Unknown PII action for '${entity}'.`);
      }
      if (action !== 'allow') acted.set(entity as PiiEntity, action as Exclude<PiiAction, 'allow'>);
    }
    this.#actions = acted;
  }

  /**
   * The same request's numbering under other actions: the output policy may differ from the input
   * one while [EMAIL_1] keeps meaning the same address in both.
   */
  withActions(actions: Partial<Record<PiiEntity, PiiAction>>): PiiRedactor {
    const redactor = new PiiRedactor(actions);
    redactor.#placeholders = this.#placeholders;
    return redactor;
  }

  /**
   * Replaces every value of a redacted or blocked entity by its placeholder. Blocking does not
   * throw: the caller decides whether to refuse the request or end the stream.
   */
  redact(text: string): RedactionResult {
    const found: Partial<Record<PiiEntity, number>> = {};
    const blocked: PiiEntity[] = [];
    if (this.#actions.size === 0) return { text, found, blocked };

    let redacted = '';
    let copied = 0;
    for (const match of detectPii(text)) {
      const action = this.#actions.get(match.entity);
      if (action === undefined) continue;
      found[match.entity] = (found[match.entity] ?? 0) + 1;
      if (action === 'block' && !blocked.includes(match.entity)) blocked.push(match.entity);
      redacted += text.slice(copied, match.start) + this.#placeholder(match);
      copied = match.end;
    }
    return { text: redacted + text.slice(copied), found, blocked };
  }

  #placeholder(match: PiiMatch): string {
    let byValue = this.#placeholders.get(match.entity);
    if (byValue === undefined) {
      byValue = new Map();
      this.#placeholders.set(match.entity, byValue);
    }
    const key = canonicalValue(match);
    let placeholder = byValue.get(key);
    if (placeholder === undefined) {
      placeholder = `[${match.entity.toUpperCase()}_${byValue.size + 1}]`;
      byValue.set(key, placeholder);
    }
    return placeholder;
  }
}
