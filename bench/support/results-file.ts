import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { format, resolveConfig } from 'prettier';

/**
 * Writes one `## heading` section of a markdown results file, replacing that section if it is
 * there and keeping every other section as it was, so several benchmarks can share one file. The
 * file is formatted with the project's Prettier settings, so `npm run format:check` stays green
 * after a benchmark run.
 */
export async function writeResultsSection(
  path: string,
  heading: string,
  body: string,
): Promise<void> {
  const text = existsSync(path) ? replaceSection(readFileSync(path, 'utf8'), heading, body) : null;
  const content = text ?? `# Benchmark results\n\n## ${heading}\n\n${body.trim()}\n`;
  const options = (await resolveConfig(path)) ?? {};
  writeFileSync(path, await format(content, { ...options, filepath: path }));
}

function replaceSection(existing: string, heading: string, body: string): string {
  const section = `## ${heading}\n\n${body.trim()}\n`;
  const lines = existing.split('\n');
  const start = lines.findIndex((l) => l.trim() === `## ${heading}`);
  if (start === -1) return `${existing.trimEnd()}\n\n${section}`;
  // The section ends at the next heading of level 1 or 2 outside a fenced code block.
  let end = lines.length;
  let fenced = false;
  for (let i = start + 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.startsWith('```')) fenced = !fenced;
    else if (!fenced && /^##? /.test(line)) {
      end = i;
      break;
    }
  }
  const before = lines.slice(0, start).join('\n').trimEnd();
  const after = lines.slice(end).join('\n').trim();
  return `${before}\n\n${section}${after === '' ? '' : `\n${after}\n`}`;
}
