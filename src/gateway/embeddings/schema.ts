import { z } from 'zod';

export const embeddingRequest = z.looseObject({
  model: z.string().min(1).max(200),
  input: z.union([
    z.string(),
    z.array(z.string()).min(1).max(2048),
    z.array(z.number().int().nonnegative()).min(1),
    z.array(z.array(z.number().int().nonnegative()).min(1)).min(1).max(2048),
  ]),
  encoding_format: z.enum(['float', 'base64']).optional(),
  dimensions: z.number().int().positive().max(8192).optional(),
  user: z.string().optional(),
});

export type EmbeddingRequest = z.infer<typeof embeddingRequest>;
