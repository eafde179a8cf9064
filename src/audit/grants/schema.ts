import { z } from 'zod';

const DAY_MS = 86_400_000;

export const grantScopes = ['audit:payloads'] as const;

export const createGrantBody = z.strictObject({
  scope: z.enum(grantScopes),
  reason: z.string().trim().min(1).max(500),
  expiresAt: z.iso
    .datetime({ offset: true })
    .refine((v) => Date.parse(v) > Date.now(), 'must be in the future')
    .refine((v) => Date.parse(v) <= Date.now() + 30 * DAY_MS, 'must be at most 30 days ahead'),
});

export const grantIdParams = z.strictObject({ grantId: z.string().min(1).max(64) });
