import { type Insertable, type Selectable, sql } from 'kysely';
import type { ChunksTable, CollectionsTable, DocumentsTable } from '../db/schema.ts';
import type { TenantTx } from '../db/scope.ts';

export type CollectionRow = Selectable<CollectionsTable>;
export type DocumentRow = Selectable<DocumentsTable>;
export type NewChunk = Omit<Insertable<ChunksTable>, 'embedding'> & { embedding: number[] };

export function findCollection(tx: TenantTx, collectionId: string) {
  return tx
    .selectFrom('collections')
    .selectAll()
    .where('collection_id', '=', collectionId)
    .executeTakeFirst();
}

export function listCollections(tx: TenantTx, limit: number, after: string | undefined) {
  let query = tx
    .selectFrom('collections')
    .selectAll()
    .orderBy('collection_id')
    .limit(limit + 1);
  if (after !== undefined) query = query.where('collection_id', '>', after);
  return query.execute();
}

export function findDocument(tx: TenantTx, collectionId: string, documentId: string) {
  return tx
    .selectFrom('documents')
    .selectAll()
    .where('collection_id', '=', collectionId)
    .where('document_id', '=', documentId)
    .executeTakeFirst();
}

export function listDocuments(
  tx: TenantTx,
  collectionId: string,
  limit: number,
  after: string | undefined,
) {
  let query = tx
    .selectFrom('documents')
    .selectAll()
    .where('collection_id', '=', collectionId)
    .orderBy('document_id')
    .limit(limit + 1);
  if (after !== undefined) query = query.where('document_id', '>', after);
  return query.execute();
}

/** The document a re-ingest with this external id replaces, if any. */
export function documentByExternalId(tx: TenantTx, collectionId: string, externalId: string) {
  return tx
    .selectFrom('documents')
    .selectAll()
    .where('collection_id', '=', collectionId)
    .where('external_id', '=', externalId)
    .executeTakeFirst();
}

/** Deleting a document deletes its chunks and their embeddings (foreign key, on delete cascade). */
export function deleteDocument(tx: TenantTx, documentId: string) {
  return tx.deleteFrom('documents').where('document_id', '=', documentId).executeTakeFirst();
}

export function insertDocument(tx: TenantTx, row: Insertable<DocumentsTable>) {
  return tx.insertInto('documents').values(row).returningAll().executeTakeFirstOrThrow();
}

/**
 * Inserts chunks with their embeddings (pgvector's text form, cast in SQL) in batches: one
 * statement per batch keeps a large document to a few round trips.
 */
export async function insertChunks(
  tx: TenantTx,
  chunks: readonly NewChunk[],
  withEmbeddings: boolean,
): Promise<void> {
  const batchSize = 200;
  for (let i = 0; i < chunks.length; i += batchSize) {
    const batch = chunks.slice(i, i + batchSize);
    await tx
      .insertInto('chunks')
      .values(
        batch.map(({ embedding, ...chunk }) => ({
          ...chunk,
          ...(withEmbeddings && {
            embedding: sql<string>`${`[${embedding.join(',')}]`}::vector`,
          }),
        })),
      )
      .execute();
  }
}

export function countChunks(tx: TenantTx, collectionId: string): Promise<number> {
  return tx
    .selectFrom('chunks')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('collection_id', '=', collectionId)
    .executeTakeFirstOrThrow()
    .then((r) => Number(r.n));
}
