import { describe, expect, it } from 'vitest';
import { authHeaders, keyRedactor, resolveEndpoints, type UpstreamTarget } from './request.ts';

const target: UpstreamTarget = {
  baseUrl: 'https://api.openai.com/v1',
  apiKey: 'sk-abc',
  apiKeyHeader: 'authorization',
  defaultQuery: {},
};

describe('resolveEndpoints', () => {
  it.each([
    ['https://api.openai.com/v1', 'https://api.openai.com/v1/chat/completions'],
    ['https://api.openai.com/v1/', 'https://api.openai.com/v1/chat/completions'],
    ['http://localhost:11434/v1//', 'http://localhost:11434/v1/chat/completions'],
    ['http://10.0.0.5:8000', 'http://10.0.0.5:8000/chat/completions'],
  ])('joins %s without doubling slashes', (baseUrl, expected) => {
    expect(resolveEndpoints('p', { ...target, baseUrl }).chatCompletions.href).toBe(expected);
  });

  it('keeps a query already on baseUrl and adds defaultQuery, encoded', () => {
    const { embeddings } = resolveEndpoints('azure', {
      ...target,
      baseUrl: 'https://res.openai.azure.com/openai/deployments/emb?tenant=a#frag',
      defaultQuery: { 'api-version': '2024-10-21', note: 'a b&c' },
    });
    expect(embeddings.href).toBe(
      'https://res.openai.azure.com/openai/deployments/emb/embeddings?tenant=a&api-version=2024-10-21&note=a+b%26c',
    );
  });

  it.each([
    ['not a url', 'not a valid URL'],
    ['ftp://example.com/v1', 'http or https'],
    ['https://user:pass@example.com/v1', 'not in baseUrl'],
  ])('refuses %s when the provider is built', (baseUrl, message) => {
    expect(() => resolveEndpoints('p', { ...target, baseUrl })).toThrow(message);
  });
});

describe('authHeaders', () => {
  it('sends Bearer under authorization and the raw key under other names', () => {
    expect(authHeaders(target)).toEqual({ authorization: 'Bearer sk-abc' });
    expect(authHeaders({ ...target, apiKeyHeader: 'api-key' })).toEqual({ 'api-key': 'sk-abc' });
    expect(authHeaders({ ...target, apiKeyHeader: 'x-api-key' })).toEqual({
      'x-api-key': 'sk-abc',
    });
  });

  it('sends nothing without a key', () => {
    expect(authHeaders({ ...target, apiKey: null })).toEqual({});
    expect(authHeaders({ ...target, apiKey: '' })).toEqual({});
  });
});

describe('keyRedactor', () => {
  it('removes every occurrence of the key', () => {
    expect(keyRedactor('sk-abc')('key sk-abc, again sk-abc')).toBe(
      'key [redacted], again [redacted]',
    );
    expect(keyRedactor(null)('sk-abc')).toBe('sk-abc');
  });
});
