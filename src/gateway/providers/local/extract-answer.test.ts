import { describe, expect, it } from 'vitest';
import type { ChatMessage } from '../../chat/schema.ts';
import {
  EXTRACTIVE_MARKER,
  NO_CONTEXT_ANSWER,
  NO_MATCH_ANSWER,
  extractAnswer,
} from './extract-answer.ts';

const handbook = [
  'You are the Acme support assistant.',
  'The office opens at 9am on weekdays.',
  'Refunds are processed within 14 days of the request.',
  'Our headquarters are located in Lisbon.',
  'Parking is free for visitors.',
].join(' ');

const ask = (question: string, context: string = handbook): ChatMessage[] => [
  { role: 'system', content: context },
  { role: 'user', content: question },
];

const body = (answer: string) => {
  expect(answer.startsWith(`${EXTRACTIVE_MARKER}\n\n`)).toBe(true);
  return answer.slice(EXTRACTIVE_MARKER.length + 2);
};

describe('extractAnswer', () => {
  it('picks the sentence that answers the question over distractors', () => {
    expect(body(extractAnswer(ask('How long do refunds take?')))).toBe(
      'Refunds are processed within 14 days of the request.',
    );
    expect(body(extractAnswer(ask('Where is the headquarters?')))).toBe(
      'Our headquarters are located in Lisbon.',
    );
    expect(body(extractAnswer(ask('what time does the office open')))).toBe(
      'The office opens at 9am on weekdays.',
    );
  });

  it('matches inflected wording through character trigrams', () => {
    const context = 'Configuration lives in config.yaml under the server key. Bread needs flour.';
    expect(body(extractAnswer(ask('How do I configure it?', context)))).toBe(
      'Configuration lives in config.yaml under the server key.',
    );
  });

  it('answers honestly when no context overlaps the question', () => {
    expect(body(extractAnswer(ask('What is the capital of Peru?')))).toBe(NO_MATCH_ANSWER);
    expect(body(extractAnswer(ask('Who are you?')))).toBe(NO_MATCH_ANSWER);
  });

  it('says when there is no context at all', () => {
    expect(body(extractAnswer([{ role: 'user', content: 'How long do refunds take?' }]))).toBe(
      NO_CONTEXT_ANSWER,
    );
  });

  it('returns at most three sentences, in source order, from every kind of message', () => {
    const messages: ChatMessage[] = [
      { role: 'system', content: 'Lunch is at noon. Deploys are logged.' },
      { role: 'assistant', content: 'Deploys roll back automatically on failure.' },
      { role: 'tool', tool_call_id: 'call_1', content: 'Deploys need approval.' },
      { role: 'user', content: [{ type: 'text', text: 'Tell me about deploys.' }] },
    ];
    expect(body(extractAnswer(messages))).toBe(
      'Deploys are logged. Deploys roll back automatically on failure. Deploys need approval.',
    );
    messages.unshift({ role: 'developer', content: 'Deploys run on Fridays.' });
    const fourMatches = body(extractAnswer(messages));
    expect(fourMatches).toBe('Deploys run on Fridays. Deploys are logged. Deploys need approval.');
  });

  it('answers with what follows a matching question, not the question itself', () => {
    const faq =
      'Q: How long do refunds take? A: Fourteen days from the request. Q: Is parking free?';
    expect(body(extractAnswer(ask('How long does a refund take?', faq)))).toBe(
      'A: Fourteen days from the request.',
    );
    const conversation: ChatMessage[] = [
      { role: 'user', content: 'Who approves deploys?' },
      { role: 'assistant', content: 'The release manager signs them off.' },
      { role: 'user', content: 'Remind me: who approves deploys?' },
    ];
    expect(body(extractAnswer(conversation))).toBe('The release manager signs them off.');
  });

  it('answers the last user message, not an earlier one, and never quotes the question', () => {
    const messages: ChatMessage[] = [
      { role: 'system', content: handbook },
      { role: 'user', content: 'Where is the headquarters?' },
      { role: 'assistant', content: 'Our headquarters are located in Lisbon.' },
      { role: 'user', content: 'Is parking free?' },
    ];
    expect(body(extractAnswer(messages))).toBe('Parking is free for visitors.');
  });
});
