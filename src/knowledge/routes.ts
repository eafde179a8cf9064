import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { recordChange } from '../audit/append.ts';
import { BkError, notFound } from '../core/errors.ts';
import { newId } from '../core/ids.ts';
import type { TenantContext } from '../core/tenant-context.ts';
import { isUniqueViolation } from '../db/pg-errors.ts';
import { withTenant } from '../db/scope.ts';
import { clientAbortSignal } from '../gateway/client-abort.ts';
import type { App, AppDeps } from '../http/app-types.ts';
import { listPage, pageQuery } from '../http/pagination.ts';
import { embedTexts } from './embed.ts';
import { detectSourceType } from './extract/index.ts';
import { type DocumentFields, ingestDocument } from './ingest.ts';
import { jobView, startIngestJob } from './jobs.ts';
import {
  type CollectionRow,
  deleteDocument,
  findCollection,
  findDocument,
  listCollections,
  listDocuments,
} from './repository.ts';
import { requireVector, searchCollection } from './retrieve.ts';
import {
  collectionParams,
  createCollectionBody,
  documentParams,
  ingestBody,
  ingestQuery,
  jobParams,
  searchBody,
  uploadQuery,
} from './schema.ts';
import { collectionView, documentView, hitView } from './views.ts';

const tags = ['knowledge'];
/** The built-in embedder's dimension; other models are asked once, when the collection is made. */
const KNOWN_DIMENSIONS: Record<string, number> = { 'local/hash-embed': 384 };

/** The caller, with the permission; and the knowledge features must be available at all. */
async function knowledgeCaller(
  deps: AppDeps,
  request: FastifyRequest,
  scope: 'knowledge:read' | 'knowledge:write',
): Promise<TenantContext> {
  const ctx = await deps.auth.tenant(request, scope);
  requireVector(deps);
  return ctx;
}

async function collectionOf(deps: AppDeps, ctx: TenantContext, collectionId: string) {
  const row = await withTenant(deps.db, ctx, (tx) => findCollection(tx, collectionId));
  if (row === undefined) throw notFound('collection', collectionId);
  return row;
}

function splitList(value: string | undefined): string[] {
  return value === undefined
    ? []
    : value
        .split(',')
        .map((v) => v.trim())
        .filter((v) => v !== '');
}

function uploadFields(query: {
  title?: string | undefined;
  externalId?: string | undefined;
  metadata?: string | undefined;
  users?: string | undefined;
  groups?: string | undefined;
}): DocumentFields {
  let metadata: Record<string, unknown> | undefined;
  if (query.metadata !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(query.metadata);
    } catch {
      parsed = null;
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new BkError('BK_VALIDATION_FAILED', 'metadata must be a JSON object.', {
        param: 'metadata',
      });
    }
    metadata = parsed as Record<string, unknown>;
  }
  const users = splitList(query.users);
  const groups = splitList(query.groups);
  return {
    title: query.title,
    externalId: query.externalId,
    metadata,
    access: users.length + groups.length === 0 ? undefined : { users, groups },
  };
}

async function ingestAndReply(
  deps: AppDeps,
  request: FastifyRequest,
  reply: FastifyReply,
  ctx: TenantContext,
  collection: CollectionRow,
  source: Parameters<typeof ingestDocument>[5],
  fields: DocumentFields,
  background: boolean,
) {
  const policy = await deps.policies.current(ctx);
  if (background) {
    const job = await startIngestJob(
      deps,
      request.log,
      ctx,
      request,
      policy,
      collection,
      source,
      fields,
    );
    return reply
      .code(202)
      .header('location', `/v1/collections/${collection.collection_id}/jobs/${job.job_id}`)
      .send(jobView(job, deps.now()));
  }
  const { document, replaced } = await ingestDocument(
    deps,
    ctx,
    request,
    policy,
    collection,
    source,
    fields,
    clientAbortSignal(reply),
  );
  return reply.code(replaced === null ? 201 : 200).send({ ...documentView(document), replaced });
}

/**
 * Knowledge: collections of documents, chunked and embedded on ingest, searched by meaning,
 * keywords or both — always inside the caller's tenant, and never past a document's access list.
 */
