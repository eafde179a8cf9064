import { countChatTokens, countTextTokens } from '../../metering/token-count.ts';
import type { TokenCounts } from '../inference-meter.ts';
import type { Usage } from '../openai-types.ts';
import type { ChatCompletionRequest } from './schema.ts';

/** The provider's counts when it reports them; otherwise Bulkhead counts. */
export function tokensFrom(
  usage: Usage | null | undefined,
  request: ChatCompletionRequest,
  output: string,
): TokenCounts {
  if (usage) {
    return {
      inputTokens: usage.prompt_tokens,
      outputTokens: usage.completion_tokens,
      countedBy: 'provider',
    };
  }
  return {
    inputTokens: countChatTokens(request.messages),
    outputTokens: countTextTokens(output),
    countedBy: 'bulkhead',
  };
}
