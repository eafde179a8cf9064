import { BkError } from '../../../core/errors.ts';

/** Upstream text shown to clients is trimmed: it may be long, and is never echoed whole into logs. */
function excerpt(text: string): string {
  const clean = text.replace(/\s+/g, ' ').trim();
  return clean.length > 300 ? `${clean.slice(0, 300)}…` : clean;
}

function upstreamMessage(body: string): string {
  try {
    const parsed = JSON.parse(body) as {
      error?: { message?: unknown } | string;
      message?: unknown;
    };
    if (typeof parsed.error === 'string') return excerpt(parsed.error);
    if (typeof parsed.error?.message === 'string') return excerpt(parsed.error.message);
    if (typeof parsed.message === 'string') return excerpt(parsed.message);
  } catch {
    // not JSON: fall through to the raw text
  }
  return excerpt(body);
}

/**
 * Maps an upstream HTTP failure to what the client sees. The tenant's Bulkhead credential was fine,
 * so an upstream 401/403 is our side's fault from the client's view (a 502 naming the provider), not
 * a 401 the client would take for its own key being wrong.
 */
export function upstreamStatusError(
  provider: string,
  status: number,
  body: string,
  headers: Record<string, string | string[] | undefined>,
): BkError {
  const detail = upstreamMessage(body);
  const suffix = detail === '' ? '' : `: ${detail}`;
  if (status === 401 || status === 403) {
    return new BkError(
      'BK_UPSTREAM_AUTH_FAILED',
      `Provider '${provider}' rejected the configured credentials (HTTP ${status})${suffix}`,
    );
  }
  if (status === 429) {
    const retryAfter = headers['retry-after'];
    return new BkError(
      'BK_UPSTREAM_RATE_LIMITED',
      `Provider '${provider}' is rate limiting${suffix}`,
      {
        headers: typeof retryAfter === 'string' ? { 'retry-after': retryAfter } : {},
      },
    );
  }
  if (status >= 400 && status < 500) {
    return new BkError(
      'BK_UPSTREAM_BAD_REQUEST',
      `Provider '${provider}' rejected the request (HTTP ${status})${suffix}`,
    );
  }
  return new BkError(
    'BK_UPSTREAM_ERROR',
    `Provider '${provider}' failed (HTTP ${status})${suffix}`,
  );
}

/** Maps a transport failure (no HTTP answer) to what the client sees. */
export function upstreamTransportError(
  provider: string,
  err: unknown,
  signal: AbortSignal,
): BkError {
  if (err instanceof BkError) return err;
  if (signal.aborted) {
    return new BkError('BK_CLIENT_CLOSED', 'The client closed the request.', { cause: err });
  }
  const code =
    typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string'
      ? err.code
      : '';
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
    return new BkError('BK_UPSTREAM_TIMEOUT', `Provider '${provider}' did not answer in time.`, {
      cause: err,
    });
  }
  if (code === 'UND_ERR_CONNECT_TIMEOUT') {
    return new BkError(
      'BK_UPSTREAM_TIMEOUT',
      `Could not connect to provider '${provider}' in time.`,
      {
        cause: err,
      },
    );
  }
  if (code === 'BK_PRIVATE_ADDRESS') {
    return new BkError(
      'BK_UPSTREAM_UNREACHABLE',
      `Provider '${provider}' resolves to a private or loopback address, which this server does not allow (BULKHEAD_ALLOW_PRIVATE_UPSTREAMS).`,
      { cause: err },
    );
  }
  return new BkError(
    'BK_UPSTREAM_UNREACHABLE',
    `Could not reach provider '${provider}' (${code || 'network error'}).`,
    {
      cause: err,
    },
  );
}
