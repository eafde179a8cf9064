import { describe, expect, it } from 'vitest';
import { RULES } from './rules.ts';

describe('RULES', () => {
  it('have unique ids and weights strictly between 0 and 1', () => {
    expect(new Set(RULES.map((r) => r.id)).size).toBe(RULES.length);
    for (const r of RULES) {
      expect(r.weight, r.id).toBeGreaterThan(0);
      expect(r.weight, r.id).toBeLessThan(1);
    }
  });

  it('are global, case-sensitive regexes written in lower case unless marked otherwise', () => {
    for (const r of RULES) {
      expect(r.pattern.flags, r.id).toContain('g');
      expect(r.pattern.flags, r.id).not.toContain('i');
      if (r.caseSensitive) continue;
      const literals = r.pattern.source
        .replace(/\\[pP]\{[^}]*\}/g, '')
        .replace(/\\u\{[0-9A-Fa-f]+\}|\\u[0-9A-Fa-f]{4}|\\x[0-9A-Fa-f]{2}/g, '')
        .replace(/\\[A-Za-z]/g, '');
      expect(literals, r.id).not.toMatch(/[A-Z]/);
    }
  });
});
