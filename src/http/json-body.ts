import secureJson from 'secure-json-parse';
import { BkError } from '../core/errors.ts';
import type { App } from './app-types.ts';

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * JSON bodies are decoded strictly: invalid UTF-8 is refused rather than silently turned into
 * U+FFFD (which would change what the tenant sent), and `__proto__` / `constructor.prototype` keys
 * are refused (prototype pollution).
 */
export function registerJsonParser(app: App): void {
  app.removeContentTypeParser(['application/json']);
  app.addContentTypeParser(
    /^application\/([\w.+-]+\+)?json(;.*)?$/i,
    { parseAs: 'buffer' },
    (_request, body: Buffer, done) => {
      let text: string;
      try {
        text = strictUtf8.decode(body);
      } catch {
        done(new BkError('BK_INVALID_UTF8', 'The request body is not valid UTF-8.'), undefined);
        return;
      }
      if (text.trim() === '') {
        done(
          new BkError('BK_INVALID_JSON', 'The request body is empty; send a JSON object.'),
          undefined,
        );
        return;
      }
      try {
        done(
          null,
          secureJson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' }),
        );
      } catch (err) {
        done(
          new BkError(
            'BK_INVALID_JSON',
            `The request body is not valid JSON: ${(err as Error).message}`,
          ),
          undefined,
        );
      }
    },
  );
}
