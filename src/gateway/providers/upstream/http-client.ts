import { Agent, type Dispatcher } from 'undici';
import { assertPublicHost, guardedLookup } from './address-guard.ts';

export interface UpstreamClientOptions {
  connectTimeoutMs: number;
  /** Headers timeout and the longest pause allowed between body chunks. */
  timeoutMs: number;
  allowPrivateAddresses: boolean;
}

export interface UpstreamResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Dispatcher.ResponseData['body'];
}

/**
 * The one HTTP client for upstream providers: keep-alive connection pools per origin (undici
 * Agent), connect/headers/body timeouts, cancellation through the caller's AbortSignal, and the
 * private-address guard.
 */
export class UpstreamClient {
  readonly #agent: Agent;
  readonly #allowPrivate: boolean;

  constructor(options: UpstreamClientOptions) {
    this.#allowPrivate = options.allowPrivateAddresses;
    this.#agent = new Agent({
      keepAliveTimeout: 30_000,
      connections: 128,
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      connect: {
        timeout: options.connectTimeoutMs,
        ...(options.allowPrivateAddresses ? {} : { lookup: guardedLookup }),
      },
    });
  }

  post(
    url: URL,
    headers: Record<string, string>,
    body: unknown,
    signal: AbortSignal,
  ): Promise<UpstreamResponse> {
    return this.postRaw(url, headers, JSON.stringify(body), signal);
  }

  /** `body` is sent as it is (webhooks sign the exact bytes they send). */
  async postRaw(
    url: URL,
    headers: Record<string, string>,
    body: string,
    signal: AbortSignal,
  ): Promise<UpstreamResponse> {
    if (!this.#allowPrivate) assertPublicHost(url.hostname);
    const response = await this.#agent.request({
      origin: url.origin,
      path: `${url.pathname}${url.search}`,
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', ...headers },
      body,
      signal,
    });
    return { status: response.statusCode, headers: response.headers, body: response.body };
  }

  close(): Promise<void> {
    return this.#agent.close();
  }
}

/**
 * Stops reading an upstream body and closes its connection. Destroying an unfinished undici body
 * makes it emit an abort error; with no listener left that error would crash the process.
 */
export function discardBody(body: UpstreamResponse['body']): void {
  body.on('error', ignoreDiscardedError).destroy();
}

function ignoreDiscardedError(): void {
  // the body is being thrown away; its errors have no one to go to
}
