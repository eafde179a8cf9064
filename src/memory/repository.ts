import type { ExpressionBuilder, Insertable, Selectable } from 'kysely';
import type { Tables, ThreadMessagesTable, ThreadsTable } from '../db/schema.ts';
import type { TenantTx } from '../db/scope.ts';
import type { ThreadScope } from './ownership.ts';

export type ThreadRow = Selectable<ThreadsTable>;
export type MessageRow = Selectable<ThreadMessagesTable>;
/** A message as history walks it: its size, not its (sealed, possibly large) content. */
export type MessageCost = Pick<MessageRow, 'message_id' | 'tokens'>;

/** Row-level security keeps other tenants out; this keeps other principals' threads out. */
function inScope(scope: ThreadScope) {
  return (eb: ExpressionBuilder<Tables, 'threads'>) =>
    scope.kind === 'all'
      ? eb.lit(true)
      : eb.and([eb('owner_kind', '=', scope.owner.kind), eb('owner_id', '=', scope.owner.id)]);
}

export function insertThread(tx: TenantTx, row: Insertable<ThreadsTable>): Promise<ThreadRow> {
  return tx.insertInto('threads').values(row).returningAll().executeTakeFirstOrThrow();
}

export function findThread(
  tx: TenantTx,
  scope: ThreadScope,
  threadId: string,
): Promise<ThreadRow | undefined> {
  return tx
    .selectFrom('threads')
    .selectAll()
    .where('thread_id', '=', threadId)
    .where(inScope(scope))
    .executeTakeFirst();
}

/** Newest first; `after` is the last id of the previous page. */
export function listThreads(
  tx: TenantTx,
  scope: ThreadScope,
  page: { limit: number; after?: string | undefined },
): Promise<ThreadRow[]> {
  let query = tx
    .selectFrom('threads')
    .selectAll()
    .where(inScope(scope))
    .orderBy('thread_id', 'desc')
    .limit(page.limit + 1);
  if (page.after !== undefined) query = query.where('thread_id', '<', page.after);
  return query.execute();
}

export function updateThread(
  tx: TenantTx,
  scope: ThreadScope,
  threadId: string,
  changes: { title?: string | null; metadata?: Record<string, unknown>; updatedAt: Date },
): Promise<ThreadRow | undefined> {
  return tx
    .updateTable('threads')
    .set({
      ...(changes.title !== undefined && { title: changes.title }),
      ...(changes.metadata !== undefined && { metadata: JSON.stringify(changes.metadata) }),
      updated_at: changes.updatedAt,
    })
    .where('thread_id', '=', threadId)
    .where(inScope(scope))
    .returningAll()
    .executeTakeFirst();
}

/** The thread's messages go with it (foreign key on delete cascade). */
export function deleteThread(
  tx: TenantTx,
  scope: ThreadScope,
  threadId: string,
): Promise<ThreadRow | undefined> {
  return tx
    .deleteFrom('threads')
    .where('thread_id', '=', threadId)
    .where(inScope(scope))
    .returningAll()
    .executeTakeFirst();
}

/**
 * Bumps `updated_at` of a thread the scope may change and locks its row until the transaction
 * ends, so appends to one thread are serialised (their ids then increase in commit order).
 */
export function touchThreadForAppend(
  tx: TenantTx,
  scope: ThreadScope,
  threadId: string,
  now: Date,
): Promise<ThreadRow | undefined> {
  return tx
    .updateTable('threads')
    .set({ updated_at: now })
    .where('thread_id', '=', threadId)
    .where(inScope(scope))
    .returningAll()
    .executeTakeFirst();
}

export async function countMessages(tx: TenantTx, threadId: string): Promise<number> {
  const row = await tx
    .selectFrom('thread_messages')
    .select((eb) => eb.fn.countAll().as('n'))
    .where('thread_id', '=', threadId)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

export async function newestMessageId(tx: TenantTx, threadId: string): Promise<string | null> {
  const row = await tx
    .selectFrom('thread_messages')
    .select('message_id')
    .where('thread_id', '=', threadId)
    .orderBy('message_id', 'desc')
    .limit(1)
    .executeTakeFirst();
  return row?.message_id ?? null;
}

export function insertMessages(
  tx: TenantTx,
  rows: Insertable<ThreadMessagesTable>[],
): Promise<MessageRow[]> {
  return tx.insertInto('thread_messages').values(rows).returningAll().execute();
}

/** Oldest first; `after` is the last id of the previous page. */
export function listMessages(
  tx: TenantTx,
  threadId: string,
  page: { limit: number; after?: string | undefined },
): Promise<MessageRow[]> {
  let query = tx
    .selectFrom('thread_messages')
    .selectAll()
    .where('thread_id', '=', threadId)
    .orderBy('message_id')
    .limit(page.limit + 1);
  if (page.after !== undefined) query = query.where('message_id', '>', page.after);
  return query.execute();
}

/** One batch of message sizes, newest first, older than `before` (null: from the newest). */
export function messageCostsBefore(
  tx: TenantTx,
  threadId: string,
  before: string | null,
  limit: number,
): Promise<MessageCost[]> {
  let query = tx
    .selectFrom('thread_messages')
    .select(['message_id', 'tokens'])
    .where('thread_id', '=', threadId)
    .orderBy('message_id', 'desc')
    .limit(limit);
  if (before !== null) query = query.where('message_id', '<', before);
  return query.execute();
}

/** The messages from `first` to `last` (ids, inclusive), oldest first. */
export function messagesBetween(
  tx: TenantTx,
  threadId: string,
  first: string,
  last: string,
): Promise<MessageRow[]> {
  return tx
    .selectFrom('thread_messages')
    .selectAll()
    .where('thread_id', '=', threadId)
    .where('message_id', '>=', first)
    .where('message_id', '<=', last)
    .orderBy('message_id')
    .execute();
}
