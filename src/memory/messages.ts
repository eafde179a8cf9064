import { recordChange } from '../audit/append.ts';
import { notFound } from '../core/errors.ts';
import type { TenantContext } from '../core/tenant-context.ts';
import type { TenantTx } from '../db/scope.ts';
import { countTextTokens } from '../metering/token-count.ts';
import type { TenantKeyring } from '../secrets/tenant-keyring.ts';
import { nextMessageIds } from './message-ids.ts';
import { threadScope } from './ownership.ts';
import {
  insertMessages,
  type MessageRow,
  newestMessageId,
  touchThreadForAppend,
} from './repository.ts';
import type { MessageRole } from './schema.ts';

/** Message content is tenant content: sealed with the tenant's data key, for this purpose. */
export const THREAD_MESSAGE_PURPOSE = 'thread-message';

export interface NewMessage {
  role: MessageRole;
  content: string;
}

/**
 * Appends messages to a thread the principal may change, in order, in the caller's transaction:
 * locks and bumps the thread, seals every content with one read of the data key, and records one
 * audit event (ids, roles and token counts; never the content). Returns the stored rows.
 */
export async function addMessages(
  tx: TenantTx,
  keyring: TenantKeyring,
  ctx: TenantContext,
  threadId: string,
  messages: readonly NewMessage[],
  options: { requestId: string | null; now: Date },
): Promise<MessageRow[]> {
  const thread = await touchThreadForAppend(tx, threadScope(ctx), threadId, options.now);
  if (thread === undefined) throw notFound('thread', threadId);
  if (messages.length === 0) return [];
  const ids = nextMessageIds(
    await newestMessageId(tx, threadId),
    messages.length,
    options.now.getTime(),
  );
  const sealed = await keyring.sealManyForTenant(
    tx,
    ctx.tenantId,
    THREAD_MESSAGE_PURPOSE,
    messages.map((m) => m.content),
  );
  const rows = await insertMessages(
    tx,
    messages.map((m, i) => ({
      tenant_id: ctx.tenantId,
      thread_id: threadId,
      message_id: ids[i]!,
      role: m.role,
      sealed_content: sealed[i]!,
      tokens: countTextTokens(m.content),
      request_id: options.requestId,
      created_at: options.now,
    })),
  );
  rows.sort((x, y) => (x.message_id < y.message_id ? -1 : 1));
  await recordChange(tx, keyring, ctx, {
    action: 'thread.message.create',
    resource: { type: 'thread', id: threadId },
    details: {
      messages: rows.map((r) => ({ id: r.message_id, role: r.role, tokens: r.tokens })),
    },
  });
  return rows;
}

/**
 * The plain text of stored messages, with one read of the data key. A message that does not open
 * (altered in the database) fails the read: a conversation with a silently missing turn would
 * mislead both the reader and the model.
 */
export async function openMessages(
  tx: TenantTx,
  keyring: TenantKeyring,
  tenantId: string,
  rows: readonly MessageRow[],
): Promise<string[]> {
  const opened = await keyring.openManyForTenant(
    tx,
    tenantId,
    THREAD_MESSAGE_PURPOSE,
    rows.map((r) => r.sealed_content),
  );
  return opened.map((text, i) => {
    if (text === null) throw new Error(`thread message ${rows[i]!.message_id} does not open`);
    return text;
  });
}
