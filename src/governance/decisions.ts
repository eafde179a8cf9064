/**
 * What the policy decided about one request, stage by stage. Every decision names the policy rule
 * that took it (`pii.input.email`, `injection`, `models.regions` …), so the audit trail and the
 * dry-run can say why.
 */
export type Outcome = 'allowed' | 'redacted' | 'flagged' | 'held' | 'blocked';

export interface Decision {
  rule: string;
  outcome: Outcome;
  reason: string;
}

const weight: Record<Outcome, number> = {
  allowed: 0,
  flagged: 1,
  redacted: 2,
  held: 3,
  blocked: 4,
};

/** The decision that characterises the request: the most severe one (blocked > held > redacted > flagged). */
export function primaryDecision(decisions: readonly Decision[]): Decision | null {
  let primary: Decision | null = null;
  for (const d of decisions)
    if (primary === null || weight[d.outcome] > weight[primary.outcome]) primary = d;
  return primary;
}

/** `rule=outcome` pairs for the `x-bulkhead-decisions` response header (no content, only rule names). */
export function decisionsHeader(decisions: readonly Decision[]): string | null {
  const shown = decisions.filter((d) => d.outcome !== 'allowed');
  return shown.length === 0 ? null : shown.map((d) => `${d.rule}=${d.outcome}`).join(', ');
}
