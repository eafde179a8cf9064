import { z } from 'zod';
import { roles, scopes } from '../../core/tenant-context.ts';

export const createKeyBody = z.strictObject({
  name: z.string().trim().min(1).max(200),
  role: z.enum(roles).default('member'),
  scopes: z.array(z.enum(scopes)).min(1).max(scopes.length).optional(),
  userId: z.string().max(40).optional(),
  expiresAt: z.iso
    .datetime({ offset: true })
    .refine((v) => Date.parse(v) > Date.now(), 'must be in the future')
    .optional(),
});
export type CreateKeyBody = z.infer<typeof createKeyBody>;

export const keyIdParams = z.strictObject({ keyId: z.string().min(1).max(64) });
