import { z } from 'zod';
import { PII_ACTIONS, PII_ENTITIES } from '../pii/entities.ts';

const piiRules = z.partialRecord(z.enum(PII_ENTITIES), z.enum(PII_ACTIONS));

// `provider/model`, where either side may be `*` or end in `*`: `openai/*`, `*/gpt-4o*`, `*`.
const modelPattern = z
  .string()
  .min(1)
  .max(200)
  .regex(/^(\*|[A-Za-z0-9._:-]+\*?\/[A-Za-z0-9._:/@-]*\*?|\*\/[A-Za-z0-9._:/@-]*\*?)$/, {
    message: "expected 'provider/model', where either part may end in '*' (or '*' alone)",
  });
const modelId = z
  .string()
  .min(3)
  .max(200)
  .regex(/^[A-Za-z0-9._:-]+\/[A-Za-z0-9._:/@-]+$/, { message: "expected 'provider/model'" });
const region = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[a-z0-9-]+$/, { message: 'regions are lower-case names such as eu or eu-west-1' });

const usd = z.number().positive().max(1_000_000);
const moneyLimits = z
  .strictObject({ softUsd: usd.optional(), hardUsd: usd.optional() })
  .refine((m) => m.softUsd === undefined || m.hardUsd === undefined || m.softUsd <= m.hardUsd, {
    message: 'softUsd must not exceed hardUsd',
  });
const budgetWindows = z.strictObject({
  daily: moneyLimits.optional(),
  monthly: moneyLimits.optional(),
});

const rateLimits = z.strictObject({
  requestsPerMinute: z.number().int().positive().max(1_000_000).optional(),
  tokensPerMinute: z.number().int().positive().max(1_000_000_000).optional(),
  concurrent: z.number().int().positive().max(10_000).optional(),
});

/**
 * A tenant's policy: every rule the gateway applies to the tenant's requests. Every field has a
 * default, so `{}` is a valid policy (everything allowed, nothing limited); the stored document
 * is the normalised one, with the defaults written out, so what a version says is what ran.
 */
export const policyDocument = z.strictObject({
  pii: z
    .strictObject({
      input: piiRules.default({}),
      output: piiRules.default({}),
    })
    .default({ input: {}, output: {} }),
  injection: z
    .strictObject({
      action: z.enum(['off', 'flag', 'block']).default('flag'),
      threshold: z.number().min(0).max(1).default(0.5),
    })
    .default({ action: 'flag', threshold: 0.5 }),
  models: z
    .strictObject({
      allow: z.array(modelPattern).max(100).default(['*']),
      deny: z.array(modelPattern).max(100).default([]),
      regions: z.array(region).min(1).max(20).optional(),
      maxTokensPerRequest: z.number().int().positive().max(10_000_000).optional(),
    })
    .default({ allow: ['*'], deny: [] }),
  approvals: z
    .strictObject({
      costUsdOver: usd.optional(),
      tokensOver: z.number().int().positive().optional(),
      models: z.array(modelPattern).max(100).default([]),
      expiresAfterSeconds: z
        .number()
        .int()
        .min(60)
        .max(30 * 86_400)
        .default(86_400),
    })
    .default({ models: [], expiresAfterSeconds: 86_400 }),
  limits: z
    .strictObject({
      tenant: rateLimits.optional(),
      perKey: rateLimits.optional(),
      perUser: rateLimits.optional(),
      onStoreUnavailable: z.enum(['closed', 'local']).default('closed'),
    })
    .default({ onStoreUnavailable: 'closed' }),
  budgets: z
    .strictObject({
      tenant: budgetWindows.optional(),
      perKey: budgetWindows.optional(),
      /** Output tokens assumed when a request sets no max_tokens, to reserve its cost up front. */
      assumedOutputTokens: z.number().int().positive().max(1_000_000).default(1024),
      alertWebhookUrl: z
        .url({ protocol: /^https?$/ })
        .max(2000)
        .optional(),
    })
    .default({ assumedOutputTokens: 1024 }),
  routing: z
    .strictObject({
      strategy: z.enum(['priority', 'cheapest', 'latency']).default('priority'),
      /** For a requested model, the models that may serve it instead, in priority order. */
      fallbacks: z.record(modelId, z.array(modelId).min(1).max(5)).default({}),
      /** Calls in all, across the candidates; absent: each candidate once (no retry of the same one). */
      maxAttempts: z.number().int().min(1).max(10).optional(),
      retryBackoffMs: z.number().int().min(0).max(10_000).default(100),
    })
    .default({ strategy: 'priority', fallbacks: {}, retryBackoffMs: 100 }),
  cache: z
    .strictObject({
      enabled: z.boolean().default(false),
      ttlSeconds: z.number().int().min(1).max(86_400).default(300),
    })
    .default({ enabled: false, ttlSeconds: 300 }),
  scheduling: z
    .strictObject({ weight: z.number().int().min(1).max(100).default(1) })
    .default({ weight: 1 }),
  memory: z
    .strictObject({
      /** Thread messages older than this are deleted by the retention sweep; absent: kept. */
      retentionDays: z.number().int().min(1).max(3650).optional(),
      /** How much of a thread's recent history a chat completion is given, in tokens. */
      historyTokens: z.number().int().min(0).max(200_000).default(2000),
    })
    .default({ historyTokens: 2000 }),
  retrieval: z
    .strictObject({
      /** Score retrieved chunks for prompt injection too, and drop those at or above the threshold. */
      scanForInjection: z.boolean().default(true),
      /** How much retrieved text a chat completion is given, in tokens. */
      contextTokens: z.number().int().min(100).max(100_000).default(3000),
    })
    .default({ scanForInjection: true, contextTokens: 3000 }),
});

export type PolicyDocument = z.infer<typeof policyDocument>;

export const DEFAULT_POLICY: PolicyDocument = policyDocument.parse({});
