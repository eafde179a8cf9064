import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SeenRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: any;
}

export type Behaviour = (request: SeenRequest, response: ServerResponse) => void | Promise<void>;

/**
 * A real HTTP server that speaks enough of OpenAI's API for gateway tests. By default it answers
 * chat with "echo: <last user message>" (JSON or SSE) and embeddings with small vectors; a test can
 * replace the behaviour. It records every request, and which responses were cut off by the caller.
 */
export async function startFakeOpenAI() {
  const seen: SeenRequest[] = [];
  const closedEarly: string[] = [];
  let behaviour: Behaviour = defaultBehaviour;

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const request: SeenRequest = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body: text === '' ? null : JSON.parse(text),
      };
      seen.push(request);
      res.on('close', () => {
        if (!res.writableFinished) closedEarly.push(request.path);
      });
      void Promise.resolve(behaviour(request, res)).catch(() => res.destroy());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;

  return {
    url,
    seen,
    closedEarly,
    respondWith(next: Behaviour) {
      behaviour = next;
    },
    reset() {
      behaviour = defaultBehaviour;
      seen.length = 0;
      closedEarly.length = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function lastUserText(body: { messages?: { role: string; content: string }[] }): string {
  return [...(body.messages ?? [])].reverse().find((m) => m.role === 'user')?.content ?? '';
}

export function json(
  res: ServerResponse,
  status: number,
  payload: unknown,
  headers: Record<string, string> = {},
) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(payload));
}

export function chunk(model: string, content: string | null, finish: string | null = null) {
  return {
    id: 'chatcmpl-fake',
    object: 'chat.completion.chunk',
    created: 1_700_000_000,
    model,
    choices: [{ index: 0, delta: content === null ? {} : { content }, finish_reason: finish }],
  };
}

/** Streams the given pieces as SSE, one every `delayMs`, then usage (if asked) and [DONE]. */
export async function streamPieces(
  request: SeenRequest,
  res: ServerResponse,
  pieces: string[],
  delayMs = 0,
) {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  const model = request.body.model as string;
  res.write(
    `data: ${JSON.stringify({ ...chunk(model, ''), choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] })}\n\n`,
  );
  for (const piece of pieces) {
    if (res.destroyed) return;
    if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
    res.write(`data: ${JSON.stringify(chunk(model, piece))}\n\n`);
  }
  res.write(`data: ${JSON.stringify(chunk(model, null, 'stop'))}\n\n`);
  if (request.body.stream_options?.include_usage === true) {
    res.write(
      `data: ${JSON.stringify({ ...chunk(model, null), choices: [], usage: { prompt_tokens: 11, completion_tokens: pieces.length, total_tokens: 11 + pieces.length } })}\n\n`,
    );
  }
  res.write('data: [DONE]\n\n');
  res.end();
}

const defaultBehaviour: Behaviour = async (request, res) => {
  if (request.path.endsWith('/chat/completions')) {
    const answer = `echo: ${lastUserText(request.body)}`;
    if (request.body.stream === true) return streamPieces(request, res, answer.split(/(?<= )/));
    return json(res, 200, {
      id: 'chatcmpl-fake',
      object: 'chat.completion',
      created: 1_700_000_000,
      model: request.body.model,
      choices: [
        { index: 0, message: { role: 'assistant', content: answer }, finish_reason: 'stop' },
      ],
      usage: { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 },
    });
  }
  if (request.path.endsWith('/embeddings')) {
    const inputs: unknown[] = Array.isArray(request.body.input)
      ? request.body.input
      : [request.body.input];
    return json(res, 200, {
      object: 'list',
      model: request.body.model,
      data: inputs.map((_, index) => ({
        object: 'embedding',
        index,
        embedding: [0.5, -0.25, 0.125],
      })),
      usage: { prompt_tokens: 5 * inputs.length, total_tokens: 5 * inputs.length },
    });
  }
  json(res, 404, { error: { message: 'no such route', type: 'invalid_request_error' } });
};
