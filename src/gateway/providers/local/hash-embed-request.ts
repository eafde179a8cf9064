import { BkError } from '../../../core/errors.ts';
import { countTextTokens } from '../../../metering/token-count.ts';
import type { EmbeddingRequest } from '../../embeddings/schema.ts';
import type { EmbeddingResponse } from '../../openai-types.ts';
import { DEFAULT_DIMENSIONS, hashEmbed } from './hash-embed.ts';

const MODEL = 'local/hash-embed';
const MAX_DIMENSIONS = 4096;

export function embedWithHashEmbed(request: EmbeddingRequest): EmbeddingResponse {
  const dimensions = request.dimensions ?? DEFAULT_DIMENSIONS;
  if (!Number.isInteger(dimensions) || dimensions < 1 || dimensions > MAX_DIMENSIONS) {
    throw new BkError(
      'BK_VALIDATION_FAILED',
      `dimensions must be an integer from 1 to ${MAX_DIMENSIONS} for ${MODEL}.`,
      { param: 'dimensions' },
    );
  }
  const texts = textInputs(request.input);
  const tokens = texts.reduce((sum, text) => sum + countTextTokens(text), 0);
  return {
    object: 'list',
    data: texts.map((text, index) => ({
      object: 'embedding',
      index,
      embedding: Array.from(hashEmbed(text, dimensions)),
    })),
    model: MODEL,
    usage: { prompt_tokens: tokens, total_tokens: tokens },
  };
}

function textInputs(input: EmbeddingRequest['input']): string[] {
  if (typeof input === 'string') return [input];
  const texts = input.filter((item): item is string => typeof item === 'string');
  if (texts.length !== input.length) {
    throw new BkError('BK_UNSUPPORTED_OPERATION', `${MODEL} takes text input, not token arrays`, {
      param: 'input',
    });
  }
  return texts;
}
