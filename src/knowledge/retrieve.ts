import type { FastifyRequest } from 'fastify';
import { BkError } from '../core/errors.ts';
import type { TenantContext } from '../core/tenant-context.ts';
import { type TenantTx, withTenant } from '../db/scope.ts';
import type { PolicyDocument } from '../governance/policy/schema.ts';
import type { AppDeps } from '../http/app-types.ts';
import { embedTexts } from './embed.ts';
import { countChunks, type CollectionRow } from './repository.ts';
import type { SearchMode } from './schema.ts';
import { fuse, keywordSearch, type Reader, type SearchHit, vectorSearch } from './search.ts';

/** Knowledge needs pgvector; without it every knowledge endpoint says so, naming the extension. */
export function requireVector(deps: AppDeps): void {
  if (!deps.knowledge.vector) {
    throw new BkError(
      'BK_KNOWLEDGE_UNAVAILABLE',
      'Knowledge collections need the pgvector extension ("vector"), which is not installed in this database. Install pgvector on the PostgreSQL server and run `bulkhead migrate`.',
    );
  }
}

/** The reader of a search: the principal's user (if any) and that user's groups, read now. */
export async function readerOf(tx: TenantTx, ctx: TenantContext): Promise<Reader> {
  const userId = ctx.principal.userId;
  if (userId === null) return { userId: null, groups: [] };
  const user = await tx
    .selectFrom('users')
    .select('groups')
    .where('user_id', '=', userId)
    .executeTakeFirst();
  return { userId, groups: user?.groups ?? [] };
}

/**
 * Searches one collection as the calling principal: inside the tenant's RLS-scoped transaction,
 * with the reader's access lists applied in the same query — the tenant filter and the access
 * filter never come from the client. The query is embedded (and metered) first, outside it.
 */
export async function searchCollection(
  deps: AppDeps,
  ctx: TenantContext,
  http: FastifyRequest,
  policy: PolicyDocument,
  collection: CollectionRow,
  request: { query: string; topK: number; mode: SearchMode },
  signal: AbortSignal,
): Promise<SearchHit[]> {
  const [embedding] =
    request.mode === 'keyword'
      ? [null]
      : await embedTexts(deps, ctx, policy, {
          model: collection.embedding_model,
          texts: [request.query],
          operation: 'search',
          auditInput: { collectionId: collection.collection_id, query: request.query },
          signal,
          http,
        });
  // Hybrid fuses two longer lists, so a chunk ranked low by one method can still rise.
  const depth = request.mode === 'hybrid' ? Math.max(request.topK * 4, 20) : request.topK;
  return withTenant(deps.db, ctx, async (tx) => {
    const reader = await readerOf(tx, ctx);
    const vector = async () =>
      vectorSearch(tx, {
        collectionId: collection.collection_id,
        dims: collection.dimensions,
        embedding: embedding!,
        reader,
        limit: depth,
        collectionSize: await countChunks(tx, collection.collection_id),
      });
    const keyword = () =>
      keywordSearch(tx, {
        collectionId: collection.collection_id,
        query: request.query,
        reader,
        limit: depth,
      });
    if (request.mode === 'vector') return vector();
    if (request.mode === 'keyword') return keyword();
    return fuse([await vector(), await keyword()], request.topK);
  });
}
