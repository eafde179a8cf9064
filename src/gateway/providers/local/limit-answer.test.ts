import { describe, expect, it } from 'vitest';
import { countTextTokens } from '../../../metering/token-count.ts';
import { limitAnswer } from './limit-answer.ts';

const answer = 'Refunds are processed within fourteen days of the request being received.';

describe('limitAnswer', () => {
  it('leaves an answer within its limits alone', () => {
    expect(limitAnswer(answer, {})).toEqual({ content: answer, finishReason: 'stop' });
    expect(limitAnswer(answer, { maxTokens: 1000 })).toEqual({
      content: answer,
      finishReason: 'stop',
    });
  });

  it('truncates to the token budget with finish reason length', () => {
    const limited = limitAnswer(answer, { maxTokens: 4 });
    expect(limited.finishReason).toBe('length');
    expect(answer.startsWith(limited.content)).toBe(true);
    expect(countTextTokens(limited.content)).toBeLessThanOrEqual(4);
    expect(countTextTokens(limited.content)).toBeGreaterThanOrEqual(3);
  });

  it('cuts before the earliest stop sequence', () => {
    expect(limitAnswer(answer, { stop: ['the', 'within'] })).toEqual({
      content: 'Refunds are processed ',
      finishReason: 'stop',
    });
    expect(limitAnswer(answer, { stop: 'zzz' }).content).toBe(answer);
  });
});
