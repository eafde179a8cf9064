import type { PiiMatch } from '../entities.ts';

const LOCAL_START = `[A-Za-z0-9_%+-]`;
const LOCAL_CHAR = `[A-Za-z0-9_%+'-]`;
const LABEL = `[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?`;

/**
 * The practical address grammar (no quoted local parts, ASCII only). The apostrophe is allowed
 * inside a local part (o'connor@…) but not first, so 'quoted@example.com' in code still matches
 * without its quote. Not followed by `:path`: git@github.com:org/repo is an SSH remote.
 */
const EMAIL = new RegExp(
  `(?<![A-Za-z0-9._%+-])${LOCAL_START}${LOCAL_CHAR}*(?:\\.${LOCAL_CHAR}+)*` +
    `@(?:${LABEL}\\.)+[A-Za-z]{2,63}(?![A-Za-z0-9-]|\\.[A-Za-z0-9]|:[^\\s])`,
  'g',
);

/** Retina asset names: icon@2x.png. */
const ASSET_SCALE = /@\d+x\./;

export function findEmails(text: string): PiiMatch[] {
  const found: PiiMatch[] = [];
  for (const m of text.matchAll(EMAIL)) {
    const value = m[0];
    const at = value.indexOf('@');
    if (at > 64 || value.length > 254 || ASSET_SCALE.test(value)) continue;
    found.push({ entity: 'email', start: m.index, end: m.index + value.length, value });
  }
  return found;
}
