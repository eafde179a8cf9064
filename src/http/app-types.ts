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
  router: ModelRouter;
  usage: UsageRecorder;
  now: () => Date;
}
