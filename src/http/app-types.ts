import type { SiloUrlBox } from '../lifecycle/promote/silo-url-box.ts';
import type {
  FastifyBaseLogger,
  FastifyInstance,
  RawReplyDefaultExpression,
  RawRequestDefaultExpression,
  RawServerDefault,
} from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Config } from '../core/config.ts';
import type { Database } from '../db/scope.ts';
import type { Authenticator } from '../identity/authenticate/index.ts';
import type { TenantKeyring } from '../secrets/tenant-keyring.ts';
import type { ModelRouter } from '../gateway/router.ts';
import type { UsageRecorder } from '../metering/usage-recorder.ts';
import type { PolicyStore } from '../governance/policy/policy-store.ts';
import type { QuotaGate } from '../quotas/quota-gate.ts';
import type { BudgetAlerts } from '../quotas/budget-alerts.ts';
import type { DispatchDeps } from '../gateway/routing/dispatch.ts';
import type { ResponseCache } from '../gateway/response-cache/response-cache.ts';
import type { ChatCompletion } from '../gateway/openai-types.ts';
import type { BackgroundTasks } from '../knowledge/jobs.ts';

export type App = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  ZodTypeProvider
>;

/** Everything a route needs, built once in `buildApp` and passed down; no module holds state. */
export interface AppDeps {
  config: Config;
  db: Database;
  auth: Authenticator;
  keyring: TenantKeyring;
  /** Seals and opens silo URLs (master key): promotion, routing, master-key rotation. */
  siloUrls: SiloUrlBox;
  router: ModelRouter;
  usage: UsageRecorder;
  policies: PolicyStore;
  quotas: QuotaGate;
  alerts: BudgetAlerts;
  dispatch: DispatchDeps;
  responseCache: ResponseCache<CachedCompletion>;
  /** Whether this database has pgvector (and the chunks' embedding column): knowledge needs it. */
  knowledge: { vector: boolean };
  /** Work that outlives its request (background ingests): shutdown waits for it. */
  background: BackgroundTasks;
  now: () => Date;
}

/** A cached answer remembers which model produced it, for the usage record of a cache hit. */
export interface CachedCompletion {
  completion: ChatCompletion;
  route: { providerName: string; providerKind: string; upstreamModel: string };
}
