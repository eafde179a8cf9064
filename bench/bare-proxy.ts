/**
 * The ceiling for any Node gateway in the gateway benchmark: a bare pass-through proxy (node:http
 * in, an undici keep-alive pool out) that forwards POST /v1/chat/completions to the upstream and
 * streams the answer back. No authentication, no parsing, no database, nothing else. It uses
 * undici's `stream()`, which writes the upstream body straight into the response: on this machine
 * that is about twice the throughput of `request()` plus `stream.pipeline`.
 *
 *   node --import tsx bench/bare-proxy.ts --upstream http://127.0.0.1:<port> [--port 0]
 *
 * Prints one line `{"port":<n>}` on stdout once it listens on 127.0.0.1.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { Agent, stream } from 'undici';

const { values } = parseArgs({
  options: { port: { type: 'string', default: '0' }, upstream: { type: 'string' } },
});
if (values.upstream === undefined) throw new Error('--upstream <url> is required');
const target = new URL('/v1/chat/completions', values.upstream);
// Idle sockets live 60 s, less than the fake upstream's 65 s keep-alive timeout.
const agent = new Agent({ keepAliveTimeout: 60_000, keepAliveMaxTimeout: 60_000 });
const pick = (headers: Record<string, string | string[] | undefined>, names: string[]) => {
  const picked: Record<string, string | string[]> = {};
  for (const name of names) if (headers[name] !== undefined) picked[name] = headers[name];
  return picked;
};

const server = createServer((req, res) => {
  if (req.method !== 'POST' || req.url !== '/v1/chat/completions') {
    res.writeHead(404).end();
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const headers = pick(req.headers, ['content-type', 'authorization']);
    const body = Buffer.concat(chunks);
    stream(target, { method: 'POST', headers, body, dispatcher: agent }, (upstream) => {
      res.writeHead(
        upstream.statusCode,
        pick(upstream.headers, ['content-type', 'content-length']),
      );
      return res;
    }).catch(() => (res.headersSent ? res.destroy() : res.writeHead(502).end()));
  });
});
server.keepAliveTimeout = 65_000;
server.listen(Number(values.port), '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
});
