import { z } from 'zod';
import { roles } from '../../core/tenant-context.ts';

/** Groups name who may read restricted documents (a document's access list names groups). */
const userGroups = z.array(z.string().trim().min(1).max(200)).max(100);

export const createUserBody = z
  .strictObject({
    email: z.email().max(320).optional(),
    subject: z.string().min(1).max(256).optional(),
    displayName: z.string().trim().min(1).max(200).optional(),
    role: z.enum(roles).default('member'),
    groups: userGroups.default([]),
  })
  .refine(
    (b) => b.email !== undefined || b.subject !== undefined,
    'send an email or a subject (the IdP user id)',
  );

export const updateUserBody = z
  .strictObject({
    role: z.enum(roles).optional(),
    displayName: z.string().trim().min(1).max(200).nullable().optional(),
    groups: userGroups.optional(),
  })
  .refine((b) => Object.keys(b).length > 0, 'send at least one field to change');

export const userIdParams = z.strictObject({ userId: z.string().min(1).max(64) });
