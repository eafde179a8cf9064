/**
 * The price table, versioned: every usage record stores the version its cost was computed with, so
 * a later price change never rewrites an old bill. Prices are USD per million tokens, keyed by
 * provider kind and upstream model. A model missing here is recorded at cost 0 with the version
 * `unpriced`, so reports can show what was not priced instead of pretending it was free.
 */
export const PRICE_VERSION = '2026-11-01';

interface Price {
  inputPerMTok: number;
  outputPerMTok: number;
}

const table: Record<string, Price> = {
  'local:extractive': { inputPerMTok: 0, outputPerMTok: 0 },
  'local:hash-embed': { inputPerMTok: 0, outputPerMTok: 0 },
  'openai:gpt-4o': { inputPerMTok: 2.5, outputPerMTok: 10 },
  'openai:gpt-4o-mini': { inputPerMTok: 0.15, outputPerMTok: 0.6 },
  'openai:gpt-4.1': { inputPerMTok: 2, outputPerMTok: 8 },
  'openai:gpt-4.1-mini': { inputPerMTok: 0.4, outputPerMTok: 1.6 },
  'openai:gpt-4.1-nano': { inputPerMTok: 0.1, outputPerMTok: 0.4 },
  'openai:o3': { inputPerMTok: 2, outputPerMTok: 8 },
  'openai:o4-mini': { inputPerMTok: 1.1, outputPerMTok: 4.4 },
  'openai:text-embedding-3-small': { inputPerMTok: 0.02, outputPerMTok: 0 },
  'openai:text-embedding-3-large': { inputPerMTok: 0.13, outputPerMTok: 0 },
  'anthropic:claude-3-5-haiku-latest': { inputPerMTok: 0.8, outputPerMTok: 4 },
  'anthropic:claude-sonnet-4-0': { inputPerMTok: 3, outputPerMTok: 15 },
  'anthropic:claude-opus-4-0': { inputPerMTok: 15, outputPerMTok: 75 },
};

export interface Cost {
  nanoUsd: number;
  priceVersion: string;
}

export function priceUsage(
  kind: string,
  model: string,
  inputTokens: number,
  outputTokens: number,
): Cost {
  const price = table[`${kind}:${model}`];
  if (price === undefined) return { nanoUsd: 0, priceVersion: 'unpriced' };
  // USD per million tokens is exactly nano-USD per thousand tokens.
  const nanoUsd = Math.round(
    (inputTokens * price.inputPerMTok + outputTokens * price.outputPerMTok) * 1000,
  );
  return { nanoUsd, priceVersion: PRICE_VERSION };
}
