import { BkError } from '../core/errors.ts';
import type { Decision } from './decisions.ts';
import { matchesAny } from './policy/model-pattern.ts';
import type { PolicyDocument } from './policy/schema.ts';

/** Why the policy refuses this model, or null if it may be called. */
export function modelRefusal(policy: PolicyDocument, model: string): Decision | null {
  if (matchesAny(policy.models.deny, model)) {
    return {
      rule: 'models.deny',
      outcome: 'blocked',
      reason: `'${model}' is denied by the policy`,
    };
  }
  if (!matchesAny(policy.models.allow, model)) {
    return {
      rule: 'models.allow',
      outcome: 'blocked',
      reason: `'${model}' is not in the policy's allowed models`,
    };
  }
  return null;
}

/** Region names match exactly or as a prefix: `eu` allows `eu` and `eu-west-1`. */
export function regionAllowed(policy: PolicyDocument, region: string | null): boolean {
  const allowed = policy.models.regions;
  if (allowed === undefined) return true;
  if (region === null) return false;
  return allowed.some((r) => region === r || region.startsWith(`${r}-`));
}

export function modelNotAllowed(decision: Decision): BkError {
  return new BkError(
    'BK_POLICY_MODEL_NOT_ALLOWED',
    `This tenant's policy does not allow this request: ${decision.reason} (rule ${decision.rule}).`,
    { param: 'model', rule: decision.rule },
  );
}

export function policyBlocked(decision: Decision, param?: string): BkError {
  return new BkError(
    'BK_POLICY_BLOCKED',
    `This tenant's policy blocked the request: ${decision.reason} (rule ${decision.rule}).`,
    { rule: decision.rule, ...(param !== undefined && { param }) },
  );
}
