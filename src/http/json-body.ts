import secureJson from 'secure-json-parse';
import { BkError } from '../core/errors.ts';
import type { App } from './app-types.ts';

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** PostgreSQL text cannot hold U+0000, and a lone surrogate cannot be stored as sent. */
function storable(key: string, value: unknown): unknown {
  for (const s of typeof value === 'string' ? [key, value] : [key]) {
    if (s.includes('\u0000') || !s.isWellFormed()) {
      throw new Error(`'${key}' must not contain U+0000 or unpaired surrogates`);
    }
  }
  return value;
}

/**
 * JSON bodies are decoded strictly: invalid UTF-8 is refused rather than silently turned into
 * U+FFFD (which would change what the tenant sent), and `__proto__` / `constructor.prototype` keys
 * are refused (prototype pollution).
 */
export function registerJsonParser(app: App): void {
  app.removeAllContentTypeParsers();
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
          secureJson.parse(text, storable, { protoAction: 'error', constructorAction: 'error' }),
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
