import { BkError } from '../../core/errors.ts';
import type { TenantContext } from '../../core/tenant-context.ts';
import type { Decision } from '../../governance/decisions.ts';
import { modelNotAllowed, modelRefusal, regionAllowed } from '../../governance/model-rules.ts';
import type { PolicyDocument } from '../../governance/policy/schema.ts';
import { priceUsage } from '../../metering/prices.ts';
import type { LatencyTracker } from '../resilience/latency-tracker.ts';
import type { ModelRouter, Operation, ResolvedModel } from '../router.ts';

export interface Estimate {
  inputTokens: number;
  outputTokens: number;
}

export function modelId(route: ResolvedModel): string {
  return `${route.providerName}/${route.upstreamModel}`;
}

/**
 * The models that may serve a request, best first: the requested model and its fallbacks from
 * the policy, minus those the policy does not allow (models or regions), ordered by the tenant's
 * strategy. Region rules hold for fallbacks too: an eu-only tenant is never routed outside the EU.
 */
export async function routeCandidates(
  deps: { router: ModelRouter; latency: LatencyTracker },
  ctx: TenantContext,
  policy: PolicyDocument,
  model: string,
  operation: Operation,
  estimate: Estimate,
): Promise<ResolvedModel[]> {
  const refused = modelRefusal(policy, model);
  if (refused !== null) throw modelNotAllowed(refused);
  const requested = await deps.router.resolve(ctx, model, operation);

  const routes = [requested];
  for (const fallback of policy.routing.fallbacks[model] ?? []) {
    if (fallback === model || modelRefusal(policy, fallback) !== null) continue;
    try {
      routes.push(await deps.router.resolve(ctx, fallback, operation));
    } catch (err) {
      // A fallback the tenant has since removed is skipped, not an error for the request.
      if (!(err instanceof BkError)) throw err;
    }
  }

  const inRegion = routes.filter((r) => regionAllowed(policy, r.region));
  if (inRegion.length === 0) {
    const decision: Decision = {
      rule: 'models.regions',
      outcome: 'blocked',
      reason: `'${model}' is served from ${requested.region ?? 'an undeclared region'}, outside the allowed regions (${(policy.models.regions ?? []).join(', ')})`,
    };
    throw modelNotAllowed(decision);
  }
  const latency = (r: ResolvedModel) => deps.latency.estimate(latencyKey(ctx, r));
  return order(inRegion, policy.routing.strategy, latency, estimate);
}

function order(
  routes: ResolvedModel[],
  strategy: PolicyDocument['routing']['strategy'],
  latency: (route: ResolvedModel) => number | undefined,
  estimate: Estimate,
): ResolvedModel[] {
  if (strategy === 'priority') return routes;
  const key =
    strategy === 'cheapest'
      ? (r: ResolvedModel) =>
          priceUsage(r.providerKind, r.upstreamModel, estimate.inputTokens, estimate.outputTokens)
            .nanoUsd
      : // A model with no latency observed yet is tried first, so that it gets measured.
        (r: ResolvedModel) => latency(r) ?? 0;
  // Array.prototype.sort is stable: equal keys keep the priority order.
  return routes
    .map((route) => ({ route, key: key(route) }))
    .sort((a, b) => a.key - b.key)
    .map((x) => x.route);
}

/** Per tenant and provider: a tenant's routing never depends on another tenant's traffic. */
export function latencyKey(ctx: TenantContext, route: ResolvedModel): string {
  return `${ctx.tenantId} ${route.providerName}/${route.upstreamModel}`;
}
