import { notFound } from '../core/errors.ts';
import type { TenantContext } from '../core/tenant-context.ts';
import type { TenantTx } from '../db/scope.ts';
import type { TenantKeyring } from '../secrets/tenant-keyring.ts';
import { addMessages, type NewMessage, openMessages } from './messages.ts';
import { threadScope } from './ownership.ts';
import {
  findThread,
  type MessageCost,
  messageCostsBefore,
  messagesBetween,
  type ThreadRow,
} from './repository.ts';

export type { NewMessage } from './messages.ts';
export type { MessageRole } from './schema.ts';
export type { ThreadRow } from './repository.ts';

/**
 * What a message costs in a prompt: its content tokens plus OpenAI's per-message chat framing
 * (the same 3 that `countChatTokens` adds). Counting the framing also means a budget admits a
 * bounded number of messages, however many empty ones a thread holds.
 */
export const MESSAGE_FRAMING_TOKENS = 3;

/** How many message sizes one backward step reads; history never loads a whole long thread. */
export const HISTORY_BATCH = 200;

/**
 * The budget rule on one batch, newest first: takes messages while they fit in what is left of the
 * budget, and stops at the first that does not (`full`), whole messages only.
 */
export function fitNewest(
  tokensNewestFirst: readonly number[],
  remaining: number,
): { taken: number; used: number; full: boolean } {
  let used = 0;
  for (let i = 0; i < tokensNewestFirst.length; i++) {
    const cost = tokensNewestFirst[i]! + MESSAGE_FRAMING_TOKENS;
    if (used + cost > remaining) return { taken: i, used, full: true };
    used += cost;
  }
  return { taken: tokensNewestFirst.length, used, full: false };
}

/** The thread if the principal may use it, else BkError BK_NOT_FOUND (same as missing). */
export async function threadForChat(
  tx: TenantTx,
  ctx: TenantContext,
  threadId: string,
): Promise<ThreadRow> {
  const thread = await findThread(tx, threadScope(ctx), threadId);
  if (thread === undefined) throw notFound('thread', threadId);
  return thread;
}

/**
 * The most recent messages of a thread that fit in `tokenBudget` tokens, oldest first, for a chat
 * completion's prompt. The rule: walk back from the newest message and stop before the first one
 * that would exceed the budget. Whole messages only, each costing its tokens plus
 * MESSAGE_FRAMING_TOKENS; everything older than that point is dropped, not summarised (a message
 * larger than the whole budget therefore ends the history, even if older ones are small).
 *
 * The walk reads only message sizes, newest first, HISTORY_BATCH at a time, then opens just the
 * messages it keeps: a long thread costs a few index reads, never a read of every message.
 */
export async function recentHistory(
  tx: TenantTx,
  keyring: TenantKeyring,
  ctx: TenantContext,
  threadId: string,
  tokenBudget: number,
): Promise<{ role: string; content: string }[]> {
  await threadForChat(tx, ctx, threadId);
  let newest: string | null = null;
  let oldest: string | null = null;
  let remaining = tokenBudget;
  let before: string | null = null;
  while (remaining > 0) {
    const batch: MessageCost[] = await messageCostsBefore(tx, threadId, before, HISTORY_BATCH);
    const fit = fitNewest(
      batch.map((m) => m.tokens),
      remaining,
    );
    if (fit.taken > 0) {
      newest ??= batch[0]!.message_id;
      oldest = batch[fit.taken - 1]!.message_id;
      remaining -= fit.used;
    }
    if (fit.full || batch.length < HISTORY_BATCH) break;
    before = batch.at(-1)!.message_id;
  }
  if (newest === null || oldest === null) return [];
  const rows = await messagesBetween(tx, threadId, oldest, newest);
  const contents = await openMessages(tx, keyring, ctx.tenantId, rows);
  return rows.map((row, i) => ({ role: row.role, content: contents[i]! }));
}

/**
 * Appends messages (the user's turn and the answer) in order, in the caller's transaction; bumps
 * the thread's updated_at. Content is sealed with the tenant's key; the append is an audit event
 * (roles and token counts, no content). A thread the principal may not use is BK_NOT_FOUND.
 */
export async function appendMessages(
  tx: TenantTx,
  keyring: TenantKeyring,
  ctx: TenantContext,
  threadId: string,
  messages: NewMessage[],
  requestId: string | null,
): Promise<void> {
  await addMessages(tx, keyring, ctx, threadId, messages, { requestId, now: new Date() });
}
