import { describe, expect, it } from 'vitest';
import type { ChatCompletionChunk } from '../../openai-types.ts';
import { toChatCompletionChunks, type ServerSentEvent } from './stream.ts';

const context = { provider: 'claude', model: 'requested-model', created: 1_700_000_000 };

function events(...items: [string, unknown][]): AsyncIterable<ServerSentEvent> {
  return (async function* () {
    for (const [event, data] of items) {
      await Promise.resolve();
      yield { event, data: typeof data === 'string' ? data : JSON.stringify(data) };
    }
  })();
}

async function collect(source: AsyncIterable<ChatCompletionChunk>): Promise<ChatCompletionChunk[]> {
  const chunks: ChatCompletionChunk[] = [];
  for await (const chunk of source) chunks.push(chunk);
  return chunks;
}

const messageStart = [
  'message_start',
  {
    type: 'message_start',
    message: {
      id: 'msg_1',
      type: 'message',
      role: 'assistant',
      content: [],
      model: 'claude-sonnet-4-5-20250929',
      stop_reason: null,
      usage: { input_tokens: 20, cache_read_input_tokens: 5, output_tokens: 1 },
    },
  },
] as [string, unknown];

describe('toChatCompletionChunks', () => {
  it('translates text, a tool call and the stop reason, with usage last', async () => {
    const chunks = await collect(
      toChatCompletionChunks(
        events(
          messageStart,
          ['ping', { type: 'ping' }],
          [
            'content_block_start',
            { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
          ],
          [
            'content_block_delta',
            { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hi' } },
          ],
          ['content_block_stop', { type: 'content_block_stop', index: 0 }],
          [
            'content_block_start',
            {
              type: 'content_block_start',
              index: 1,
              content_block: { type: 'tool_use', id: 'toolu_1', name: 'weather', input: {} },
            },
          ],
          [
            'content_block_delta',
            {
              type: 'content_block_delta',
              index: 1,
              delta: { type: 'input_json_delta', partial_json: '{"city":' },
            },
          ],
          [
            'content_block_delta',
            {
              type: 'content_block_delta',
              index: 1,
              delta: { type: 'input_json_delta', partial_json: '"Oslo"}' },
            },
          ],
          ['content_block_stop', { type: 'content_block_stop', index: 1 }],
          [
            'message_delta',
            {
              type: 'message_delta',
              delta: { stop_reason: 'tool_use', stop_sequence: null },
              usage: { output_tokens: 30 },
            },
          ],
          ['message_stop', { type: 'message_stop' }],
        ),
        context,
      ),
    );

    for (const chunk of chunks) {
      expect(chunk).toMatchObject({
        id: 'msg_1',
        object: 'chat.completion.chunk',
        created: 1_700_000_000,
        model: 'claude-sonnet-4-5-20250929',
      });
    }
    expect(chunks.map((c) => c.choices[0]?.delta ?? null)).toEqual([
      { role: 'assistant' },
      { content: 'Hi' },
      {
        tool_calls: [
          {
            index: 0,
            id: 'toolu_1',
            type: 'function',
            function: { name: 'weather', arguments: '' },
          },
        ],
      },
      { tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] },
      { tool_calls: [{ index: 0, function: { arguments: '"Oslo"}' } }] },
      {},
      null,
    ]);
    expect(chunks.map((c) => c.choices[0]?.finish_reason ?? null)).toEqual([
      null,
      null,
      null,
      null,
      null,
      'tool_calls',
      null,
    ]);
    expect(chunks.at(-1)).toMatchObject({
      choices: [],
      usage: { prompt_tokens: 25, completion_tokens: 30, total_tokens: 55 },
    });
  });

  it('numbers tool calls apart from content blocks', async () => {
    const toolStart = (index: number, id: string): [string, unknown] => [
      'content_block_start',
      {
        type: 'content_block_start',
        index,
        content_block: { type: 'tool_use', id, name: 'f', input: {} },
      },
    ];
    const chunks = await collect(
      toChatCompletionChunks(
        events(
          messageStart,
          [
            'content_block_start',
            { type: 'content_block_start', index: 0, content_block: { type: 'thinking' } },
          ],
          toolStart(1, 'a'),
          toolStart(2, 'b'),
          [
            'content_block_delta',
            {
              type: 'content_block_delta',
              index: 2,
              delta: { type: 'input_json_delta', partial_json: '{}' },
            },
          ],
          ['message_stop', { type: 'message_stop' }],
        ),
        context,
      ),
    );
    const toolCalls = chunks.flatMap((c) => c.choices[0]?.delta.tool_calls ?? []);
    expect(toolCalls).toEqual([
      { index: 0, id: 'a', type: 'function', function: { name: 'f', arguments: '' } },
      { index: 1, id: 'b', type: 'function', function: { name: 'f', arguments: '' } },
      { index: 1, function: { arguments: '{}' } },
    ]);
  });

  it.each([
    ['overloaded_error', 'BK_UPSTREAM_RATE_LIMITED'],
    ['rate_limit_error', 'BK_UPSTREAM_RATE_LIMITED'],
    ['api_error', 'BK_UPSTREAM_ERROR'],
  ])('turns an %s event into %s', async (type, code) => {
    const source = toChatCompletionChunks(
      events(messageStart, ['error', { type: 'error', error: { type, message: 'Overloaded' } }]),
      context,
    );
    await expect(collect(source)).rejects.toMatchObject({
      code,
      message: expect.stringContaining('Overloaded') as unknown,
    });
  });

  it('fails a stream that ends before message_stop', async () => {
    await expect(
      collect(toChatCompletionChunks(events(messageStart), context)),
    ).rejects.toMatchObject({ code: 'BK_UPSTREAM_ERROR' });
  });

  it('fails on an event that is not JSON', async () => {
    await expect(
      collect(toChatCompletionChunks(events(messageStart, ['message_delta', '{oops']), context)),
    ).rejects.toMatchObject({ code: 'BK_UPSTREAM_ERROR' });
  });

  it('ignores events after message_stop but keeps reading them', async () => {
    let read = 0;
    const source = (async function* () {
      for await (const event of events(
        messageStart,
        ['message_stop', { type: 'message_stop' }],
        ['ping', { type: 'ping' }],
      )) {
        read += 1;
        yield event;
      }
    })();
    const chunks = await collect(toChatCompletionChunks(source, context));
    expect(chunks).toHaveLength(2);
    expect(read).toBe(3);
  });
});
