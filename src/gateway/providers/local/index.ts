import { BkError } from '../../../core/errors.ts';
import type { Provider } from '../provider.ts';
import { completeExtractive, streamExtractive } from './extractive-chat.ts';
import { embedWithHashEmbed } from './hash-embed-request.ts';

type Operation = 'chat' | 'embeddings';

/** The built-in models; they need no network and no credentials. */
export const localModels: readonly { id: string; operations: readonly Operation[] }[] = [
  { id: 'hash-embed', operations: ['embeddings'] },
  { id: 'extractive', operations: ['chat'] },
];

export { hashEmbed } from './hash-embed.ts';

/** The `local` provider. It receives model names without the `local/` prefix. */
export function createLocalProvider(): Provider {
  return {
    kind: 'local',
    chat(request) {
      // Through a promise, so a bad request rejects rather than throws synchronously.
      return Promise.resolve().then(() => {
        requireOperation(request.model, 'chat');
        return completeExtractive(request);
      });
    },
    async *chatStream(request, options) {
      requireOperation(request.model, 'chat');
      yield* streamExtractive(request, options.signal);
    },
    embed(request) {
      return Promise.resolve().then(() => {
        requireOperation(request.model, 'embeddings');
        return embedWithHashEmbed(request);
      });
    },
  };
}

const operationNames: Record<Operation, string> = {
  chat: 'chat completions',
  embeddings: 'embeddings',
};

function requireOperation(model: string, operation: Operation): void {
  const known = localModels.find((candidate) => candidate.id === model);
  if (known === undefined) {
    throw new BkError(
      'BK_MODEL_NOT_FOUND',
      `The model 'local/${model}' does not exist or you do not have access to it.`,
      { param: 'model' },
    );
  }
  if (!known.operations.includes(operation)) {
    throw new BkError(
      'BK_UNSUPPORTED_OPERATION',
      `The model 'local/${model}' does not support ${operationNames[operation]}.`,
      { param: 'model' },
    );
  }
}
