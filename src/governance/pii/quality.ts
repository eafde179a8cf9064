import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { detectPii } from './detect.ts';
import { PII_ENTITIES, type PiiEntity, type PiiMatch } from './entities.ts';

export interface LabelledValue {
  entity: PiiEntity;
  value: string;
}

export interface LabelledSample {
  text: string;
  entities: LabelledValue[];
}

export interface EntityScore {
  entity: PiiEntity | 'total';
  tp: number;
  fp: number;
  fn: number;
  precision: number;
  recall: number;
}

export interface QualityReport {
  samples: number;
  negatives: number;
  scores: EntityScore[];
  /** Every wrong call, for reading the misses. */
  errors: { kind: 'fp' | 'fn'; entity: PiiEntity; value: string; text: string }[];
}

export const LABELLED_SET_PATH = fileURLToPath(
  new URL('../../../bench/data/pii-labelled.jsonl', import.meta.url),
);

export function readLabelledSet(path: string = LABELLED_SET_PATH): LabelledSample[] {
  return parseLabelledSet(readFileSync(path, 'utf8'));
}

/** Parses the labelled set (JSON lines); a malformed line is an error, not a skipped sample. */
export function parseLabelledSet(jsonl: string): LabelledSample[] {
  return jsonl
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line, i) => {
      const sample = JSON.parse(line) as Partial<LabelledSample>;
      const valid =
        typeof sample.text === 'string' &&
        Array.isArray(sample.entities) &&
        sample.entities.every(
          (e) => PII_ENTITIES.includes(e.entity) && typeof e.value === 'string',
        );
      if (!valid) throw new Error(`Labelled set line ${i + 1} is not {text, entities[]}.`);
      return sample as LabelledSample;
    });
}

/**
 * Values compare after collapsing every run of whitespace to one space and trimming: a PEM block
 * labelled with \n line breaks and the same block found with \r\n are one value, and a phone number
 * written with a no-break space equals its label with a plain one. Nothing else is normalised:
 * a match with other boundaries (a phone without its +44, an email with a trailing dot) is one
 * false positive and one false negative.
 */
function normaliseValue(value: string): string {
  return value.replace(/\s+/g, ' ').trim();
}

/**
 * Scores a detector against the labelled set: a match is a true positive when an unused label of
 * the same sample has the same entity and the same normalised value; otherwise a false positive.
 * Labels left unused are false negatives.
 */
export function scorePii(
  samples: readonly LabelledSample[],
  detect: (text: string) => PiiMatch[] = detectPii,
): QualityReport {
  const counts = new Map(PII_ENTITIES.map((e) => [e, { tp: 0, fp: 0, fn: 0 }]));
  const errors: QualityReport['errors'] = [];
  for (const sample of samples) {
    const open = sample.entities.map((l) => ({ ...l, value: normaliseValue(l.value) }));
    for (const match of detect(sample.text)) {
      const value = normaliseValue(match.value);
      const i = open.findIndex((l) => l.entity === match.entity && l.value === value);
      if (i >= 0) {
        open.splice(i, 1);
        counts.get(match.entity)!.tp++;
      } else {
        counts.get(match.entity)!.fp++;
        errors.push({ kind: 'fp', entity: match.entity, value, text: sample.text });
      }
    }
    for (const label of open) {
      counts.get(label.entity)!.fn++;
      errors.push({ kind: 'fn', entity: label.entity, value: label.value, text: sample.text });
    }
  }
  const scores: EntityScore[] = [...counts].map(([entity, c]) => score(entity, c));
  const total = [...counts.values()].reduce(
    (sum, c) => ({ tp: sum.tp + c.tp, fp: sum.fp + c.fp, fn: sum.fn + c.fn }),
    { tp: 0, fp: 0, fn: 0 },
  );
  scores.push(score('total', total));
  return {
    samples: samples.length,
    negatives: samples.filter((s) => s.entities.length === 0).length,
    scores,
    errors,
  };
}

function score(
  entity: EntityScore['entity'],
  c: { tp: number; fp: number; fn: number },
): EntityScore {
  return {
    entity,
    ...c,
    precision: c.tp + c.fp === 0 ? 1 : c.tp / (c.tp + c.fp),
    recall: c.tp + c.fn === 0 ? 1 : c.tp / (c.tp + c.fn),
  };
}

export function formatQualityTable(report: QualityReport): string {
  const rows = report.scores.map((s) => {
    const name = s.entity === 'total' ? '**total**' : `\`${s.entity}\``;
    return `| ${name} | ${s.tp} | ${s.fp} | ${s.fn} | ${s.precision.toFixed(3)} | ${s.recall.toFixed(3)} |`;
  });
  return [
    '| entity | TP | FP | FN | precision | recall |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
    ...rows,
  ].join('\n');
}
