import { notFound } from '../../core/errors.ts';
import type { App, AppDeps } from '../../http/app-types.ts';
import { listOf, pageQuery } from '../../http/pagination.ts';
import type { CollectionRow, DocumentRow } from '../../knowledge/repository.ts';
import { requireVector } from '../../knowledge/retrieve.ts';
import { collectionView, documentView } from '../../knowledge/views.ts';
import { type ContentRead, readTenantContent } from './access.ts';
import {
  type OperatorChunk,
  operatorDocumentChunks,
  operatorFindCollection,
  operatorFindDocument,
  operatorListCollections,
  operatorListDocuments,
} from './repository.ts';
import { collectionParams, documentParams, tenantParams } from './schema.ts';

const tags = ['admin'];
const scope = 'documents:content';

/** Names, models, sizes and times as the tenant sees them; the free-text description is content. */
function operatorCollectionView(read: ContentRead, row: CollectionRow) {
  const description = row.description;
  return {
    ...collectionView(row),
    description: description === null ? null : read.show(() => description),
  };
}

/**
 * Ids, title, type, access list, sizes and times. The free-form metadata object is content, and so
 * is the text's SHA-256: it would confirm a guess at a short document's text.
 */
function operatorDocumentView(read: ContentRead, row: DocumentRow) {
  return {
    ...documentView(row),
    metadata: read.show(() => row.metadata),
    sha256: read.show(() => row.content_sha256),
  };
}

function chunkView(read: ContentRead, chunk: OperatorChunk) {
  return {
    id: chunk.chunk_id,
    object: 'document.chunk' as const,
    position: chunk.position,
    startChar: chunk.start_char,
    endChar: chunk.end_char,
    tokens: chunk.tokens,
    heading: read.show(() => chunk.heading ?? null),
    content: read.show(() => chunk.content ?? ''),
  };
}

/**
 * Operators' view of a tenant's knowledge: collections, documents and chunks with their metadata,
 * their text redacted unless the tenant granted `documents:content`. Bulkhead keeps a document's
 * text as its chunks (the original file is not stored), so the chunks are the document's text.
 */
export function registerOperatorKnowledgeRoutes(app: App, deps: AppDeps): void {
  const knowledge = () => requireVector(deps);

  app.get(
    '/v1/admin/tenants/:tenantId/collections',
    {
      schema: {
        tags,
        summary: "A tenant's collections: descriptions redacted unless the tenant granted access",
        params: tenantParams,
        querystring: pageQuery,
      },
    },
    async (request) => {
      const { tenantId } = request.params;
      const { limit, after } = request.query;
      return readTenantContent(
        deps,
        request,
        { tenantId, scope, what: 'read collections', requires: knowledge },
        async (read) => {
          const rows = await operatorListCollections(read.tx, tenantId, { limit, after });
          const page = rows.slice(0, limit);
          return {
            body: {
              ...listOf(
                page.map((row) => operatorCollectionView(read, row)),
                rows.length > limit,
              ),
              access: read.access,
            },
            shown: { collections: page.map((row) => row.collection_id) },
          };
        },
      );
    },
  );

  app.get(
    '/v1/admin/tenants/:tenantId/collections/:collectionId/documents',
    {
      schema: {
        tags,
        summary: "A tenant collection's documents: metadata objects redacted unless granted",
        params: collectionParams,
        querystring: pageQuery,
      },
    },
    async (request) => {
      const { tenantId, collectionId } = request.params;
      const { limit, after } = request.query;
      return readTenantContent(
        deps,
        request,
        { tenantId, scope, what: 'read documents', requires: knowledge },
        async (read) => {
          const collection = await operatorFindCollection(read.tx, tenantId, collectionId);
          if (collection === undefined) throw notFound('collection', collectionId);
          const rows = await operatorListDocuments(read.tx, tenantId, collectionId, {
            limit,
            after,
          });
          const page = rows.slice(0, limit);
          return {
            body: {
              ...listOf(
                page.map((row) => operatorDocumentView(read, row)),
                rows.length > limit,
              ),
              access: read.access,
            },
            shown: { collections: [collectionId], documents: page.map((row) => row.document_id) },
          };
        },
      );
    },
  );

  app.get(
    '/v1/admin/tenants/:tenantId/documents/:documentId',
    {
      schema: {
        tags,
        summary:
          "One tenant document and a page of its chunks (in order): text redacted unless the tenant granted 'documents:content'",
        params: documentParams,
        querystring: pageQuery,
      },
    },
    async (request) => {
      const { tenantId, documentId } = request.params;
      const { limit, after } = request.query;
      return readTenantContent(
        deps,
        request,
        { tenantId, scope, what: 'read a document', requires: knowledge },
        async (read) => {
          const row = await operatorFindDocument(read.tx, tenantId, documentId);
          if (row === undefined) throw notFound('document', documentId);
          const chunks = await operatorDocumentChunks(read.tx, tenantId, documentId, {
            limit,
            after,
            withText: read.granted,
          });
          const page = chunks.slice(0, limit);
          return {
            body: {
              ...operatorDocumentView(read, row),
              chunkPage: listOf(
                page.map((chunk) => chunkView(read, chunk)),
                chunks.length > limit,
              ),
              access: read.access,
            },
            shown: {
              collections: [row.collection_id],
              documents: [documentId],
              chunks: page.map((chunk) => chunk.chunk_id),
            },
          };
        },
      );
    },
  );
}
