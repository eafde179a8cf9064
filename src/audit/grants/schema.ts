import { z } from 'zod';
import type { AccessGrantsTable } from '../../db/schema.ts';

const DAY_MS = 86_400_000;

/**
 * What a grant opens to operators, each on its own: audit payloads; document and chunk text;
 * thread message content; held requests and their results.
 */
export const grantScopes = [
  'audit:payloads',
  'documents:content',
  'threads:content',
  'approvals:content',
] as const satisfies readonly AccessGrantsTable['scope'][];
export type GrantScope = (typeof grantScopes)[number];

export const createGrantBody = z.strictObject({
  scope: z.enum(grantScopes),
  reason: z.string().trim().min(1).max(500),
  expiresAt: z.iso
    .datetime({ offset: true })
    .refine((v) => Date.parse(v) > Date.now(), 'must be in the future')
    .refine((v) => Date.parse(v) <= Date.now() + 30 * DAY_MS, 'must be at most 30 days ahead'),
});

export const grantIdParams = z.strictObject({ grantId: z.string().min(1).max(64) });
