import { describe, expect, it } from 'vitest';
import { loadCorpus, qualityAt, scoreCorpus } from './quality.ts';

const SIGNAL_KINDS = [
  'instruction_override',
  'role_play_jailbreak',
  'delimiter_injection',
  'encoding_trick',
  'system_prompt_exfiltration',
  'cross_tenant_request',
];

describe('labelled injection corpus', () => {
  const corpus = loadCorpus();

  it('covers every signal kind and has hard negatives', () => {
    expect(corpus.length).toBeGreaterThanOrEqual(400);
    const injections = corpus.filter((e) => e.label === 'injection');
    expect(injections.length / corpus.length).toBeGreaterThan(0.35);
    expect(injections.length / corpus.length).toBeLessThan(0.45);
    expect(new Set(injections.map((e) => e.category))).toEqual(new Set(SIGNAL_KINDS));
    expect(corpus.filter((e) => e.category.startsWith('hn_')).length).toBeGreaterThanOrEqual(120);
  });

  // The regression gate: a change to the rules that loses detections or adds false positives
  // on the corpus fails here. See bench/injection-quality.ts for the full report.
  it('is detected at threshold 0.5 with few false positives', () => {
    const quality = qualityAt(scoreCorpus(corpus), 0.5);
    expect(quality.detectionRate).toBeGreaterThanOrEqual(0.85);
    expect(quality.falsePositiveRate).toBeLessThanOrEqual(0.05);
  });
});
