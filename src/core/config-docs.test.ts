import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { describeConfig } from './config.ts';

describe('docs/configuration.md', () => {
  it('documents every environment variable Bulkhead reads', () => {
    const docs = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
    const missing = describeConfig()
      .map((f) => f.env)
      .filter((env) => !docs.includes(`\`${env}\``));
    expect(missing).toEqual([]);
  });
});
