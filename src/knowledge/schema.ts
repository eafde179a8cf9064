import { z } from 'zod';

const modelId = z
  .string()
  .min(3)
  .max(200)
  .regex(/^[A-Za-z0-9._:-]+\/[A-Za-z0-9._:/@-]+$/, { message: "expected 'provider/model'" });

export const createCollectionBody = z.strictObject({
  name: z
    .string()
    .regex(
      /^[a-z0-9][a-z0-9._-]{0,62}$/,
      'lowercase letters, digits, dots, dashes, underscores (max 63)',
    ),
  description: z.string().max(2000).optional(),
  embeddingModel: modelId.default('local/hash-embed'),
  chunking: z
    .strictObject({
      maxTokens: z.number().int().min(32).max(8000).default(300),
      overlapTokens: z.number().int().min(0).max(4000).default(50),
    })
    .refine((c) => c.overlapTokens < c.maxTokens, 'overlapTokens must be below maxTokens')
    .default({ maxTokens: 300, overlapTokens: 50 }),
});

export const collectionParams = z.strictObject({ collectionId: z.string().min(1).max(64) });
export const documentParams = collectionParams.extend({ documentId: z.string().min(1).max(64) });

/** Who may read a document inside the tenant; absent: everyone in the tenant. */
export const accessList = z
  .strictObject({
    users: z.array(z.string().min(1).max(64)).max(1000).default([]),
    groups: z.array(z.string().min(1).max(200)).max(1000).default([]),
  })
  .refine((a) => a.users.length + a.groups.length > 0, {
    message: 'an access list names at least one user or group (omit it to let everyone read)',
  });

const metadata = z
  .record(z.string().max(200), z.unknown())
  .refine((m) => JSON.stringify(m).length <= 16_384, 'metadata is limited to 16 KB as JSON');

export const documentFields = {
  title: z.string().min(1).max(1000).optional(),
  externalId: z.string().min(1).max(500).optional(),
  metadata: metadata.optional(),
  access: accessList.optional(),
};

export const ingestBody = z.strictObject({
  content: z.string().min(1),
  type: z.enum(['text', 'markdown', 'html']).optional(),
  ...documentFields,
});

/** `?async=true`: answer 202 with a job at once and ingest in the background. */
const asyncFlag = z.enum(['true', 'false']).optional();
export const ingestQuery = z.strictObject({ async: asyncFlag });

export const jobParams = collectionParams.extend({ jobId: z.string().min(1).max(64) });

/** For raw file uploads, the document's fields come in the query string. */
export const uploadQuery = z.strictObject({
  async: asyncFlag,
  filename: z.string().min(1).max(500).optional(),
  title: documentFields.title,
  externalId: documentFields.externalId,
  /** JSON-encoded metadata object. */
  metadata: z.string().max(16_384).optional(),
  /** Comma-separated user ids and groups: `users=usr_1,usr_2&groups=finance`. */
  users: z.string().max(65_536).optional(),
  groups: z.string().max(65_536).optional(),
});

export const searchBody = z.strictObject({
  query: z.string().min(1).max(8000),
  topK: z.number().int().min(1).max(50).default(5),
  mode: z.enum(['vector', 'keyword', 'hybrid']).default('hybrid'),
});
export type SearchMode = z.infer<typeof searchBody>['mode'];
