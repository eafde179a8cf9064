import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FileSink, HttpSink } from './sinks.ts';

let server: Server | null = null;
afterEach(async () => {
  await new Promise((r) => (server === null ? r(null) : server.close(r)));
  server = null;
});

/** A collector that answers 503 to the first `failures` requests, then 200. */
async function collector(failures: number) {
  const received: string[] = [];
  let seen = 0;
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen++;
      if (seen <= failures) {
        res.writeHead(503).end();
        return;
      }
      received.push(body);
      res.writeHead(201).end();
    });
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/anchors`, received };
}

describe('the anchor sinks', () => {
  it('appends lines to a file, keeping what was there', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bk-sink-'));
    try {
      const sink = new FileSink(join(dir, 'a.jsonl'));
      await sink.publish(['{"n":1}']);
      await sink.publish(['{"n":2}', '{"n":3}']);
      expect(readFileSync(join(dir, 'a.jsonl'), 'utf8')).toBe('{"n":1}\n{"n":2}\n{"n":3}\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('retries a failing URL with doubling pauses, and delivers each line once', async () => {
    const { url, received } = await collector(2);
    const pauses: number[] = [];
    const sink = new HttpSink({
      url,
      backoffMs: 100,
      sleep: (ms) => {
        pauses.push(ms);
        return Promise.resolve();
      },
    });
    await sink.publish(['{"n":1}', '{"n":2}']);
    expect(received).toEqual(['{"n":1}', '{"n":2}']);
    expect(pauses).toEqual([100, 200]);
  });

  it('gives up after its attempts, saying why', async () => {
    const { url, received } = await collector(100);
    const sink = new HttpSink({ url, attempts: 3, sleep: () => Promise.resolve() });
    await expect(sink.publish(['{"n":1}'])).rejects.toThrow(/3 attempts: HTTP 503/);
    expect(received).toEqual([]);
  });
});
