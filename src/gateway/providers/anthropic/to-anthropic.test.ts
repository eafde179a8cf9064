import { describe, expect, it } from 'vitest';
import { BkError } from '../../../core/errors.ts';
import type { ChatCompletionRequest } from '../../chat/schema.ts';
import { toAnthropicRequest, toAnthropicToolChoice } from './to-anthropic.ts';

function request(overrides: Partial<ChatCompletionRequest> = {}): ChatCompletionRequest {
  return {
    model: 'claude-sonnet-4-5',
    messages: [{ role: 'user', content: 'Hi' }],
    ...overrides,
  };
}

function thrown(fn: () => unknown): BkError {
  try {
    fn();
  } catch (err) {
    if (err instanceof BkError) return err;
    throw err;
  }
  throw new Error('expected a BkError');
}

describe('toAnthropicRequest', () => {
  it('sends the minimum: model, default max_tokens, one user turn', () => {
    expect(toAnthropicRequest(request(), false)).toEqual({
      model: 'claude-sonnet-4-5',
      max_tokens: 4096,
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }],
    });
  });

  it('prefers max_completion_tokens over max_tokens', () => {
    expect(toAnthropicRequest(request({ max_tokens: 100 }), false).max_tokens).toBe(100);
    expect(
      toAnthropicRequest(request({ max_tokens: 100, max_completion_tokens: 50 }), false).max_tokens,
    ).toBe(50);
  });

  it('hoists system and developer messages into system, joined with blank lines', () => {
    const body = toAnthropicRequest(
      request({
        messages: [
          { role: 'system', content: 'Be brief.' },
          { role: 'user', content: 'Hi' },
          { role: 'developer', content: [{ type: 'text', text: 'Answer in French.' }] },
        ],
      }),
      false,
    );
    expect(body.system).toBe('Be brief.\n\nAnswer in French.');
    expect(body.messages).toEqual([{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }]);
  });

  it('merges consecutive turns of the same role', () => {
    const body = toAnthropicRequest(
      request({
        messages: [
          { role: 'user', content: 'one' },
          { role: 'system', content: 'sys' },
          { role: 'user', content: [{ type: 'text', text: 'two' }] },
          { role: 'assistant', content: 'a' },
          { role: 'assistant', content: 'b' },
        ],
      }),
      false,
    );
    expect(body.messages).toEqual([
      {
        role: 'user',
        content: [
          { type: 'text', text: 'one' },
          { type: 'text', text: 'two' },
        ],
      },
      {
        role: 'assistant',
        content: [
          { type: 'text', text: 'a' },
          { type: 'text', text: 'b' },
        ],
      },
    ]);
  });

  it('maps images to Anthropic image blocks and drops other non-text parts', () => {
    const body = toAnthropicRequest(
      request({
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'What is this?' },
              { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
              { type: 'image_url', image_url: { url: 'https://example.com/cat.jpg' } },
              { type: 'input_audio', input_audio: { data: 'AAAA', format: 'wav' } },
            ],
          },
        ],
      }),
      false,
    );
    expect(body.messages[0]!.content).toEqual([
      { type: 'text', text: 'What is this?' },
      { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
      { type: 'image', source: { type: 'url', url: 'https://example.com/cat.jpg' } },
    ]);
  });

  it('rejects an image URL Anthropic cannot take', () => {
    const err = thrown(() =>
      toAnthropicRequest(
        request({
          messages: [
            { role: 'user', content: [{ type: 'image_url', image_url: { url: 'file:///x.png' } }] },
          ],
        }),
        false,
      ),
    );
    expect(err.code).toBe('BK_VALIDATION_FAILED');
    expect(err.param).toBe('messages');
  });

  it('translates tool calls and tool results, results first in the following user turn', () => {
    const body = toAnthropicRequest(
      request({
        messages: [
          { role: 'user', content: 'Weather in Paris and Oslo?' },
          {
            role: 'assistant',
            content: 'Checking.',
            tool_calls: [
              {
                id: 'call_1',
                type: 'function',
                function: { name: 'weather', arguments: '{"city":"Paris"}' },
              },
              { id: 'call_2', type: 'function', function: { name: 'weather', arguments: '' } },
            ],
          },
          { role: 'tool', tool_call_id: 'call_1', content: '18C' },
          { role: 'tool', tool_call_id: 'call_2', content: [{ type: 'text', text: '9C' }] },
          { role: 'user', content: 'Thanks' },
        ],
      }),
      false,
    );
    expect(body.messages).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'Weather in Paris and Oslo?' }] },
      {
        role: 'assistant',
        content: [
          { type: 'text', text: 'Checking.' },
          { type: 'tool_use', id: 'call_1', name: 'weather', input: { city: 'Paris' } },
          { type: 'tool_use', id: 'call_2', name: 'weather', input: {} },
        ],
      },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 'call_1', content: '18C' },
          { type: 'tool_result', tool_use_id: 'call_2', content: '9C' },
          { type: 'text', text: 'Thanks' },
        ],
      },
    ]);
  });

  it.each(['{not json', '[1,2]', '"text"'])('rejects tool call arguments %j', (args) => {
    const err = thrown(() =>
      toAnthropicRequest(
        request({
          messages: [
            { role: 'user', content: 'x' },
            {
              role: 'assistant',
              content: null,
              tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: args } }],
            },
          ],
        }),
        false,
      ),
    );
    expect(err.code).toBe('BK_VALIDATION_FAILED');
    expect(err.param).toBe('messages');
  });

  it('rejects a tool message without tool_call_id', () => {
    const err = thrown(() =>
      toAnthropicRequest(request({ messages: [{ role: 'tool', content: 'x' }] }), false),
    );
    expect(err.code).toBe('BK_VALIDATION_FAILED');
  });

  it('rejects a request with only system messages', () => {
    const err = thrown(() =>
      toAnthropicRequest(request({ messages: [{ role: 'system', content: 'x' }] }), false),
    );
    expect(err.code).toBe('BK_VALIDATION_FAILED');
    expect(err.param).toBe('messages');
  });

  it('maps sampling parameters and stop sequences', () => {
    const body = toAnthropicRequest(
      request({ temperature: 1.7, top_p: 0.9, stop: 'END', seed: 4, presence_penalty: 1 }),
      true,
    );
    expect(body).toMatchObject({
      temperature: 1,
      top_p: 0.9,
      stop_sequences: ['END'],
      stream: true,
    });
    expect(body).not.toHaveProperty('seed');
    expect(body).not.toHaveProperty('presence_penalty');
    expect(toAnthropicRequest(request({ stop: ['a', 'b'] }), false).stop_sequences).toEqual([
      'a',
      'b',
    ]);
    expect(toAnthropicRequest(request({ stop: null }), false)).not.toHaveProperty('stop_sequences');
  });

  it('refuses n > 1', () => {
    const err = thrown(() => toAnthropicRequest(request({ n: 2 }), false));
    expect(err.code).toBe('BK_UNSUPPORTED_OPERATION');
    expect(err.param).toBe('n');
    expect(() => toAnthropicRequest(request({ n: 1 }), false)).not.toThrow();
  });

  it('translates function tools and tool_choice', () => {
    const body = toAnthropicRequest(
      request({
        tools: [
          {
            type: 'function',
            function: {
              name: 'weather',
              description: 'Current weather',
              parameters: { type: 'object', properties: { city: { type: 'string' } } },
            },
          },
          { type: 'function', function: { name: 'now' } },
        ],
        tool_choice: { type: 'function', function: { name: 'weather' } },
      }),
      false,
    );
    expect(body.tools).toEqual([
      {
        name: 'weather',
        description: 'Current weather',
        input_schema: { type: 'object', properties: { city: { type: 'string' } } },
      },
      { name: 'now', input_schema: { type: 'object', properties: {} } },
    ]);
    expect(body.tool_choice).toEqual({ type: 'tool', name: 'weather' });
  });

  it('leaves tool_choice out when there are no tools', () => {
    expect(toAnthropicRequest(request({ tool_choice: 'required' }), false)).not.toHaveProperty(
      'tool_choice',
    );
  });

  it('refuses non-function tools', () => {
    const err = thrown(() =>
      toAnthropicRequest(request({ tools: [{ type: 'web_search_preview' }] }), false),
    );
    expect(err.code).toBe('BK_UNSUPPORTED_OPERATION');
    expect(err.param).toBe('tools');
  });
});

describe('toAnthropicToolChoice', () => {
  it.each([
    ['auto', { type: 'auto' }],
    ['none', { type: 'none' }],
    ['required', { type: 'any' }],
    [undefined, undefined],
  ])('maps %j', (choice, expected) => {
    expect(toAnthropicToolChoice(choice, undefined)).toEqual(expected);
  });

  it('maps parallel_tool_calls: false to disable_parallel_tool_use', () => {
    expect(toAnthropicToolChoice(undefined, false)).toEqual({
      type: 'auto',
      disable_parallel_tool_use: true,
    });
    expect(toAnthropicToolChoice('required', false)).toEqual({
      type: 'any',
      disable_parallel_tool_use: true,
    });
  });

  it('rejects an unknown tool_choice', () => {
    const err = thrown(() => toAnthropicToolChoice('sometimes', undefined));
    expect(err.code).toBe('BK_VALIDATION_FAILED');
    expect(err.param).toBe('tool_choice');
  });
});
