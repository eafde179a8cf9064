import type { FastifyRequest } from 'fastify';
import type { TenantContext } from '../../core/tenant-context.ts';
import { withTenant } from '../../db/scope.ts';
import type { Decision } from '../../governance/decisions.ts';
import type { PolicyDocument } from '../../governance/policy/schema.ts';
import type { AppDeps } from '../../http/app-types.ts';
import { type Citation, retrieveForChat } from '../../knowledge/rag.ts';
import { appendMessages, recentHistory } from '../../memory/history.ts';
import { type BulkheadExtension, type ChatMessage, messageText } from './schema.ts';

export interface ChatContext {
  messages: ChatMessage[];
  citations: Citation[];
  decisions: Decision[];
}

const isInstruction = (m: ChatMessage) => m.role === 'system' || m.role === 'developer';

/**
 * What the `bulkhead` field adds to a chat request before the policy sees it: the thread's recent
 * history (after the request's own system messages, before its turn), and sources retrieved from
 * the named collections. Both are read as the caller, inside its tenant; both then go through the
 * same input governance as the caller's own text.
 */
export async function buildChatContext(
  deps: AppDeps,
  ctx: TenantContext,
  http: FastifyRequest,
  policy: PolicyDocument,
  messages: ChatMessage[],
  extension: BulkheadExtension | undefined,
  signal: AbortSignal,
): Promise<ChatContext> {
  let withHistory = messages;
  if (extension?.thread !== undefined) {
    const thread = extension.thread;
    const history = await withTenant(deps.db, ctx, (tx) =>
      recentHistory(tx, deps.keyring, ctx, thread, policy.memory.historyTokens),
    );
    const at = messages.findIndex((m) => !isInstruction(m));
    const split = at === -1 ? messages.length : at;
    withHistory = [
      ...messages.slice(0, split),
      ...(history as ChatMessage[]),
      ...messages.slice(split),
    ];
  }
  if (extension?.collections === undefined) {
    return { messages: withHistory, citations: [], decisions: [] };
  }
  return retrieveForChat(
    deps,
    ctx,
    http,
    policy,
    {
      messages: withHistory,
      collections: extension.collections,
      topK: extension.topK,
      mode: extension.mode,
    },
    signal,
  );
}

/**
 * After an answer: the caller's new turn (as the provider saw it, PII redacted) and the answer join
 * the thread, in one transaction.
 */
export async function rememberExchange(
  deps: AppDeps,
  ctx: TenantContext,
  threadId: string,
  sent: readonly ChatMessage[],
  answer: string,
): Promise<void> {
  const turn = sent.findLast((m) => m.role === 'user');
  const messages = [
    ...(turn === undefined ? [] : [{ role: 'user' as const, content: messageText(turn) }]),
    { role: 'assistant' as const, content: answer },
  ];
  await withTenant(deps.db, ctx, (tx) =>
    appendMessages(tx, deps.keyring, ctx, threadId, messages, ctx.requestId),
  );
}
