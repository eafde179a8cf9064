import { describe, expect, it } from 'vitest';
import { fromAnthropicMessage, toFinishReason, toUsage } from './from-anthropic.ts';

describe('fromAnthropicMessage', () => {
  it('joins text blocks and reports usage', () => {
    const completion = fromAnthropicMessage(
      {
        id: 'msg_01',
        type: 'message',
        role: 'assistant',
        model: 'claude-sonnet-4-5-20250929',
        content: [
          { type: 'thinking', thinking: 'hmm', signature: 'x' },
          { type: 'text', text: 'Hello, ' },
          { type: 'text', text: 'world.' },
        ],
        stop_reason: 'end_turn',
        stop_sequence: null,
        usage: { input_tokens: 12, output_tokens: 5 },
      },
      'claude',
      1_700_000_000,
    );
    expect(completion).toEqual({
      id: 'msg_01',
      object: 'chat.completion',
      created: 1_700_000_000,
      model: 'claude-sonnet-4-5-20250929',
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: 'Hello, world.' },
          finish_reason: 'stop',
          logprobs: null,
        },
      ],
      usage: { prompt_tokens: 12, completion_tokens: 5, total_tokens: 17 },
    });
  });

  it('turns tool_use blocks into tool_calls with null content', () => {
    const completion = fromAnthropicMessage(
      {
        id: 'msg_02',
        model: 'claude-x',
        content: [
          { type: 'tool_use', id: 'toolu_1', name: 'weather', input: { city: 'Oslo' } },
          { type: 'tool_use', id: 'toolu_2', name: 'now', input: {} },
        ],
        stop_reason: 'tool_use',
        usage: { input_tokens: 1, output_tokens: 2 },
      },
      'claude',
      0,
    );
    expect(completion.choices[0]).toMatchObject({
      finish_reason: 'tool_calls',
      message: {
        role: 'assistant',
        content: null,
        tool_calls: [
          {
            id: 'toolu_1',
            type: 'function',
            function: { name: 'weather', arguments: '{"city":"Oslo"}' },
          },
          { id: 'toolu_2', type: 'function', function: { name: 'now', arguments: '{}' } },
        ],
      },
    });
  });

  it('rejects a body that is not a Message', () => {
    expect(() => fromAnthropicMessage({ hello: 'world' }, 'claude', 0)).toThrow(
      expect.objectContaining({ code: 'BK_UPSTREAM_ERROR' }),
    );
  });
});

describe('toFinishReason', () => {
  it.each([
    ['end_turn', 'stop'],
    ['stop_sequence', 'stop'],
    ['pause_turn', 'stop'],
    ['max_tokens', 'length'],
    ['model_context_window_exceeded', 'length'],
    ['tool_use', 'tool_calls'],
    ['refusal', 'content_filter'],
    [null, null],
  ] as const)('%s → %s', (reason, expected) => {
    expect(toFinishReason(reason)).toBe(expected);
  });
});

describe('toUsage', () => {
  it('counts cached prompt tokens as prompt tokens', () => {
    expect(
      toUsage({
        input_tokens: 10,
        cache_creation_input_tokens: 100,
        cache_read_input_tokens: 1000,
        output_tokens: 7,
      }),
    ).toEqual({ prompt_tokens: 1110, completion_tokens: 7, total_tokens: 1117 });
  });
});
