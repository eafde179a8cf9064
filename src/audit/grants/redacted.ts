import type { GrantScope } from './schema.ts';

/**
 * What an operator sees in place of tenant content it has no grant for: a marker naming the scope
 * the tenant would have to grant, never the content, its length or a hash of it.
 */
export function redactedFor(scope: GrantScope) {
  return { redacted: true as const, reason: `no active access grant for '${scope}'` };
}
export type Redacted = ReturnType<typeof redactedFor>;