export function registerKnowledgeRoutes(app: App, deps: AppDeps): void {
  app.post(
    '/v1/collections',
    { schema: { tags, summary: 'Create a collection', body: createCollectionBody } },
    async (request, reply) => {
      const ctx = await knowledgeCaller(deps, request, 'knowledge:write');
      const body = request.body;
      const policy = await deps.policies.current(ctx);
      const dimensions =
        KNOWN_DIMENSIONS[body.embeddingModel] ??
        (
          await embedTexts(deps, ctx, policy.document, {
            model: body.embeddingModel,
            texts: ['dimension probe'],
            operation: 'embeddings',
            auditInput: { purpose: 'collection dimension probe' },
            signal: clientAbortSignal(reply),
            http: request,
          })
        )[0]!.length;
      try {
        const row = await withTenant(deps.db, ctx, async (tx) => {
          const created = await tx
            .insertInto('collections')
            .values({
              tenant_id: ctx.tenantId,
              collection_id: newId('collection'),
              name: body.name,
              description: body.description ?? null,
              embedding_model: body.embeddingModel,
              dimensions,
              chunk_tokens: body.chunking.maxTokens,
              chunk_overlap: body.chunking.overlapTokens,
              updated_at: new Date(),
            })
            .returningAll()
            .executeTakeFirstOrThrow();
          await recordChange(tx, deps.keyring, ctx, {
            action: 'collection.create',
            resource: { type: 'collection', id: created.collection_id },
            details: { name: created.name, embeddingModel: created.embedding_model, dimensions },
          });
          return created;
        });
        return reply.code(201).send(collectionView(row));
      } catch (err) {
        if (isUniqueViolation(err)) {
          throw new BkError('BK_CONFLICT', `A collection named '${body.name}' already exists.`, {
            param: 'name',
          });
        }
        throw err;
      }
    },
  );

  app.get(
    '/v1/collections',
    { schema: { tags, summary: "The tenant's collections", querystring: pageQuery } },
    async (request) => {
      const ctx = await knowledgeCaller(deps, request, 'knowledge:read');
      const { limit, after } = request.query;
      const rows = await withTenant(deps.db, ctx, (tx) => listCollections(tx, limit, after));
      return listPage(rows, limit, collectionView);
    },
  );

  app.get(
    '/v1/collections/:collectionId',
    { schema: { tags, summary: 'One collection', params: collectionParams } },
    async (request) => {
      const ctx = await knowledgeCaller(deps, request, 'knowledge:read');
      return collectionView(await collectionOf(deps, ctx, request.params.collectionId));
    },
  );

  app.delete(
    '/v1/collections/:collectionId',
    {
      schema: {
        tags,
        summary: 'Delete a collection: its documents, chunks and embeddings go with it',
        params: collectionParams,
      },
    },
    async (request) => {
      const ctx = await knowledgeCaller(deps, request, 'knowledge:write');
      const { collectionId } = request.params;
      const deleted = await withTenant(deps.db, ctx, async (tx) => {
        const row = await tx
          .deleteFrom('collections')
          .where('collection_id', '=', collectionId)
          .returningAll()
          .executeTakeFirst();
        if (row !== undefined) {
          await recordChange(tx, deps.keyring, ctx, {
            action: 'collection.delete',
            resource: { type: 'collection', id: collectionId },
            details: { name: row.name },
          });
        }
        return row;
      });
      if (deleted === undefined) throw notFound('collection', collectionId);
      return { id: collectionId, object: 'collection.deleted' as const, deleted: true };
    },
  );

  app.post(
    '/v1/collections/:collectionId/documents',
    {
      bodyLimit: deps.config.documentMaxBytes,
      schema: {
        tags,
        summary:
          'Ingest a document given as JSON text (text, Markdown or HTML); an externalId makes it idempotent; ?async=true answers 202 with a job',
        params: collectionParams,
        querystring: ingestQuery,
        body: ingestBody,
      },
    },
    async (request, reply) => {
      const ctx = await knowledgeCaller(deps, request, 'knowledge:write');
      const collection = await collectionOf(deps, ctx, request.params.collectionId);
      const { content, type, ...fields } = request.body;
      return ingestAndReply(
        deps,
        request,
        reply,
        ctx,
        collection,
        { content, type: type ?? 'text' },
        fields,
        request.query.async === 'true',
      );
    },
  );

  // File uploads send the file itself as the body; its type comes from Content-Type or the name.
  void app.register((uploads, _options, done) => {
    uploads.removeAllContentTypeParsers();
    uploads.addContentTypeParser(
      '*',
      { parseAs: 'buffer', bodyLimit: deps.config.documentMaxBytes },
      (_request, body, done) => done(null, body),
    );
    uploads.withTypeProvider<ZodTypeProvider>().post(
      '/v1/collections/:collectionId/documents/upload',
      {
        schema: {
          tags,
          summary:
            'Ingest a file (PDF, HTML, Markdown or text) sent as the request body; fields in the query string',
          params: collectionParams,
          querystring: uploadQuery,
        },
      },
      async (request, reply) => {
        const ctx = await knowledgeCaller(deps, request, 'knowledge:write');
        const collection = await collectionOf(deps, ctx, request.params.collectionId);
        const contentType = request.headers['content-type']?.split(';')[0]?.trim();
        const type = detectSourceType({
          ...(contentType !== undefined && { contentType }),
          ...(request.query.filename !== undefined && { filename: request.query.filename }),
        });
        if (type === null) {
          throw new BkError(
            'BK_UNSUPPORTED_MEDIA_TYPE',
            'Send a PDF, HTML, Markdown or plain-text file, with its Content-Type or a filename ending in .pdf, .html, .md or .txt.',
          );
        }
        const body = request.body;
        if (!(body instanceof Buffer) || body.length === 0) {
          throw new BkError('BK_VALIDATION_FAILED', 'The request body (the file) is empty.');
        }
        return ingestAndReply(
          deps,
          request,
          reply,
          ctx,
          collection,
          { content: body, type },
          uploadFields(request.query),
          request.query.async === 'true',
        );
      },
    );
    done();
  });

  app.get(
    '/v1/collections/:collectionId/documents',
    {
      schema: {
        tags,
        summary: "A collection's documents (metadata, not content)",
        params: collectionParams,
        querystring: pageQuery,
      },
    },
    async (request) => {
      const ctx = await knowledgeCaller(deps, request, 'knowledge:read');
      const { collectionId } = request.params;
      const { limit, after } = request.query;
      await collectionOf(deps, ctx, collectionId);
      const rows = await withTenant(deps.db, ctx, (tx) =>
        listDocuments(tx, collectionId, limit, after),
      );
      return listPage(rows, limit, documentView);
    },
  );

  app.get(
    '/v1/collections/:collectionId/jobs',
    {
      schema: {
        tags,
        summary: "A collection's background ingests, newest first",
        params: collectionParams,
        querystring: pageQuery,
      },
    },
    async (request) => {
      const ctx = await knowledgeCaller(deps, request, 'knowledge:read');
      const { collectionId } = request.params;
      const { limit, after } = request.query;
      const rows = await withTenant(deps.db, ctx, (tx) => {
        let query = tx
          .selectFrom('ingest_jobs')
          .selectAll()
          .where('collection_id', '=', collectionId)
          .orderBy('job_id', 'desc')
          .limit(limit + 1);
        if (after !== undefined) query = query.where('job_id', '<', after);
        return query.execute();
      });
      const now = deps.now();
      return listPage(rows, limit, (row) => jobView(row, now));
    },
  );

  app.get(
    '/v1/collections/:collectionId/jobs/:jobId',
    { schema: { tags, summary: 'A background ingest: status and progress', params: jobParams } },
    async (request) => {
      const ctx = await knowledgeCaller(deps, request, 'knowledge:read');
      const { collectionId, jobId } = request.params;
      const row = await withTenant(deps.db, ctx, (tx) =>
        tx
          .selectFrom('ingest_jobs')
          .selectAll()
          .where('collection_id', '=', collectionId)
          .where('job_id', '=', jobId)
          .executeTakeFirst(),
      );
      if (row === undefined) throw notFound('ingest job', jobId);
      return jobView(row, deps.now());
    },
  );

  app.get(
    '/v1/collections/:collectionId/documents/:documentId',
    { schema: { tags, summary: 'One document (metadata, not content)', params: documentParams } },
    async (request) => {
      const ctx = await knowledgeCaller(deps, request, 'knowledge:read');
      const { collectionId, documentId } = request.params;
      const row = await withTenant(deps.db, ctx, (tx) =>
        findDocument(tx, collectionId, documentId),
      );
      if (row === undefined) throw notFound('document', documentId);
      return documentView(row);
    },
  );

  app.delete(
    '/v1/collections/:collectionId/documents/:documentId',
    {
      schema: {
        tags,
        summary: 'Delete a document: its chunks and embeddings go with it',
        params: documentParams,
      },
    },
    async (request) => {
      const ctx = await knowledgeCaller(deps, request, 'knowledge:write');
      const { collectionId, documentId } = request.params;
      const deleted = await withTenant(deps.db, ctx, async (tx) => {
        const row = await findDocument(tx, collectionId, documentId);
        if (row === undefined) return false;
        await deleteDocument(tx, documentId);
        await recordChange(tx, deps.keyring, ctx, {
          action: 'document.delete',
          resource: { type: 'document', id: documentId },
          details: { collectionId, externalId: row.external_id },
        });
        return true;
      });
      if (!deleted) throw notFound('document', documentId);
      return { id: documentId, object: 'document.deleted' as const, deleted: true };
    },
  );

  app.post(
    '/v1/collections/:collectionId/search',
    {
      schema: {
        tags,
        summary:
          'Search a collection by meaning (vector), keywords, or both fused (hybrid); results carry citations',
        params: collectionParams,
        body: searchBody,
      },
    },
    async (request, reply) => {
      const ctx = await knowledgeCaller(deps, request, 'knowledge:read');
      const collection = await collectionOf(deps, ctx, request.params.collectionId);
      const policy = await deps.policies.current(ctx);
      const hits = await searchCollection(
        deps,
        ctx,
        request,
        policy.document,
        collection,
        request.body,
        clientAbortSignal(reply),
      );
      return {
        object: 'list' as const,
        mode: request.body.mode,
        data: hits.map(hitView),
      };
    },
  );
}
