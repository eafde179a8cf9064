import type { Selectable } from 'kysely';
import type { ChunksTable } from '../../db/schema.ts';
import type { OperatorTx } from '../../db/scope.ts';

/**
 * The operator's reads of one tenant's knowledge, memory and approvals. The operator role's
 * policies see every tenant, so every query here names the tenant itself (`where tenant_id`),
 * first, on every table it touches — the tenants' own repositories rely on RLS for that and cannot
 * be reused with an operator transaction.
 */

export function operatorListCollections(
  tx: OperatorTx,
  tenantId: string,
  page: { limit: number; after?: string | undefined },
) {
  let query = tx
    .selectFrom('collections')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .orderBy('collection_id')
    .limit(page.limit + 1);
  if (page.after !== undefined) query = query.where('collection_id', '>', page.after);
  return query.execute();
}

export function operatorFindCollection(tx: OperatorTx, tenantId: string, collectionId: string) {
  return tx
    .selectFrom('collections')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('collection_id', '=', collectionId)
    .executeTakeFirst();
}

export function operatorListDocuments(
  tx: OperatorTx,
  tenantId: string,
  collectionId: string,
  page: { limit: number; after?: string | undefined },
) {
  let query = tx
    .selectFrom('documents')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('collection_id', '=', collectionId)
    .orderBy('document_id')
    .limit(page.limit + 1);
  if (page.after !== undefined) query = query.where('document_id', '>', page.after);
  return query.execute();
}

export function operatorFindDocument(tx: OperatorTx, tenantId: string, documentId: string) {
  return tx
    .selectFrom('documents')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('document_id', '=', documentId)
    .executeTakeFirst();
}

/** A chunk as the operator sees it: its place in the document; its text only when asked for. */
export type OperatorChunk = Pick<
  Selectable<ChunksTable>,
  'chunk_id' | 'position' | 'start_char' | 'end_char' | 'tokens'
> &
  Partial<Pick<Selectable<ChunksTable>, 'heading' | 'content'>>;

/**
 * One page of a document's chunks in reading order; `after` is the last chunk id of the previous
 * page. The text columns are not even read unless `withText` (a grant is in force).
 */
export function operatorDocumentChunks(
  tx: OperatorTx,
  tenantId: string,
  documentId: string,
  page: { limit: number; after?: string | undefined; withText: boolean },
): Promise<OperatorChunk[]> {
  let query = tx
    .selectFrom('chunks')
    .select(['chunk_id', 'position', 'start_char', 'end_char', 'tokens'])
    .$if(page.withText, (q) => q.select(['heading', 'content']))
    .where('tenant_id', '=', tenantId)
    .where('document_id', '=', documentId)
    .orderBy('position')
    .limit(page.limit + 1);
  const after = page.after;
  if (after !== undefined) {
    query = query.where('position', '>', (eb) =>
      eb
        .selectFrom('chunks')
        .select('position')
        .where('tenant_id', '=', tenantId)
        .where('document_id', '=', documentId)
        .where('chunk_id', '=', after),
    );
  }
  return query.execute();
}

/** Every thread of the tenant, whoever owns it, newest first. */
export function operatorListThreads(
  tx: OperatorTx,
  tenantId: string,
  page: { limit: number; after?: string | undefined },
) {
  let query = tx
    .selectFrom('threads')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .orderBy('thread_id', 'desc')
    .limit(page.limit + 1);
  if (page.after !== undefined) query = query.where('thread_id', '<', page.after);
  return query.execute();
}

export function operatorFindThread(tx: OperatorTx, tenantId: string, threadId: string) {
  return tx
    .selectFrom('threads')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('thread_id', '=', threadId)
    .executeTakeFirst();
}

/** Oldest first; `after` is the last id of the previous page. */
export function operatorListMessages(
  tx: OperatorTx,
  tenantId: string,
  threadId: string,
  page: { limit: number; after?: string | undefined },
) {
  let query = tx
    .selectFrom('thread_messages')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('thread_id', '=', threadId)
    .orderBy('message_id')
    .limit(page.limit + 1);
  if (page.after !== undefined) query = query.where('message_id', '>', page.after);
  return query.execute();
}

export function operatorFindApproval(tx: OperatorTx, tenantId: string, approvalId: string) {
  return tx
    .selectFrom('approvals')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('approval_id', '=', approvalId)
    .executeTakeFirst();
}
