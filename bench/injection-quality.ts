/**
 * Quality of the prompt-injection scorer (src/governance/injection) on the labelled corpus
 * bench/data/injection-labelled.jsonl: detection rate, false-positive rate and precision at a few
 * thresholds, detection per category, and how long scoring takes. Prints markdown.
 *
 *   node --import tsx bench/injection-quality.ts [--threshold 0.5] [--misses]
 *
 * `--misses` also lists the injections scored below the threshold and the benign texts at or
 * above it. The same corpus and metrics gate CI in src/governance/injection/quality.test.ts.
 */
import { parseArgs } from 'node:util';
import {
  type CategoryQuality,
  isFlagged,
  loadCorpus,
  qualityAt,
  qualityByCategory,
  type ScoredExample,
  scoreCorpus,
} from '../src/governance/injection/quality.ts';
import { scoreInjection } from '../src/governance/injection/score.ts';

const THRESHOLDS = [0.3, 0.5, 0.7];
const COMMAND = 'node --import tsx bench/injection-quality.ts';

const { values: flags } = parseArgs({
  options: {
    threshold: { type: 'string', default: '0.5' },
    misses: { type: 'boolean', default: false },
  },
});
const categoryThreshold = Number(flags.threshold);
if (!(categoryThreshold >= 0 && categoryThreshold <= 1)) {
  throw new Error('--threshold must be a number between 0 and 1');
}

const percent = (x: number) => (Number.isNaN(x) ? '—' : `${(x * 100).toFixed(1)}%`);
const oneLine = (text: string) =>
  JSON.stringify(text.length > 140 ? `${text.slice(0, 140)}…` : text);

function table(header: string[], rows: string[][], rightAligned: number[]): string {
  const align = header.map((_, i) => (rightAligned.includes(i) ? '---:' : '---'));
  return [header, align, ...rows].map((cells) => `| ${cells.join(' | ')} |`).join('\n');
}

const corpus = loadCorpus();
// Scored twice: the first pass warms up the regex engine, the second is timed.
scoreCorpus(corpus);
const started = performance.now();
const scored: ScoredExample[] = scoreCorpus(corpus);
const perText = (performance.now() - started) / corpus.length;

const longDocument = corpus
  .filter((e) => e.label === 'benign')
  .map((e) => e.text)
  .join('\n\n')
  .repeat(20)
  .slice(0, 100_000);
const longStarted = performance.now();
scoreInjection(longDocument);
const longMs = performance.now() - longStarted;

const injections = scored.filter((e) => e.label === 'injection').length;
const hardNegatives = scored.filter((e) => e.category.startsWith('hn_')).length;

const out: string[] = [];
out.push('## Prompt-injection scorer quality', '');
out.push('Produced by:', '', '```sh', COMMAND, '```', '');
out.push(
  `- Corpus: \`bench/data/injection-labelled.jsonl\`, ${scored.length} texts: ${injections} injections, ${scored.length - injections} benign (${hardNegatives} of them hard negatives, categories \`hn_*\`).`,
  '- A text is flagged when its score is at least the threshold, as in the input governance (`src/governance/input.ts`).',
  `- Scoring time: ${(perText * 1000).toFixed(0)} µs per corpus text on average (mean ${Math.round(scored.reduce((n, e) => n + e.text.length, 0) / scored.length)} characters); ${longMs.toFixed(0)} ms for a 100 kB document made of the benign texts.`,
  '',
);

out.push(
  table(
    [
      'threshold',
      'detection rate',
      'false-positive rate',
      'precision',
      'detected',
      'false positives',
    ],
    THRESHOLDS.map((t) => {
      const q = qualityAt(scored, t);
      return [
        t.toFixed(1),
        percent(q.detectionRate),
        percent(q.falsePositiveRate),
        percent(q.precision),
        `${q.detected} / ${q.injections}`,
        `${q.falsePositives} / ${q.benign}`,
      ];
    }),
    [1, 2, 3, 4, 5],
  ),
  '',
);

const byCategory = qualityByCategory(scored, categoryThreshold);
const categoryRows = (label: CategoryQuality['label']) =>
  byCategory
    .filter((c) => c.label === label)
    .map((c) => [`\`${c.category}\``, String(c.total), String(c.flagged), percent(c.rate)]);

out.push(`### Detection rate per category at threshold ${categoryThreshold}`, '');
out.push(
  table(['category', 'texts', 'detected', 'detection rate'], categoryRows('injection'), [1, 2, 3]),
  '',
);
out.push(`### Benign texts flagged per category at threshold ${categoryThreshold}`, '');
out.push(
  table(['category', 'texts', 'flagged', 'false-positive rate'], categoryRows('benign'), [1, 2, 3]),
  '',
);

if (flags.misses) {
  out.push(`### Injections missed at threshold ${categoryThreshold}`, '');
  for (const e of scored.filter(
    (x) => x.label === 'injection' && !isFlagged(x, categoryThreshold),
  )) {
    out.push(`- ${e.score.toFixed(2)} \`${e.category}\` ${oneLine(e.text)}`);
  }
  out.push('', `### Benign texts flagged at threshold ${categoryThreshold}`, '');
  for (const e of scored.filter((x) => x.label === 'benign' && isFlagged(x, categoryThreshold))) {
    out.push(`- ${e.score.toFixed(2)} \`${e.category}\` ${oneLine(e.text)}`);
  }
  out.push('');
}

console.log(out.join('\n'));
