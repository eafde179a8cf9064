import { z } from 'zod';
import type { ApprovalStatus } from '../../db/schema.ts';
import { pageQuery } from '../../http/pagination.ts';

const id = z.string().min(1).max(64);

export const tenantParams = z.strictObject({ tenantId: id });
export const collectionParams = tenantParams.extend({ collectionId: id });
export const documentParams = tenantParams.extend({ documentId: id });
export const threadParams = tenantParams.extend({ threadId: id });
export const approvalParams = tenantParams.extend({ approvalId: id });

const approvalStatuses = [
  'pending',
  'approved',
  'denied',
  'expired',
  'completed',
  'failed',
] as const satisfies readonly ApprovalStatus[];
export const approvalListQuery = pageQuery.extend({ status: z.enum(approvalStatuses).optional() });
