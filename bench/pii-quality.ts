/**
 * PII detection quality against the labelled set: per entity true and false positives, false
 * negatives, precision and recall, as a markdown table. Scoring rules: src/governance/pii/quality.ts;
 * the same scoring gates CI in src/governance/pii/quality.test.ts.
 *
 *   node --import tsx bench/pii-quality.ts [--data <file.jsonl>] [--errors]
 *
 * --errors also lists every false positive and false negative with its text.
 */
import { relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  formatQualityTable,
  LABELLED_SET_PATH,
  readLabelledSet,
  scorePii,
} from '../src/governance/pii/quality.ts';

const { values: flags } = parseArgs({
  options: {
    data: { type: 'string', default: LABELLED_SET_PATH },
    errors: { type: 'boolean', default: false },
  },
});

const dataPath = resolve(flags.data);
const report = scorePii(readLabelledSet(dataPath));

console.log(
  `PII detection on ${relative(process.cwd(), dataPath)}: ${report.samples} samples, ` +
    `${report.negatives} without any PII.\n`,
);
console.log(formatQualityTable(report));
console.log(`\n\`node --import tsx bench/pii-quality.ts\``);
if (flags.errors) {
  for (const e of report.errors) {
    console.log(`\n${e.kind.toUpperCase()} ${e.entity}: ${JSON.stringify(e.value)}`);
    console.log(`  in ${JSON.stringify(e.text)}`);
  }
}
