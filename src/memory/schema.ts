import { z } from 'zod';
import { pageQuery } from '../http/pagination.ts';

export const METADATA_MAX_BYTES = 16 * 1024;
export const MESSAGE_MAX_BYTES = 1024 * 1024;

export const messageRoles = ['user', 'assistant', 'system', 'developer', 'tool'] as const;
export type MessageRole = (typeof messageRoles)[number];

const title = z.string().trim().min(1).max(256);

/** Free-form labels for the caller's own use; stored as JSON, never interpreted. */
const metadata = z
  .record(z.string().max(256), z.unknown())
  .refine(
    (m) => Buffer.byteLength(JSON.stringify(m), 'utf8') <= METADATA_MAX_BYTES,
    `must be at most ${METADATA_MAX_BYTES} bytes as JSON`,
  );

export const createThreadBody = z
  .strictObject({ title: title.optional(), metadata: metadata.optional() })
  // A bare POST (no body at all) creates an untitled thread.
  .nullish();
export type CreateThreadBody = z.infer<typeof createThreadBody>;

export const updateThreadBody = z
  .strictObject({ title: title.nullable(), metadata })
  .partial()
  .refine((b) => Object.keys(b).length > 0, 'send title or metadata to change');
export type UpdateThreadBody = z.infer<typeof updateThreadBody>;

export const listThreadsQuery = pageQuery.extend({
  /** For admins, who otherwise see every thread of the tenant: only their own. */
  owner: z.enum(['me']).optional(),
});
export type ListThreadsQuery = z.infer<typeof listThreadsQuery>;

export const threadIdParams = z.strictObject({ threadId: z.string().min(1).max(64) });

export const appendMessageBody = z.strictObject({
  role: z.enum(messageRoles),
  content: z
    .string()
    // Characters never outnumber UTF-8 bytes: this cheap bound runs first.
    .max(MESSAGE_MAX_BYTES)
    .refine(
      (c) => Buffer.byteLength(c, 'utf8') <= MESSAGE_MAX_BYTES,
      `must be at most ${MESSAGE_MAX_BYTES} bytes`,
    ),
});
export type AppendMessageBody = z.infer<typeof appendMessageBody>;
