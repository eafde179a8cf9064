/**
 * A fast fake OpenAI upstream for the gateway benchmark, run as its own process so it does not share
 * a thread with the load generator or the gateway under test. It answers every chat completion with
 * the same small JSON body at once (no delay, no parsing of the request), keeps connections alive,
 * and counts what it served so the benchmark can cross-check the gateway's own accounting.
 *
 *   node --import tsx bench/fake-upstream.ts --port 0
 *
 * Prints one line `{"port":<n>}` on stdout once it listens on 127.0.0.1.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

export const FAKE_MODEL = 'gpt-4o-mini';
export const FAKE_ANSWER = 'Hello from the fake upstream.';
export const STATS_PATH = '/__bench/stats';

const completion = Buffer.from(
  JSON.stringify({
    id: 'chatcmpl-bench',
    object: 'chat.completion',
    created: 1_700_000_000,
    model: FAKE_MODEL,
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: FAKE_ANSWER },
        logprobs: null,
        finish_reason: 'stop',
      },
    ],
    usage: { prompt_tokens: 9, completion_tokens: 7, total_tokens: 16 },
  }),
);
const completionHeaders = {
  'content-type': 'application/json',
  'content-length': String(completion.length),
};

function main(): void {
  const { values } = parseArgs({ options: { port: { type: 'string', default: '0' } } });
  let chatCompletions = 0;

  const server = createServer((req, res) => {
    // Drain the body before answering so keep-alive connections stay usable.
    req.resume();
    req.once('end', () => {
      if (req.method === 'POST' && req.url?.endsWith('/chat/completions') === true) {
        chatCompletions++;
        res.writeHead(200, completionHeaders);
        res.end(completion);
      } else if (req.method === 'GET' && req.url === STATS_PATH) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ chatCompletions }));
      } else {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({ error: { message: 'no such route', type: 'invalid_request_error' } }),
        );
      }
    });
  });
  // Longer than any gateway's pool idle timeout, so the gateway never reuses a socket we just closed.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;

  server.listen(Number(values.port), '127.0.0.1', () => {
    process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
  });
  // Nothing to flush: a signal just ends the process.
  process.once('SIGTERM', () => process.exit(0));
  process.once('SIGINT', () => process.exit(0));
}

// Run only as a script; the benchmark imports the constants above.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href)
  main();
