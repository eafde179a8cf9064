import { countTokens } from 'gpt-tokenizer';
import { type ChatMessage, messageText } from '../gateway/chat/schema.ts';

/**
 * Token counts for when a provider reports none (and for the local provider). They use OpenAI's
 * o200k tokenizer and its chat framing (3 tokens per message, 3 to prime the reply): exact for
 * current OpenAI models, an estimate for others, and recorded as counted by Bulkhead.
 */
export function countTextTokens(text: string): number {
  return text.length === 0 ? 0 : countTokens(text);
}

export function countChatTokens(messages: readonly ChatMessage[]): number {
  let total = 3;
  for (const message of messages) {
    total += 3 + countTextTokens(messageText(message));
    if (message.name !== undefined) total += 1;
  }
  return total;
}
