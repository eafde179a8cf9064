import { describe, expect, it } from 'vitest';
import { ResponseCache, responseCacheKey } from './response-cache.ts';

const request = {
  model: 'gpt-4o-mini',
  temperature: 0,
  messages: [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: 'What is 2 + 2?' },
  ],
  response_format: { type: 'json_schema', json_schema: { name: 'answer', strict: true } },
};

describe('responseCacheKey', () => {
  it('differs between tenants for the same request', () => {
    const a = responseCacheKey('tn_a', request);
    const b = responseCacheKey('tn_b', request);
    expect(a.hash).not.toBe(b.hash);
    expect(a).toEqual({ tenantId: 'tn_a', hash: expect.stringMatching(/^[0-9a-f]{64}$/) });
  });

  it('is stable under field reordering at every level', () => {
    const reordered = {
      response_format: { json_schema: { strict: true, name: 'answer' }, type: 'json_schema' },
      messages: [
        { content: 'Be brief.', role: 'system' },
        { content: 'What is 2 + 2?', role: 'user' },
      ],
      temperature: 0,
      model: 'gpt-4o-mini',
    };
    expect(responseCacheKey('tn_a', reordered)).toEqual(responseCacheKey('tn_a', request));
  });

  it('ignores stream flags, user and bulkhead extension fields', () => {
    const streamed = {
      ...request,
      stream: true,
      stream_options: { include_usage: true },
      user: 'end-user-42',
      bulkhead: { cache: { ttl_seconds: 60 } },
      bulkhead_trace: 'abc',
    };
    expect(responseCacheKey('tn_a', streamed)).toEqual(responseCacheKey('tn_a', request));
  });

  it('keeps fields of those names below the top level', () => {
    const withTool = (parameter: string) => ({
      ...request,
      tools: [
        {
          type: 'function',
          function: { name: 'f', parameters: { properties: { [parameter]: { type: 'string' } } } },
        },
      ],
    });
    expect(responseCacheKey('tn_a', withTool('user')).hash).not.toBe(
      responseCacheKey('tn_a', withTool('query')).hash,
    );
  });

  it('treats a single text part as the same content as the plain string', () => {
    const asParts = {
      ...request,
      messages: [
        { role: 'system', content: [{ type: 'text', text: 'Be brief.' }] },
        { role: 'user', content: [{ type: 'text', text: 'What is 2 + 2?' }] },
      ],
    };
    expect(responseCacheKey('tn_a', asParts)).toEqual(responseCacheKey('tn_a', request));
  });

  it('keeps requests apart that differ in what the model is asked', () => {
    const key = responseCacheKey('tn_a', request).hash;
    expect(responseCacheKey('tn_a', { ...request, temperature: 1 }).hash).not.toBe(key);
    const splitParts = {
      ...request,
      messages: [
        { role: 'system', content: 'Be brief.' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is ' },
            { type: 'text', text: '2 + 2?' },
          ],
        },
      ],
    };
    expect(responseCacheKey('tn_a', splitParts).hash).not.toBe(key);
  });
});

function cache(options: { maxBytes?: number; maxEntries?: number } = {}) {
  const clock = { now: 0 };
  const responses = new ResponseCache<string>({
    maxBytes: options.maxBytes ?? 1_000,
    maxEntries: options.maxEntries ?? 100,
    now: () => clock.now,
  });
  return { clock, responses };
}

const keyOf = (tenantId: string, n: number) =>
  responseCacheKey(tenantId, { ...request, messages: [{ role: 'user', content: `q${n}` }] });

