import { BkError } from '../../core/errors.ts';
import type { TenantContext } from '../../core/tenant-context.ts';
import type { PolicyDocument } from '../../governance/policy/schema.ts';
import type { UpstreamSchedulers } from '../../quotas/scheduling/fair-scheduler.ts';
import type { CircuitBreakers } from '../resilience/circuit-breaker.ts';
import { countsAsEndpointFailure } from '../resilience/circuit-breaker.ts';
import type { LatencyTracker } from '../resilience/latency-tracker.ts';
import { isRetryable, retryDelayMs, sleep } from '../resilience/retry.ts';
import type { ResolvedModel } from '../router.ts';
import { latencyKey } from './candidates.ts';

export interface DispatchDeps {
  breakers: CircuitBreakers;
  schedulers: UpstreamSchedulers;
  latency: LatencyTracker;
  upstreamConcurrency: number;
}

export interface Dispatched<T> {
  result: T;
  route: ResolvedModel;
  attempts: number;
  /** Frees the endpoint slot. A stream holds its slot until it ends, so the caller releases it. */
  release: () => void;
}

/**
 * Calls the candidates in order until one answers: an endpoint whose circuit is open is skipped;
 * a retryable failure (429, 5xx, timeout, unreachable) moves on to the next candidate after a
 * backoff, up to the policy's attempt limit (by default each candidate once); anything else (a bad request, the client leaving)
 * ends it at once. Each call waits its turn for the endpoint's shared capacity, served fairly
 * across tenants by their weight. `call` resolves once the upstream has answered (for a stream:
 * its first chunk), which is what the circuit and the latency estimate measure.
 */
export async function dispatch<T>(
  deps: DispatchDeps,
  ctx: TenantContext,
  policy: PolicyDocument,
  candidates: readonly ResolvedModel[],
  signal: AbortSignal,
  call: (route: ResolvedModel) => Promise<T>,
): Promise<Dispatched<T>> {
  const { retryBackoffMs } = policy.routing;
  const maxAttempts = policy.routing.maxAttempts ?? candidates.length;
  let lastError: unknown = null;
  let attempts = 0;
  for (let i = 0; attempts < maxAttempts && i < maxAttempts * candidates.length; i++) {
    const route = candidates[i % candidates.length]!;
    const local = route.endpoint === 'local';
    // Capacity is shared per endpoint, but health is judged per tenant provider: with its own
    // credentials, one tenant's 429s say nothing about the endpoint for everyone else.
    const circuit = `${route.endpoint} ${ctx.tenantId}/${route.providerName}`;
    if (attempts > 0) {
      await sleep(
        retryDelayMs(lastError, attempts - 1, { baseMs: retryBackoffMs, maxMs: 10_000 }),
        signal,
      );
    }
    const release = local
      ? () => undefined
      : await deps.schedulers
          .for(route.endpoint, deps.upstreamConcurrency)
          .acquire(ctx.tenantId, { weight: policy.scheduling.weight, signal });
    if (!local) {
      try {
        // Entered only once the slot is held, so a half-open probe is never left hanging.
        deps.breakers.enter(circuit);
      } catch (err) {
        release();
        lastError = err;
        continue;
      }
    }
    attempts++;
    const started = performance.now();
    try {
      const result = await call(route);
      if (!local) deps.breakers.success(circuit);
      deps.latency.observe(latencyKey(ctx, route), performance.now() - started);
      return { result, route, attempts, release };
    } catch (err) {
      release();
      if (!local && countsAsEndpointFailure(err)) deps.breakers.failure(circuit);
      // A 4xx is still an answer: the endpoint is up.
      else if (!local && err instanceof BkError && err.code.startsWith('BK_UPSTREAM_'))
        deps.breakers.success(circuit);
      if (!isRetryable(err) || signal.aborted) throw err;
      lastError = err;
    }
  }
  throw lastError;
}
