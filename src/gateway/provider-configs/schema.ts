import { z } from 'zod';

const modelName = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[^\s/][^\s]*$/, 'must not contain spaces or start with /');

const providerFields = {
  kind: z.enum(['openai', 'anthropic']),
  baseUrl: z
    .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
    .max(2000)
    .refine((u) => {
      if (!URL.canParse(u)) return true; // the url check above has reported it
      const url = new URL(u);
      return url.username === '' && url.password === '';
    }, 'must not carry credentials: send the key as apiKey, where it is sealed'),
  apiKey: z.string().min(1).max(8192),
  apiKeyHeader: z.enum(['authorization', 'api-key', 'x-api-key']),
  defaultQuery: z.record(z.string().min(1).max(100), z.string().max(500)),
  region: z.string().min(1).max(64),
  models: z.array(modelName).min(1).max(1000),
};

export const createProviderBody = z.strictObject({
  name: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be lowercase letters, digits and dashes (max 63)')
    .refine((n) => n !== 'local', "'local' is the built-in provider"),
  kind: providerFields.kind,
  baseUrl: providerFields.baseUrl,
  apiKey: providerFields.apiKey.optional(),
  apiKeyHeader: providerFields.apiKeyHeader.default('authorization'),
  defaultQuery: providerFields.defaultQuery.default({}),
  region: providerFields.region.optional(),
  models: providerFields.models,
});
export type CreateProviderBody = z.infer<typeof createProviderBody>;

export const updateProviderBody = z
  .strictObject({
    baseUrl: providerFields.baseUrl,
    apiKey: providerFields.apiKey.nullable(),
    apiKeyHeader: providerFields.apiKeyHeader,
    defaultQuery: providerFields.defaultQuery,
    region: providerFields.region.nullable(),
    models: providerFields.models,
  })
  .partial()
  .refine((b) => Object.keys(b).length > 0, 'send at least one field to change');
export type UpdateProviderBody = z.infer<typeof updateProviderBody>;

export const providerIdParams = z.strictObject({ providerId: z.string().min(1).max(64) });
