/** Where and how a request to an OpenAI-compatible upstream is sent. */

export interface UpstreamTarget {
  baseUrl: string;
  apiKey: string | null;
  apiKeyHeader: 'authorization' | 'api-key' | 'x-api-key';
  defaultQuery: Record<string, string>;
}

export interface Endpoints {
  chatCompletions: URL;
  embeddings: URL;
}

/**
 * The endpoint URLs under `baseUrl`. A query already on `baseUrl` is kept and `defaultQuery` is
 * added to it (Azure's `api-version`). Throws for a URL undici could not use, so a bad
 * configuration fails when the provider is built rather than on the first request.
 */
export function resolveEndpoints(name: string, target: UpstreamTarget): Endpoints {
  let base: URL;
  try {
    base = new URL(target.baseUrl);
  } catch {
    throw new Error(`Provider '${name}': baseUrl is not a valid URL.`);
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:') {
    throw new Error(`Provider '${name}': baseUrl must be an http or https URL.`);
  }
  // The request is built from origin + path, so credentials in the URL would be silently dropped.
  if (base.username !== '' || base.password !== '') {
    throw new Error(`Provider '${name}': put credentials in apiKey, not in baseUrl.`);
  }
  const at = (path: string): URL => {
    const url = new URL(base);
    url.hash = '';
    url.pathname = `${url.pathname.replace(/\/+$/, '')}/${path}`;
    for (const [key, value] of Object.entries(target.defaultQuery)) {
      url.searchParams.set(key, value);
    }
    return url;
  };
  return { chatCompletions: at('chat/completions'), embeddings: at('embeddings') };
}

/** The credential header: `Authorization: Bearer <key>`, or the raw key under Azure-style names. */
export function authHeaders(target: UpstreamTarget): Record<string, string> {
  if (target.apiKey === null || target.apiKey === '') return {};
  if (target.apiKeyHeader === 'authorization') return { authorization: `Bearer ${target.apiKey}` };
  return { [target.apiKeyHeader]: target.apiKey };
}

/**
 * Removes the key from upstream text before it can reach an error message: some upstreams (and
 * proxies in front of local models) echo the credential they rejected.
 */
export function keyRedactor(apiKey: string | null): (text: string) => string {
  if (apiKey === null || apiKey === '') return (text) => text;
  return (text) => text.replaceAll(apiKey, '[redacted]');
}
