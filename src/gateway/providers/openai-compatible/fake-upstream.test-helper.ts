import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A real HTTP server standing in for an upstream provider in tests. */

export interface RecordedRequest {
  method: string;
  /** Path and query, as the upstream received them. */
  url: string;
  headers: IncomingHttpHeaders;
  body: Record<string, unknown>;
  /** The client's port: two requests with the same one came over the same connection. */
  remotePort: number | undefined;
}

export type UpstreamHandler = (request: RecordedRequest, res: ServerResponse) => void;

export interface FakeUpstream {
  /** `http://127.0.0.1:<port>` */
  origin: string;
  requests: RecordedRequest[];
  /** Resolves when the response to the next request closes (finished, or cut by the client). */
  nextResponseClosed: () => Promise<{ finished: boolean }>;
  respondWith: (handler: UpstreamHandler) => void;
  close: () => Promise<void>;
}

export async function startFakeUpstream(): Promise<FakeUpstream> {
  const requests: RecordedRequest[] = [];
  let handler: UpstreamHandler = (_req, res) => res.writeHead(500).end();
  let closeWaiters: ((result: { finished: boolean }) => void)[] = [];

  const server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (part: Buffer) => parts.push(part));
    req.on('end', () => {
      const text = Buffer.concat(parts).toString('utf8');
      const recorded: RecordedRequest = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>),
        remotePort: req.socket.remotePort,
      };
      requests.push(recorded);
      const waiters = closeWaiters;
      closeWaiters = [];
      res.on('close', () => {
        for (const resolve of waiters) resolve({ finished: res.writableFinished });
      });
      handler(recorded, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    origin: `http://127.0.0.1:${port}`,
    requests,
    nextResponseClosed: () =>
      new Promise((resolve) => {
        closeWaiters.push(resolve);
      }),
    respondWith: (next) => {
      handler = next;
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) =>
        server.close((err) => (err ? reject(err) : resolve())),
      );
    },
  };
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

/** Starts an SSE response; the caller writes events with `sseEvent`. */
export function startEventStream(res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  res.flushHeaders();
}

export function sseData(data: unknown): string {
  return `data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`;
}

export function chunk(content: string | null, extra: Record<string, unknown> = {}): object {
  return {
    id: 'chatcmpl-1',
    object: 'chat.completion.chunk',
    created: 1_700_000_000,
    model: 'gpt-4o-mini',
    choices: content === null ? [] : [{ index: 0, delta: { content }, finish_reason: null }],
    ...extra,
  };
}
