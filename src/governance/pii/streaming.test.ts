import { describe, expect, it } from 'vitest';
import { BkError } from '../../core/errors.ts';
import { PEM_MAX_CHARS } from './detectors/secret.ts';
import { PII_ENTITIES, type PiiAction, type PiiEntity } from './entities.ts';
import { readLabelledSet } from './quality.ts';
import { PiiRedactor } from './redactor.ts';
import { StreamingPiiRedactor } from './streaming.ts';

const redactAll = Object.fromEntries(PII_ENTITIES.map((e) => [e, 'redact'])) as Record<
  PiiEntity,
  PiiAction
>;

/** Deterministic pseudo-random numbers (mulberry32), so a failure reproduces. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function chunk(text: string, nextSize: () => number): string[] {
  const chunks: string[] = [];
  for (let i = 0; i < text.length;) {
    const size = Math.max(1, nextSize());
    chunks.push(text.slice(i, i + size));
    i += size;
  }
  return chunks;
}

function streamed(chunks: readonly string[], maxHoldChars?: number) {
  const stream = new StreamingPiiRedactor(new PiiRedactor(redactAll), { maxHoldChars });
  const text = chunks.map((c) => stream.push(c)).join('') + stream.flush();
  return { text, found: stream.found };
}

describe('StreamingPiiRedactor', () => {
  const samples = readLabelledSet();
  const chunkings: [string, (text: string) => string[]][] = [
    ['1-char chunks', (t) => chunk(t, () => 1)],
    ['2-char chunks', (t) => chunk(t, () => 2)],
    ['7-char chunks', (t) => chunk(t, () => 7)],
    [
      'random chunks (seed 1)',
      (t) =>
        chunk(
          t,
          (
            (r) => () =>
              1 + Math.floor(r() * 40)
          )(random(1)),
        ),
    ],
    [
      'random chunks (seed 2)',
      (t) =>
        chunk(
          t,
          (
            (r) => () =>
              1 + Math.floor(r() * 12)
          )(random(2)),
        ),
    ],
    ['whole', (t) => [t]],
  ];

  for (const maxHoldChars of [undefined, 96]) {
    it.each(chunkings)(
      `redacts every labelled sample as one-shot redact does, in %s (maxHoldChars ${maxHoldChars ?? 'default'})`,
      (_, split) => {
        for (const { text } of samples) {
          const oneShot = new PiiRedactor(redactAll).redact(text);
          const result = streamed(split(text), maxHoldChars);
          expect(result.text, JSON.stringify(text)).toBe(oneShot.text);
          expect(result.found).toEqual(oneShot.found);
        }
      },
    );
  }

  it('lets prose through as soon as a word is complete', () => {
    const stream = new StreamingPiiRedactor(new PiiRedactor(redactAll));
    expect(stream.push('Hello there, how are')).toBe('Hello there, how ');
    expect(stream.push(' you? I am fi')).toBe('are you? I am ');
    expect(stream.push('ne.')).toBe('');
    expect(stream.flush()).toBe('fine.');
    expect(stream.push('这是中文')).toBe('这是中文');
  });

  it('catches a value split across chunks', () => {
    const stream = new StreamingPiiRedactor(new PiiRedactor(redactAll));
    const out = ['Call me on +44 20 79', '46 0958 or ma', 'il a@exam', 'ple.com today'].map((c) =>
      stream.push(c),
    );
    expect(out.join('') + stream.flush()).toBe('Call me on [PHONE_1] or mail [EMAIL_1] today');
    expect(out[0]).toBe('Call me on ');
  });

  it('holds a PEM private key until its END line', () => {
    const stream = new StreamingPiiRedactor(new PiiRedactor(redactAll));
    expect(stream.push('Here:\n-----BEGIN OPENSSH PRIVATE KEY-----\n')).toBe('Here:\n');
    for (let i = 0; i < 40; i++)
      expect(stream.push(`${'b3BlbnNzaC1rZXktdjE'.repeat(3)}\n`)).toBe('');
    expect(stream.push('-----END OPENSSH PRIVATE KEY-----\nThat is all. ')).toBe(
      '[SECRET_1]\nThat is all. ',
    );
  });

  it('redacts a PEM key that never ends once PEM_MAX_CHARS are held, then flows again', () => {
    const stream = new StreamingPiiRedactor(new PiiRedactor(redactAll));
    const line = `${'MIIEvQIBADANBgkqhkiG9w0BAQEFAASC'.repeat(2)}\n`;
    const chunks = ['-----BEGIN PRIVATE KEY-----\n'];
    while (chunks.join('').length < PEM_MAX_CHARS) chunks.push(line);
    chunks.push('\nAnd then the model went on talking. ');
    const emitted: string[] = [];
    for (const c of chunks) emitted.push(stream.push(c));
    const whole = chunks.join('');
    expect(emitted.join('') + stream.flush()).toBe(new PiiRedactor(redactAll).redact(whole).text);
    expect(emitted.slice(0, -2).join('')).toBe('');
    expect(emitted.join('')).toMatch(
      /^\[SECRET_1\][A-Za-z0-9\n]{0,200}\nAnd then the model went on talking\. $/,
    );
  });

  it('keeps what it holds bounded in text without safe cuts', () => {
    const stream = new StreamingPiiRedactor(new PiiRedactor(redactAll), { maxHoldChars: 128 });
    const table = Array.from({ length: 300 }, (_, i) => `| ${i} | ${i * 7} |`).join(' ');
    let pushed = 0;
    let emitted = 0;
    for (const part of chunk(table, () => 5)) {
      pushed += part.length;
      emitted += stream.push(part).length;
      expect(pushed - emitted).toBeLessThanOrEqual(128 + 5);
    }
    expect(emitted + stream.flush().length).toBe(table.length);
  });

  it('stops emitting once a blocked entity is seen', () => {
    const stream = new StreamingPiiRedactor(new PiiRedactor({ secret: 'block', email: 'redact' }));
    expect(stream.push('Mail a@b.co now. The key is ')).toBe('Mail [EMAIL_1] now. The key is ');
    expect(stream.push('ghp_ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 and more ')).toBe('');
    expect(stream.blocked).toEqual(['secret']);
    expect(stream.push('text')).toBe('');
    expect(stream.flush()).toBe('');
    expect(stream.found).toEqual({ email: 1, secret: 1 });
  });

  it('refuses a hold limit too small to keep a value whole', () => {
    expect(() => new StreamingPiiRedactor(new PiiRedactor({}), { maxHoldChars: 10 })).toThrow(
      BkError,
    );
  });
});
