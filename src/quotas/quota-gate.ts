import type { TenantContext } from '../core/tenant-context.ts';
import { type Database, withTenant } from '../db/scope.ts';
import type { PolicyDocument } from '../governance/policy/schema.ts';
import type { BudgetGuard, BudgetSubject, ThresholdCrossing } from './budgets/budget-guard.ts';
import type { LimitSubject, RateLimiter } from './limits/rate-limiter.ts';
import { spentInWindow } from './spent-in-window.ts';

export interface QuotaTicket {
  /** `x-ratelimit-*` headers for the response. */
  headers: Record<string, string>;
  /** After the call: the real tokens and cost replace the estimates. Never throws. */
  settle(actual: { tokens: number; costNanoUsd: number }): Promise<ThresholdCrossing[]>;
}

const NANO_PER_USD = 1_000_000_000;
const toNano = (usd: number | undefined) =>
  usd === undefined ? undefined : Math.round(usd * NANO_PER_USD);

function limitSubjects(ctx: TenantContext, policy: PolicyDocument): LimitSubject[] {
  const { tenant, perKey, perUser } = policy.limits;
  const subjects: LimitSubject[] = [];
  if (tenant !== undefined) subjects.push({ scope: 'tenant', id: ctx.tenantId, limits: tenant });
  if (perKey !== undefined && ctx.principal.kind === 'api_key')
    subjects.push({ scope: 'key', id: ctx.principal.keyId, limits: perKey });
  const userId = ctx.principal.userId;
  if (perUser !== undefined && userId !== null)
    subjects.push({ scope: 'user', id: userId, limits: perUser });
  return subjects;
}

function budgetSubjects(ctx: TenantContext, policy: PolicyDocument): BudgetSubject[] {
  const subjects: BudgetSubject[] = [];
  const add = (
    scope: BudgetSubject['scope'],
    id: string,
    windows: NonNullable<PolicyDocument['budgets']['tenant']>,
  ) => {
    for (const [window, limits] of [
      ['day', windows.daily],
      ['month', windows.monthly],
    ] as const) {
      if (limits === undefined) continue;
      subjects.push({
        scope,
        id,
        window,
        softNanoUsd: toNano(limits.softUsd),
        hardNanoUsd: toNano(limits.hardUsd),
      });
    }
  };
  const { tenant, perKey } = policy.budgets;
  if (tenant !== undefined) add('tenant', ctx.tenantId, tenant);
  if (perKey !== undefined && ctx.principal.kind === 'api_key')
    add('key', ctx.principal.keyId, perKey);
  return subjects;
}

/**
 * Quotas before the call, settled after it: the tenant's rate limits (per tenant, key, user) and
 * its money budgets (per tenant and key, daily and monthly). Limits are checked first, so a request
 * refused for its rate never holds budget.
 */
export class QuotaGate {
  readonly #db: Database;
  readonly #limiter: RateLimiter;
  readonly #budgets: BudgetGuard;

  constructor(db: Database, limiter: RateLimiter, budgets: BudgetGuard) {
    this.#db = db;
    this.#limiter = limiter;
    this.#budgets = budgets;
  }

  async admit(
    ctx: TenantContext,
    policy: PolicyDocument,
    estimate: { tokens: number; costNanoUsd: number },
  ): Promise<QuotaTicket> {
    const onStoreDown = policy.limits.onStoreUnavailable;
    const limits = limitSubjects(ctx, policy);
    const budgets = budgetSubjects(ctx, policy);
    const admission =
      limits.length === 0
        ? null
        : await this.#limiter.admit(ctx.tenantId, limits, estimate.tokens, onStoreDown);
    let reservation;
    try {
      reservation =
        budgets.length === 0
          ? null
          : await this.#budgets.reserve(
              ctx.tenantId,
              budgets,
              estimate.costNanoUsd,
              onStoreDown,
              (subject, start, end) =>
                withTenant(this.#db, ctx, (tx) => spentInWindow(tx, subject, start, end)),
            );
    } catch (err) {
      await admission?.settle(0);
      throw err;
    }
    return {
      headers: admission?.headers ?? {},
      async settle(actual) {
        await admission?.settle(actual.tokens);
        return (await reservation?.settle(actual.costNanoUsd)) ?? [];
      },
    };
  }
}
