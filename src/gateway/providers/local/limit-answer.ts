import { countTextTokens } from '../../../metering/token-count.ts';

export interface AnswerLimits {
  maxTokens?: number | null | undefined;
  stop?: string | readonly string[] | null | undefined;
}

export interface LimitedAnswer {
  content: string;
  finishReason: 'stop' | 'length';
}

/** Applies OpenAI's `stop` (cut before the first stop sequence) and the completion token budget. */
export function limitAnswer(answer: string, limits: AnswerLimits): LimitedAnswer {
  const content = cutAtStop(answer, limits.stop);
  const maxTokens = limits.maxTokens;
  if (maxTokens == null || countTextTokens(content) <= maxTokens) {
    return { content, finishReason: 'stop' };
  }
  return { content: truncateToTokens(content, maxTokens), finishReason: 'length' };
}

function cutAtStop(text: string, stop: AnswerLimits['stop']): string {
  const sequences = stop == null ? [] : typeof stop === 'string' ? [stop] : stop;
  let end = text.length;
  for (const sequence of sequences) {
    const at = sequence === '' ? -1 : text.indexOf(sequence);
    if (at !== -1 && at < end) end = at;
  }
  return text.slice(0, end);
}

/**
 * The longest prefix (in code points, so a cut may fall mid-word as a model's would) that fits the
 * budget. Counting with the metering tokenizer keeps completion_tokens within max_tokens.
 */
function truncateToTokens(text: string, maxTokens: number): string {
  const chars = Array.from(text);
  let fits = 0;
  let overflows = chars.length;
  while (overflows - fits > 1) {
    const middle = Math.floor((fits + overflows) / 2);
    if (countTextTokens(chars.slice(0, middle).join('')) <= maxTokens) fits = middle;
    else overflows = middle;
  }
  return chars.slice(0, fits).join('');
}