describe('ResponseCache', () => {
  it('answers until the entry expires', () => {
    const { clock, responses } = cache();
    responses.set(keyOf('tn_a', 1), 'four', { ttlMs: 1_000, sizeBytes: 10 });
    clock.now = 999;
    expect(responses.get(keyOf('tn_a', 1))).toBe('four');
    clock.now = 1_000;
    expect(responses.get(keyOf('tn_a', 1))).toBeUndefined();
    expect(responses.stats()).toEqual({ entries: 0, bytes: 0 });
  });

  it('does not answer one tenant from another tenant’s entry, even with a forged key', () => {
    const { responses } = cache();
    const key = keyOf('tn_a', 1);
    responses.set(key, 'four', { ttlMs: 1_000, sizeBytes: 10 });
    expect(responses.get(keyOf('tn_b', 1))).toBeUndefined();
    expect(responses.get({ tenantId: 'tn_b', hash: key.hash })).toBeUndefined();
  });

  it('evicts the least recently used entries when the bytes bound is exceeded', () => {
    const { responses } = cache({ maxBytes: 100 });
    responses.set(keyOf('tn_a', 1), 'one', { ttlMs: 1_000, sizeBytes: 40 });
    responses.set(keyOf('tn_a', 2), 'two', { ttlMs: 1_000, sizeBytes: 40 });
    expect(responses.get(keyOf('tn_a', 1))).toBe('one');

    responses.set(keyOf('tn_a', 3), 'three', { ttlMs: 1_000, sizeBytes: 40 });
    expect(responses.get(keyOf('tn_a', 2))).toBeUndefined();
    expect(responses.get(keyOf('tn_a', 1))).toBe('one');
    expect(responses.get(keyOf('tn_a', 3))).toBe('three');
    expect(responses.stats()).toEqual({ entries: 2, bytes: 80 });

    responses.set(keyOf('tn_a', 4), 'four', { ttlMs: 1_000, sizeBytes: 90 });
    expect(responses.stats()).toEqual({ entries: 1, bytes: 90 });
    expect(responses.get(keyOf('tn_a', 4))).toBe('four');
  });

  it('evicts the least recently used entry beyond maxEntries', () => {
    const { responses } = cache({ maxEntries: 2 });
    responses.set(keyOf('tn_a', 1), 'one', { ttlMs: 1_000, sizeBytes: 1 });
    responses.set(keyOf('tn_a', 2), 'two', { ttlMs: 1_000, sizeBytes: 1 });
    responses.set(keyOf('tn_a', 3), 'three', { ttlMs: 1_000, sizeBytes: 1 });
    expect(responses.get(keyOf('tn_a', 1))).toBeUndefined();
    expect(responses.stats()).toEqual({ entries: 2, bytes: 2 });
  });

  it('does not store an entry larger than the whole cache, and replaces one set again', () => {
    const { responses } = cache({ maxBytes: 100 });
    responses.set(keyOf('tn_a', 1), 'small', { ttlMs: 1_000, sizeBytes: 10 });
    responses.set(keyOf('tn_a', 2), 'huge', { ttlMs: 1_000, sizeBytes: 101 });
    expect(responses.get(keyOf('tn_a', 2))).toBeUndefined();
    expect(responses.get(keyOf('tn_a', 1))).toBe('small');

    responses.set(keyOf('tn_a', 1), 'newer', { ttlMs: 1_000, sizeBytes: 30 });
    expect(responses.get(keyOf('tn_a', 1))).toBe('newer');
    expect(responses.stats()).toEqual({ entries: 1, bytes: 30 });
  });

  it('forgets every entry of a deleted tenant and nothing else', () => {
    const { responses } = cache();
    for (let n = 0; n < 3; n++) {
      responses.set(keyOf('tn_a', n), `a${n}`, { ttlMs: 1_000, sizeBytes: 10 });
      responses.set(keyOf('tn_b', n), `b${n}`, { ttlMs: 1_000, sizeBytes: 10 });
    }
    responses.forgetTenant('tn_a');
    for (let n = 0; n < 3; n++) {
      expect(responses.get(keyOf('tn_a', n))).toBeUndefined();
      expect(responses.get(keyOf('tn_b', n))).toBe(`b${n}`);
    }
    expect(responses.stats()).toEqual({ entries: 3, bytes: 30 });
  });
});
