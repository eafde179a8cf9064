import { createHash } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { recordChange } from '../audit/append.ts';
import { BkError } from '../core/errors.ts';
import { newId } from '../core/ids.ts';
import { principalId, type TenantContext } from '../core/tenant-context.ts';
import { isUniqueViolation } from '../db/pg-errors.ts';
import { withTenant } from '../db/scope.ts';
import type { LoadedPolicy } from '../governance/policy/policy-store.ts';
import type { AppDeps } from '../http/app-types.ts';
import { chunkDocument } from './chunking/index.ts';
import { embedTexts } from './embed.ts';
import { extractText, type SourceType } from './extract/index.ts';
import {
  type CollectionRow,
  deleteDocument,
  type DocumentRow,
  documentByExternalId,
  insertChunks,
  insertDocument,
} from './repository.ts';

export interface DocumentFields {
  title?: string | undefined;
  externalId?: string | undefined;
  metadata?: Record<string, unknown> | undefined;
  access?: { users: string[]; groups: string[] } | undefined;
}

/** What is embedded for a chunk: its heading path gives the text its context. */
export function embeddingText(chunk: { heading: string | null; content: string }): string {
  return chunk.heading === null ? chunk.content : `${chunk.heading}\n\n${chunk.content}`;
}

/**
 * Extracts, chunks and embeds a document, then stores it with its chunks in one transaction. An
 * external id makes it idempotent: a re-ingest replaces the earlier document (its chunks and
 * embeddings go with it) in the same transaction, so readers see the old or the new, never both.
 * Model calls happen before the transaction, which holds no connection while they run.
 */
export async function ingestDocument(
  deps: AppDeps,
  ctx: TenantContext,
  http: FastifyRequest,
  policy: LoadedPolicy,
  collection: CollectionRow,
  source: { content: Uint8Array | string; type: SourceType },
  fields: DocumentFields,
  signal: AbortSignal,
  /** Progress of a background ingest: chunks embedded out of the total. */
  onProgress?: (embedded: number, total: number) => Promise<void>,
): Promise<{ document: DocumentRow; replaced: string | null }> {
  const extracted = await extractText(source.content, source.type);
  const chunks = chunkDocument(extracted.text, {
    format: extracted.format,
    maxTokens: collection.chunk_tokens,
    overlapTokens: collection.chunk_overlap,
  });
  if (chunks.length === 0) {
    throw new BkError('BK_VALIDATION_FAILED', 'The document has no text to index.');
  }
  const documentId = newId('document');
  const vectors = await embedTexts(deps, ctx, policy.document, {
    model: collection.embedding_model,
    texts: chunks.map(embeddingText),
    operation: 'embeddings',
    auditInput: { collectionId: collection.collection_id, documentId, chunks: chunks.length },
    signal,
    http,
    ...(onProgress !== undefined && {
      onProgress: (embedded: number) => onProgress(embedded, chunks.length),
    }),
  });
  if (vectors.some((v) => v.length !== collection.dimensions)) {
    throw new BkError(
      'BK_UPSTREAM_ERROR',
      `The embedding model '${collection.embedding_model}' returned vectors of another dimension than the collection's ${collection.dimensions}.`,
    );
  }
  const actor = principalId(ctx);
  const access = fields.access;
  try {
    return await withTenant(deps.db, ctx, async (tx) => {
      const previous =
        fields.externalId === undefined
          ? undefined
          : await documentByExternalId(tx, collection.collection_id, fields.externalId);
      if (previous !== undefined) await deleteDocument(tx, previous.document_id);
      const document = await insertDocument(tx, {
        tenant_id: ctx.tenantId,
        document_id: documentId,
        collection_id: collection.collection_id,
        external_id: fields.externalId ?? null,
        title: fields.title ?? extracted.title,
        source_type: source.type,
        metadata: JSON.stringify(fields.metadata ?? {}),
        content_sha256: createHash('sha256').update(extracted.text).digest('hex'),
        chars: extracted.text.length,
        chunk_count: chunks.length,
        allowed_users: access === undefined ? null : access.users,
        allowed_groups: access === undefined ? null : access.groups,
        created_by: `${actor.kind}:${actor.id}`,
        updated_at: new Date(),
      });
      await insertChunks(
        tx,
        chunks.map((chunk, i) => ({
          tenant_id: ctx.tenantId,
          chunk_id: newId('chunk'),
          collection_id: collection.collection_id,
          document_id: documentId,
          position: chunk.position,
          heading: chunk.heading,
          content: chunk.content,
          start_char: chunk.startChar,
          end_char: chunk.endChar,
          tokens: chunk.tokens,
          allowed_users: document.allowed_users,
          allowed_groups: document.allowed_groups,
          dims: collection.dimensions,
          embedding: vectors[i]!,
        })),
        deps.knowledge.vector,
      );
      await recordChange(tx, deps.keyring, ctx, {
        action: previous === undefined ? 'document.create' : 'document.replace',
        resource: { type: 'document', id: documentId },
        details: {
          collectionId: collection.collection_id,
          externalId: fields.externalId ?? null,
          chunks: chunks.length,
          restricted: access !== undefined,
          ...(previous !== undefined && { replaced: previous.document_id }),
        },
      });
      return { document, replaced: previous?.document_id ?? null };
    });
  } catch (err) {
    if (isUniqueViolation(err)) {
      throw new BkError(
        'BK_CONFLICT',
        `Another ingest of externalId '${fields.externalId}' finished first; retry to replace it.`,
      );
    }
    throw err;
  }
}
