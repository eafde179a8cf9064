import swagger from '@fastify/swagger';
import Fastify, { type FastifyServerOptions } from 'fastify';
import {
  jsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import type { Config } from '../core/config.ts';
import { newId } from '../core/ids.ts';
import type { Database } from '../db/scope.ts';
import { registerGrantRoutes } from '../audit/grants/routes.ts';
import { registerOperatorAuditRoutes } from '../audit/operator-read.ts';
import { registerOperatorLogRoutes } from '../audit/operator-log.ts';
import { registerOperatorContentRoutes } from '../audit/operator-content/index.ts';
import { registerAuditRoutes } from '../audit/routes.ts';
import { startAuditAnchors, type AuditAnchorPublisher } from '../audit/anchor/setup.ts';
import { registerChatRoutes } from '../gateway/chat/route.ts';
import { registerEmbeddingRoutes } from '../gateway/embeddings/route.ts';
import { registerModelRoutes } from '../gateway/models/route.ts';
import { registerProviderRoutes } from '../gateway/provider-configs/routes.ts';
import { UpstreamClient } from '../gateway/providers/upstream/http-client.ts';
import { ModelRouter } from '../gateway/router.ts';
import { registerApiKeyRoutes } from '../identity/api-keys/routes.ts';
import { createAuthenticator } from '../identity/authenticate/index.ts';
import { registerTenantAdminRoutes } from '../identity/tenants/routes.ts';
import { registerUserRoutes } from '../identity/users/routes.ts';
import { registerTenantDeleteRoutes } from '../lifecycle/delete/routes.ts';
import { registerTenantPlacementRoutes } from '../lifecycle/promote/routes.ts';
import { SiloUrlBox } from '../lifecycle/promote/silo-url-box.ts';
import { TenantRouting } from '../db/tenant-routing.ts';
import { registerTenantExportRoutes } from '../lifecycle/export/routes.ts';
import { registerDataKeyRoutes } from '../lifecycle/key-rotation/routes.ts';
import { registerThreadRoutes } from '../memory/routes.ts';
import { RetentionSweeper } from '../memory/retention-sweep.ts';
import { registerUsageRoutes } from '../metering/routes.ts';
import { UsageRecorder } from '../metering/usage-recorder.ts';
import { registerMasterKeyRoutes } from '../secrets/routes.ts';
import { TenantKeyring } from '../secrets/tenant-keyring.ts';
import {
  DATABASE_KEY_STORE_WARNING,
  openKeyStore,
  type KeyStore,
} from '../secrets/key-store/index.ts';
import { sweepUndestroyedKeks } from '../lifecycle/delete/routes.ts';
import type { App, AppDeps } from './app-types.ts';
import { registerApprovalRoutes } from '../governance/approvals/routes.ts';
import { registerKnowledgeRoutes } from '../knowledge/routes.ts';
import { BackgroundTasks } from '../knowledge/jobs.ts';
import { hasEmbeddingColumn } from '../knowledge/vector-support.ts';
import { PolicyStore } from '../governance/policy/policy-store.ts';
import { registerPolicyRoutes } from '../governance/policy/routes.ts';
import { registerPolicyEvaluateRoutes } from '../governance/policy/evaluate-route.ts';
import { CircuitBreakers } from '../gateway/resilience/circuit-breaker.ts';
import { LatencyTracker } from '../gateway/resilience/latency-tracker.ts';
import { ResponseCache } from '../gateway/response-cache/response-cache.ts';
import { BudgetAlerts } from '../quotas/budget-alerts.ts';
import { BudgetGuard } from '../quotas/budgets/budget-guard.ts';
import { RateLimiter } from '../quotas/limits/rate-limiter.ts';
import { QuotaGate } from '../quotas/quota-gate.ts';
import { UpstreamSchedulers } from '../quotas/scheduling/fair-scheduler.ts';
import { createLimitStore, MemoryLimitStore } from '../quotas/store/index.ts';
import { registerErrorHandling } from './errors.ts';
import { registerHealthRoutes } from './health.ts';
import { registerJsonParser } from './json-body.ts';

export interface BuildOptions {
  config: Config;
  db: Database;
  masterKey: Uint8Array;
  /** Master keys being rotated away from: read, never written. */
  previousMasterKeys?: readonly Uint8Array[];
  /**
   * Where tenant KEKs live. Unset: the one BULKHEAD_KEY_STORE_URL names, else the main database
   * (`database`). `serve` passes the embedded default (a directory). The caller closes what it passes.
   */
  keyStore?: KeyStore;
  now?: () => Date;
  /** Overrides the logger built from the config (tests pass a stream to read the logs). */
  logger?: FastifyServerOptions['logger'];
}

export interface Bulkhead {
  app: App;
  /** The audit checkpoint publisher, when a key and a sink are configured (tests run it by hand). */
  auditAnchors: AuditAnchorPublisher | null;
  /** Stops accepting requests, lets in-flight requests and streams finish, writes pending usage. */
  close(): Promise<void>;
}

const requestIdPattern = /^[A-Za-z0-9._:-]{1,64}$/;

/** Secrets never reach the logs, whatever a log line happens to include. */
export const redactedPaths = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers["api-key"]',
  '*.apiKey',
  '*.api_key',
  '*.key',
  '*.authorization',
  '*.password',
  '*.secret',
];

