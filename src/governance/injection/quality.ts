import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { scoreInjection } from './score.ts';

/** The labelled corpus the detector is measured on; shared by the CI gate and the bench. */
const CORPUS_PATH = new URL('../../../bench/data/injection-labelled.jsonl', import.meta.url);

const labelledExample = z.object({
  text: z.string().min(1),
  label: z.enum(['injection', 'benign']),
  category: z.string().min(1),
});
export type LabelledExample = z.infer<typeof labelledExample>;

export interface ScoredExample extends LabelledExample {
  score: number;
}

export interface ThresholdQuality {
  threshold: number;
  injections: number;
  benign: number;
  detected: number;
  falsePositives: number;
  /** Recall on injections. */
  detectionRate: number;
  falsePositiveRate: number;
  /** NaN when nothing was flagged. */
  precision: number;
}

export interface CategoryQuality {
  category: string;
  label: LabelledExample['label'];
  total: number;
  flagged: number;
  rate: number;
}

export function loadCorpus(path: URL = CORPUS_PATH): LabelledExample[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line, i) => {
      const parsed = labelledExample.safeParse(JSON.parse(line));
      if (!parsed.success) throw new Error(`line ${i + 1}: ${parsed.error.message}`);
      return parsed.data;
    });
}

export function scoreCorpus(examples: readonly LabelledExample[]): ScoredExample[] {
  return examples.map((e) => ({ ...e, score: scoreInjection(e.text).score }));
}

/** Flagged as a tenant with this threshold would see it: the comparison src/governance/input.ts makes. */
export function isFlagged(example: ScoredExample, threshold: number): boolean {
  return example.score >= threshold;
}

export function qualityAt(scored: readonly ScoredExample[], threshold: number): ThresholdQuality {
  const injections = scored.filter((e) => e.label === 'injection');
  const benign = scored.filter((e) => e.label === 'benign');
  const detected = injections.filter((e) => isFlagged(e, threshold)).length;
  const falsePositives = benign.filter((e) => isFlagged(e, threshold)).length;
  return {
    threshold,
    injections: injections.length,
    benign: benign.length,
    detected,
    falsePositives,
    detectionRate: detected / injections.length,
    falsePositiveRate: falsePositives / benign.length,
    precision: detected / (detected + falsePositives),
  };
}

export function qualityByCategory(
  scored: readonly ScoredExample[],
  threshold: number,
): CategoryQuality[] {
  const groups = new Map<string, ScoredExample[]>();
  for (const e of scored) groups.set(e.category, [...(groups.get(e.category) ?? []), e]);
  return [...groups.entries()].map(([category, examples]) => {
    const flagged = examples.filter((e) => isFlagged(e, threshold)).length;
    return {
      category,
      label: examples[0]!.label,
      total: examples.length,
      flagged,
      rate: flagged / examples.length,
    };
  });
}
