import type { ChatCompletionRequest, ChatMessage } from '../gateway/chat/schema.ts';
import type { EmbeddingRequest } from '../gateway/embeddings/schema.ts';
import { messageText } from '../gateway/chat/schema.ts';
import type { Decision } from './decisions.ts';
import { scoreInjection } from './injection/score.ts';
import { PiiRedactor } from './pii/index.ts';
import { PiiTally } from './pii-decisions.ts';
import type { PolicyDocument } from './policy/schema.ts';

export interface GovernedInput {
  /** The request as the provider will see it (PII redacted). */
  request: ChatCompletionRequest;
  decisions: Decision[];
  /** Carries the placeholder numbering on to the output of the same request. */
  redactor: PiiRedactor;
  /** The decision that refuses the request, if one does. */
  blocked: Decision | null;
  injectionScore: number | null;
}

function redactMessage(message: ChatMessage, redact: (text: string) => string): ChatMessage {
  const content = message.content;
  if (typeof content === 'string') return { ...message, content: redact(content) };
  if (!Array.isArray(content)) return message;
  return {
    ...message,
    content: content.map((part) =>
      part.type === 'text' && typeof part.text === 'string'
        ? { ...part, text: redact(part.text) }
        : part,
    ),
  };
}

/** One redactor for all the texts of a request, and the tally of what it found in them. */
function inputRedaction(policy: PolicyDocument) {
  const redactor = new PiiRedactor(policy.pii.input);
  const tally = new PiiTally();
  const redact = (text: string) => {
    const result = redactor.redact(text);
    tally.add(result);
    return result.text;
  };
  return { redactor, tally, redact };
}

/**
 * The input half of the policy: PII in every message is allowed, redacted or blocks the request;
 * the user's messages are scored for prompt injection. Runs before the provider sees anything.
 */
export function governChatInput(
  policy: PolicyDocument,
  request: ChatCompletionRequest,
): GovernedInput {
  const { redactor, tally, redact } = inputRedaction(policy);
  const messages = request.messages.map((m) => redactMessage(m, redact));
  const decisions = tally.decisions('input', policy.pii.input);
  let blocked = decisions.find((d) => d.outcome === 'blocked') ?? null;

  let injectionScore: number | null = null;
  if (policy.injection.action !== 'off') {
    const userText = request.messages
      .filter((m) => m.role === 'user')
      .map(messageText)
      .join('\n');
    const score = scoreInjection(userText);
    injectionScore = score.score;
    if (score.score >= policy.injection.threshold) {
      const kinds = [...new Set(score.signals.map((s) => s.kind))].join(', ');
      const decision: Decision = {
        rule: 'injection',
        outcome: policy.injection.action === 'block' ? 'blocked' : 'flagged',
        reason: `prompt-injection score ${score.score.toFixed(2)} ≥ ${policy.injection.threshold} (${kinds})`,
      };
      decisions.push(decision);
      if (decision.outcome === 'blocked') blocked ??= decision;
    }
  }

  return { request: { ...request, messages }, decisions, redactor, blocked, injectionScore };
}

/**
 * Embedding input: the same PII rules on its texts (token arrays pass as they are: there is no
 * text to read). Injection is not scored — nothing follows instructions in an embedding.
 */
export function governEmbeddingInput(
  policy: PolicyDocument,
  input: EmbeddingRequest['input'],
): { input: EmbeddingRequest['input']; decisions: Decision[]; blocked: Decision | null } {
  const { tally, redact } = inputRedaction(policy);
  const governed =
    typeof input === 'string'
      ? redact(input)
      : input.every((i) => typeof i === 'string')
        ? input.map(redact)
        : input;
  const decisions = tally.decisions('input', policy.pii.input);
  return {
    input: governed,
    decisions,
    blocked: decisions.find((d) => d.outcome === 'blocked') ?? null,
  };
}