/** Assembles the application; never listens (tests use `inject` or listen themselves). */
export async function buildApp(options: BuildOptions): Promise<Bulkhead> {
  const { config } = options;
  const urls = new SiloUrlBox(options.masterKey, options.previousMasterKeys ?? []);
  const routing = new TenantRouting(options.db.backend, {
    openUrl: (tenantId, sealed) => urls.open(tenantId, sealed),
    pauseMaxMs: config.tenantPauseMaxMs,
  });
  // Every part of the app reaches tenant rows through this, so it follows a tenant to its silo.
  const db = { backend: options.db.backend, routing };
  const now = options.now ?? (() => new Date());
  const app = Fastify({
    logger: options.logger ?? {
      level: config.logLevel,
      redact: { paths: redactedPaths, censor: '[redacted]' },
    },
    bodyLimit: config.bodyLimitBytes,
    requestIdHeader: false,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && requestIdPattern.test(given) ? given : newId('request');
    },
    forceCloseConnections: 'idle',
  }).withTypeProvider<ZodTypeProvider>();

  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  registerJsonParser(app);
  registerErrorHandling(app);
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });

  await app.register(swagger, {
    openapi: {
      info: {
        title: 'Bulkhead API',
        version: '0.1.0',
        description:
          'Multi-tenant AI platform: OpenAI-compatible gateway plus tenant administration.',
      },
      components: {
        securitySchemes: {
          bearer: {
            type: 'http',
            scheme: 'bearer',
            description: 'Tenant API key, tenant JWT, or (under /v1/admin) the operator token',
          },
        },
      },
      security: [{ bearer: [] }],
    },
    transform: jsonSchemaTransform,
  });

  const keyStore =
    options.keyStore ?? (await openKeyStore(config.keyStore ?? { kind: 'database' }, db.backend));
  const ownKeyStore = options.keyStore === undefined;
  const keyring = new TenantKeyring(options.masterKey, options.previousMasterKeys ?? [], {
    store: keyStore,
  });
  if (keyStore.kind === 'database') app.log.warn(DATABASE_KEY_STORE_WARNING);
  else app.log.info({ keyStore: keyStore.location }, 'tenant key-encryption keys: key store');
  const upstream = new UpstreamClient({
    connectTimeoutMs: config.upstreamConnectTimeoutMs,
    timeoutMs: config.upstreamTimeoutMs,
    allowPrivateAddresses: config.allowPrivateUpstreams,
  });
  const usage = new UsageRecorder(db, { maxBatch: config.meteringMaxBatch, log: app.log, keyring });
  const limitStore = createLimitStore(config.redisUrl);
  const localLimits = new MemoryLimitStore();
  const quotaLog = app.log.child({ component: 'quotas' });
  const quotas = new QuotaGate(
    db,
    new RateLimiter({ store: limitStore, local: localLimits, log: quotaLog }),
    new BudgetGuard({ store: limitStore, local: localLimits, log: quotaLog }),
  );
  const background = new BackgroundTasks();
  const alerts = new BudgetAlerts({ db, keyring, http: upstream, log: quotaLog });
  const jwtEnabled = config.jwtSecret !== undefined || config.jwtJwksUrl !== undefined;
  const deps: AppDeps = {
    config,
    db,
    keyring,
    siloUrls: urls,
    usage,
    now,
    policies: new PolicyStore(db, config.policyCacheTtlMs),
    quotas,
    alerts,
    dispatch: {
      breakers: new CircuitBreakers({
        failureThreshold: config.circuitFailureThreshold,
        openMs: config.circuitOpenMs,
      }),
      schedulers: new UpstreamSchedulers({ maxQueuedPerTenant: config.upstreamQueuePerTenant }),
      latency: new LatencyTracker({ maxKeys: 100_000 }),
      upstreamConcurrency: config.upstreamConcurrency,
    },
    knowledge: { vector: await hasEmbeddingColumn(db) },
    background,
    responseCache: new ResponseCache({
      maxBytes: config.responseCacheMaxBytes,
      maxEntries: 100_000,
    }),
    router: new ModelRouter({
      db,
      keyring,
      upstream,
      cacheTtlMs: config.providerCacheTtlMs,
      localRegion: config.region,
    }),
    auth: createAuthenticator({
      db,
      now,
      adminToken: config.adminToken,
      jwt: jwtEnabled
        ? {
            ...(config.jwtSecret !== undefined && { secret: config.jwtSecret }),
            ...(config.jwtJwksUrl !== undefined && { jwksUrl: config.jwtJwksUrl }),
            issuer: config.jwtIssuer!,
            audience: config.jwtAudience!,
            tenantClaim: config.jwtTenantClaim,
            roleClaim: config.jwtRoleClaim,
          }
        : null,
    }),
  };

  registerHealthRoutes(app, db);
  registerChatRoutes(app, deps);
  registerEmbeddingRoutes(app, deps);
  registerModelRoutes(app, deps);
  registerProviderRoutes(app, deps);
  registerApiKeyRoutes(app, deps);
  registerUserRoutes(app, deps);
  registerUsageRoutes(app, deps);
  registerTenantAdminRoutes(app, deps);
  registerAuditRoutes(app, deps);
  registerGrantRoutes(app, deps);
  registerOperatorAuditRoutes(app, deps);
  registerOperatorContentRoutes(app, deps);
  registerTenantDeleteRoutes(app, deps);
  registerOperatorLogRoutes(app, deps);
  registerTenantPlacementRoutes(app, deps, routing);
  registerTenantExportRoutes(app, deps);
  registerMasterKeyRoutes(app, deps);
  registerDataKeyRoutes(app, deps);
  registerPolicyRoutes(app, deps);
  registerPolicyEvaluateRoutes(app, deps);
  registerApprovalRoutes(app, deps);
  registerKnowledgeRoutes(app, deps);
  registerThreadRoutes(app, deps);
  const auditAnchors = await startAuditAnchors(app, deps);
  app.get('/openapi.json', { schema: { hide: true } }, () => app.swagger());

  const retention = new RetentionSweeper({
    db,
    intervalMs: config.retentionSweepIntervalMs,
    log: app.log.child({ component: 'retention' }),
    now,
  });

  await sweepUndestroyedKeks(deps, app.log.child({ component: 'key-store' })).catch((err) =>
    app.log.error({ err }, 'could not sweep the KEKs of deleted tenants; the next start retries'),
  );
  await app.ready();
  retention.start();
  auditAnchors.publisher?.start();
  return {
    app,
    auditAnchors: auditAnchors.publisher,
    async close() {
      await retention.stop();
      await auditAnchors.publisher?.stop();
      await app.close();
      await background.drain();
      await usage.flush();
      await alerts.drain();
      await upstream.close();
      await limitStore.close();
      await routing.close();
      if (ownKeyStore) await keyStore.close();
    },
  };
}
