import { readFileSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { isAnchorKey } from '../audit/anchor/signing-key.ts';

/**
 * Configuration is read once at start-up from the environment, validated, and passed down from
 * `buildApp`. An invalid value refuses to start with a message naming the variable; nothing falls
 * back to a default silently. Secrets may also be given as `NAME_FILE` (a path whose contents are
 * the value), for Docker and Kubernetes secrets.
 */
interface Field<T> {
  env: string;
  schema: z.ZodType<T>;
  doc: string;
  secret?: boolean;
}

const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().positive();
const bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');
const url = z.url({ protocol: /^https?$/ });
const optional = <T>(schema: z.ZodType<T>) => schema.optional();

/** BULKHEAD_KEY_STORE_URL: where the tenants' key-encryption keys live (src/secrets/key-store). */
export type KeyStoreSpec =
  { kind: 'postgres'; url: string } | { kind: 'file'; dir: string } | { kind: 'database' };
const keyStoreSpec = z.string().transform((v, ctx): KeyStoreSpec => {
  if (v === 'database') return { kind: 'database' };
  if (/^postgres(ql)?:\/\/./.test(v)) return { kind: 'postgres', url: v };
  if (v.startsWith('file://')) {
    try {
      const dir = fileURLToPath(v);
      if (isAbsolute(dir)) return { kind: 'file', dir };
    } catch {
      // reported below
    }
    ctx.addIssue({
      code: 'custom',
      message: 'a file URL must name an absolute directory: file:///abs/dir',
    });
    return z.NEVER;
  }
  ctx.addIssue({
    code: 'custom',
    message: 'must be postgres://…, postgresql://…, file:///abs/dir or database',
  });
  return z.NEVER;
});

const fields = {
  port: { env: 'PORT', schema: port.default(8080), doc: 'HTTP port.' },
  host: {
    env: 'HOST',
    schema: z.string().min(1).default('127.0.0.1'),
    doc: 'Interface to bind. Use 0.0.0.0 in a container.',
  },
  dataDir: {
    env: 'BULKHEAD_DATA_DIR',
    schema: z.string().min(1).default('./.bulkhead'),
    doc: 'Embedded database directory, and where a generated master key and admin token are kept.',
  },
  databaseUrl: {
    env: 'DATABASE_URL',
    schema: optional(z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')),
    doc: 'PostgreSQL connection used at run time. Unset: the embedded database (PGlite) in the data directory.',
    secret: true,
  },
  migrationDatabaseUrl: {
    env: 'BULKHEAD_MIGRATION_DATABASE_URL',
    schema: optional(z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')),
    doc: 'Connection of the schema owner, used by `bulkhead migrate`. Defaults to DATABASE_URL.',
    secret: true,
  },
  appDbPassword: {
    env: 'BULKHEAD_APP_DB_PASSWORD',
    schema: optional(z.string().min(16, 'must be at least 16 characters')),
    doc: 'Password `bulkhead migrate` sets on the bulkhead_app login role.',
    secret: true,
  },
  autoMigrate: {
    env: 'BULKHEAD_AUTO_MIGRATE',
    schema: optional(bool),
    doc: 'Run migrations when the server starts (the connected role must own the schema). Default: true for the embedded database, false with DATABASE_URL (run `bulkhead migrate`).',
  },
  masterKey: {
    env: 'BULKHEAD_MASTER_KEY',
    schema: optional(
      z
        .string()
        .refine(
          (v) => Buffer.from(v, 'base64').length === 32,
          'must be 32 bytes encoded as base64',
        ),
    ),
    doc: 'Base64 of 32 random bytes that wraps every tenant data key. Required with DATABASE_URL; generated into the data directory otherwise.',
    secret: true,
  },
  previousMasterKeys: {
    env: 'BULKHEAD_PREVIOUS_MASTER_KEYS',
    schema: optional(
      z
        .string()
        .refine(
          (v) => v.split(',').every((k) => Buffer.from(k.trim(), 'base64').length === 32),
          'must be comma-separated base64 keys of 32 bytes each',
        )
        .transform((v) => v.split(',').map((k) => Buffer.from(k.trim(), 'base64'))),
    ),
    doc: 'Master keys being rotated away from (comma-separated base64). Read, never written; remove them after POST /v1/admin/master-key/rotate.',
    secret: true,
  },
  keyStore: {
    env: 'BULKHEAD_KEY_STORE_URL',
    schema: optional(keyStoreSpec),
    doc: 'Where tenant key-encryption keys live, apart from the tenant databases: `postgres://…` (a separate database, shared by every node), `file:///abs/dir` (one node), or `database` (the main database: deleting a tenant then does not reach database backups). Default: `file://<BULKHEAD_DATA_DIR>/keys` for the embedded database, `database` with DATABASE_URL.',
    secret: true,
  },
  adminToken: {
    env: 'BULKHEAD_ADMIN_TOKEN',
    schema: optional(z.string().min(32, 'must be at least 32 characters')),
    doc: 'Operator bearer token for /v1/admin. Generated and printed on first embedded start; with DATABASE_URL and unset, the admin API is disabled.',
    secret: true,
  },
  bodyLimitBytes: {
    env: 'BULKHEAD_BODY_LIMIT_BYTES',
    schema: positiveInt.default(4 * 1024 * 1024),
    doc: 'Largest request body accepted; larger bodies get 413.',
  },
  upstreamTimeoutMs: {
    env: 'BULKHEAD_UPSTREAM_TIMEOUT_MS',
    schema: positiveInt.default(120_000),
    doc: 'Time an upstream provider may take to send response headers, and the most it may pause between body chunks.',
  },
  upstreamConnectTimeoutMs: {
    env: 'BULKHEAD_UPSTREAM_CONNECT_TIMEOUT_MS',
    schema: positiveInt.default(10_000),
    doc: 'TCP/TLS connect timeout for upstream providers.',
  },
  allowPrivateUpstreams: {
    env: 'BULKHEAD_ALLOW_PRIVATE_UPSTREAMS',
    schema: bool.default(false),
    doc: 'Allow tenant providers on loopback, private and link-local addresses (local vLLM or Ollama). Off by default: a tenant could otherwise reach internal services.',
  },
  providerCacheTtlMs: {
    env: 'BULKHEAD_PROVIDER_CACHE_TTL_MS',
    schema: z.coerce.number().int().min(0).max(300_000).default(5_000),
    doc: "How long a node keeps a tenant's resolved provider (configuration and unsealed key) in memory. Changes made through this node apply at once; other nodes see them within this time. 0 disables the cache.",
  },
  region: {
    env: 'BULKHEAD_REGION',
    schema: z
      .string()
      .regex(/^[a-z0-9-]{1,64}$/, 'must be a lower-case region name such as eu-west-1')
      .default('local'),
    doc: 'The region this deployment runs in. The built-in local models are served from it, so a tenant whose policy allows only some regions can use them only if this region is one of those.',
  },
  redisUrl: {
    env: 'REDIS_URL',
    schema: optional(
      z.url({ protocol: /^rediss?$/, error: 'must be a redis:// or rediss:// URL' }),
    ),
    doc: 'Redis for rate limits and budgets shared by several Bulkhead nodes. Without it, each node keeps its own counters in memory (right for a single node).',
    secret: true,
  },
  policyCacheTtlMs: {
    env: 'BULKHEAD_POLICY_CACHE_TTL_MS',
    schema: z.coerce.number().int().min(0).max(60_000).default(5_000),
    doc: "How long a node keeps a tenant's policy in memory. Changes made through this node apply at once; other nodes see them within this time. 0 reads the policy on every request.",
  },
  upstreamConcurrency: {
    env: 'BULKHEAD_UPSTREAM_CONCURRENCY',
    schema: positiveInt.default(64),
    doc: 'Requests one node sends at once to one upstream endpoint (base URL). Beyond it, requests wait, served fairly across tenants by their policy weight.',
  },
  upstreamQueuePerTenant: {
    env: 'BULKHEAD_UPSTREAM_QUEUE_PER_TENANT',
    schema: positiveInt.default(1_000),
    doc: 'Requests of one tenant that may wait for one saturated endpoint; more are refused with 429.',
  },
  circuitFailureThreshold: {
    env: 'BULKHEAD_CIRCUIT_FAILURE_THRESHOLD',
    schema: positiveInt.default(5),
    doc: 'Consecutive failures (5xx, 429, timeouts, unreachable) that open the circuit of an upstream endpoint.',
  },
  circuitOpenMs: {
    env: 'BULKHEAD_CIRCUIT_OPEN_MS',
    schema: positiveInt.default(30_000),
    doc: 'How long an open circuit refuses calls before letting one probe through.',
  },
  responseCacheMaxBytes: {
    env: 'BULKHEAD_RESPONSE_CACHE_MAX_BYTES',
    schema: z.coerce
      .number()
      .int()
      .min(0)
      .default(64 * 1024 * 1024),
    doc: 'Memory for cached responses of the tenants whose policy enables the cache, shared by all tenants (least recently used entries go first). 0 disables the cache.',
  },
  approvalMaxWaitSeconds: {
    env: 'BULKHEAD_APPROVAL_MAX_WAIT_SECONDS',
    schema: z.coerce.number().int().min(0).max(300).default(60),
    doc: 'The longest a caller may wait (x-bulkhead-approval-wait) for a held request to be decided before it gets 202.',
  },
  retentionSweepIntervalMs: {
    env: 'BULKHEAD_RETENTION_SWEEP_INTERVAL_MS',
    schema: z.coerce.number().int().min(0).max(86_400_000).default(3_600_000),
    doc: "How often a node deletes thread messages older than their tenant's retention (policy memory.retentionDays). 0 turns the sweep off on this node.",
  },
  tenantPauseMaxMs: {
    env: 'BULKHEAD_TENANT_PAUSE_MAX_MS',
    schema: z.coerce.number().int().min(0).max(600_000).default(30_000),
    doc: "How long a tenant's requests wait while it is being moved between the shared pool and its own database before they get 503 BK_TENANT_MOVING.",
  },
  documentMaxBytes: {
    env: 'BULKHEAD_DOCUMENT_MAX_BYTES',
    schema: positiveInt.default(20 * 1024 * 1024),
    doc: 'Largest document accepted for ingestion (JSON content or file upload).',
  },
  jwtSecret: {
    env: 'BULKHEAD_JWT_SECRET',
    schema: optional(z.string().min(32, 'must be at least 32 characters')),
    doc: 'HMAC secret for HS256/384/512 bearer JWTs.',
    secret: true,
  },
  jwtJwksUrl: {
    env: 'BULKHEAD_JWT_JWKS_URL',
    schema: optional(url),
    doc: 'JWKS URL of your identity provider, for RS/ES/PS/EdDSA bearer JWTs.',
  },
  jwtIssuer: {
    env: 'BULKHEAD_JWT_ISSUER',
    schema: optional(z.string().min(1)),
    doc: 'Required `iss` of bearer JWTs (required when JWTs are enabled).',
  },
  jwtAudience: {
    env: 'BULKHEAD_JWT_AUDIENCE',
    schema: optional(z.string().min(1)),
    doc: 'Required `aud` of bearer JWTs (required when JWTs are enabled).',
  },
  jwtTenantClaim: {
    env: 'BULKHEAD_JWT_TENANT_CLAIM',
    schema: z.string().min(1).default('tenant_id'),
    doc: 'Claim that carries the Bulkhead tenant id.',
  },
  jwtRoleClaim: {
    env: 'BULKHEAD_JWT_ROLE_CLAIM',
    schema: z.string().min(1).default('bulkhead_role'),
    doc: 'Claim that carries the user role (owner, admin, approver, member, viewer); absent means member.',
  },
  logLevel: {
    env: 'LOG_LEVEL',
    schema: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    doc: 'Log level.',
  },
  shutdownTimeoutMs: {
    env: 'BULKHEAD_SHUTDOWN_TIMEOUT_MS',
    schema: positiveInt.default(30_000),
    doc: 'How long a graceful shutdown waits for in-flight requests and streams.',
  },
  meteringMaxBatch: {
    env: 'BULKHEAD_METERING_MAX_BATCH',
    schema: positiveInt.default(500),
    doc: 'Most usage records written in one database transaction.',
  },
  exportPartBytes: {
    env: 'BULKHEAD_EXPORT_PART_BYTES',
    schema: z.coerce
      .number()
      .int()
      .min(1024)
      .max(256 * 1024 * 1024)
      .default(8 * 1024 * 1024),
    doc: 'Size at which a tenant export closes a table file and starts the next part (the memory one export holds).',
  },
  auditAnchorKey: {
    env: 'BULKHEAD_AUDIT_ANCHOR_KEY',
    schema: optional(
      z
        .string()
        .refine(
          isAnchorKey,
          'must be an Ed25519 private key: PKCS#8 PEM, or base64 of a 32-byte seed',
        ),
    ),
    doc: 'Ed25519 key that signs audit chain checkpoints (PKCS#8 PEM, or base64 of a 32-byte seed). Generated into the data directory in embedded mode; with DATABASE_URL and unset, checkpoints are disabled. Every node must hold the same key.',
    secret: true,
  },
  auditAnchorIntervalMs: {
    env: 'BULKHEAD_AUDIT_ANCHOR_INTERVAL_MS',
    schema: z.coerce.number().int().min(0).max(86_400_000).default(60_000),
    doc: 'How often a node publishes a signed checkpoint of every tenant whose audit chain moved, to BULKHEAD_AUDIT_ANCHOR_FILE and/or BULKHEAD_AUDIT_ANCHOR_URL. 0 turns publishing off on this node.',
  },
  auditAnchorFile: {
    env: 'BULKHEAD_AUDIT_ANCHOR_FILE',
    schema: optional(z.string().min(1)),
    doc: "Append-only file (JSON lines, fsync'd) the checkpoint publisher writes to. Keep it off the database host, or ship it elsewhere.",
  },
  auditAnchorUrl: {
    env: 'BULKHEAD_AUDIT_ANCHOR_URL',
    schema: optional(
      url.refine((v) => {
        const u = new URL(v);
        const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname);
        return u.protocol === 'https:' || loopback;
      }, 'must be an https:// URL (http:// only on loopback)'),
    ),
    doc: 'URL the checkpoint publisher POSTs each checkpoint to (JSON), retried with backoff. https://, or http:// on loopback (a local shipper).',
    secret: true,
  },
} satisfies Record<string, Field<unknown>>;

type Fields = typeof fields;
export type Config = { [K in keyof Fields]: z.output<Fields[K]['schema']> };

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export type Env = Readonly<Record<string, string | undefined>>;

function readRaw(env: Env, name: string, secret: boolean): string | undefined {
  const fileVar = `${name}_FILE`;
  const path = secret ? env[fileVar] : undefined;
  if (path !== undefined && env[name] !== undefined) {
    throw new ConfigError(`${name} and ${fileVar} are both set; set one.`);
  }
  if (path !== undefined) {
    try {
      return readFileSync(path, 'utf8').trim();
    } catch (err) {
      throw new ConfigError(`${fileVar}: cannot read ${path}: ${(err as Error).message}`);
    }
  }
  const value = env[name];
  return value === '' ? undefined : value;
}

export function loadConfig(env: Env): Config {
  const problems: string[] = [];
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(fields) as [string, Field<unknown>][]) {
    const raw = readRaw(env, field.env, field.secret === true);
    const parsed = field.schema.safeParse(raw);
    if (parsed.success) out[key] = parsed.data;
    else problems.push(`${field.env}: ${parsed.error.issues.map((i) => i.message).join('; ')}`);
  }
  if (problems.length > 0) {
    throw new ConfigError(`Invalid configuration:\n  ${problems.join('\n  ')}`);
  }
  const config = out as Config;
  const jwtEnabled = config.jwtSecret !== undefined || config.jwtJwksUrl !== undefined;
  if (jwtEnabled && (config.jwtIssuer === undefined || config.jwtAudience === undefined)) {
    throw new ConfigError(
      'Invalid configuration:\n  BULKHEAD_JWT_ISSUER and BULKHEAD_JWT_AUDIENCE are required when BULKHEAD_JWT_SECRET or BULKHEAD_JWT_JWKS_URL is set.',
    );
  }
  if (config.jwtSecret !== undefined && config.jwtJwksUrl !== undefined) {
    throw new ConfigError(
      'Invalid configuration:\n  set BULKHEAD_JWT_SECRET or BULKHEAD_JWT_JWKS_URL, not both.',
    );
  }
  return config;
}

/** One line per variable, for `bulkhead config` and the configuration docs. */
export function describeConfig(): { env: string; doc: string; secret: boolean }[] {
  return Object.values(fields).map((f: Field<unknown>) => ({
    env: f.env,
    doc: f.doc,
    secret: f.secret === true,
  }));
}
