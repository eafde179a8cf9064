import type { TenantContext } from '../core/tenant-context.ts';
import type { PolicyDocument } from '../governance/policy/schema.ts';
import type { AppDeps } from '../http/app-types.ts';
import { priceUsage } from '../metering/prices.ts';
import type { QuotaTicket } from '../quotas/quota-gate.ts';
import type { TokenCounts } from './inference-meter.ts';
import type { ResolvedModel } from './router.ts';

export function costOf(route: ResolvedModel, tokens: TokenCounts): number {
  return priceUsage(
    route.providerKind,
    route.upstreamModel,
    tokens.inputTokens,
    tokens.outputTokens,
  ).nanoUsd;
}

/**
 * Real numbers replace the estimates (nothing spent when the call failed before any answer); a
 * budget threshold this crossed is recorded and announced. Never throws.
 */
export async function settleQuotas(
  deps: AppDeps,
  ctx: TenantContext,
  policy: PolicyDocument,
  ticket: QuotaTicket,
  spent: { tokens: TokenCounts; costNanoUsd: number } | null,
): Promise<void> {
  const crossings = await ticket.settle({
    tokens: spent === null ? 0 : spent.tokens.inputTokens + spent.tokens.outputTokens,
    costNanoUsd: spent?.costNanoUsd ?? 0,
  });
  await deps.alerts
    .announce(ctx, crossings, policy.budgets.alertWebhookUrl)
    .catch((err: unknown) => {
      deps.alerts.log.error({ err, tenantId: ctx.tenantId }, 'budget alert could not be recorded');
    });
}
