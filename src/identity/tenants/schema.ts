import { z } from 'zod';
import { roles, scopes } from '../../core/tenant-context.ts';

export const createTenantBody = z.strictObject({ name: z.string().trim().min(1).max(200) });
export const tenantIdParams = z.strictObject({ tenantId: z.string().min(1).max(64) });
export const tenantKeyParams = z.strictObject({
  tenantId: z.string().min(1).max(64),
  keyId: z.string().min(1).max(64),
});
export const operatorKeyBody = z.strictObject({
  name: z.string().trim().min(1).max(200),
  role: z.enum(roles).default('owner'),
  scopes: z.array(z.enum(scopes)).min(1).optional(),
  expiresAt: z.iso
    .datetime({ offset: true })
    .refine((v) => Date.parse(v) > Date.now(), 'must be in the future')
    .optional(),
});
