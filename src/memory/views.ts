import type { MessageRow, ThreadRow } from './repository.ts';

export function threadView(row: ThreadRow, extra: { messageCount?: number } = {}) {
  return {
    id: row.thread_id,
    object: 'thread' as const,
    title: row.title,
    metadata: row.metadata as Record<string, unknown>,
    owner: { kind: row.owner_kind, id: row.owner_id },
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
    ...(extra.messageCount !== undefined && { messageCount: extra.messageCount }),
  };
}

export function messageView(row: MessageRow, content: string) {
  return {
    id: row.message_id,
    object: 'thread.message' as const,
    threadId: row.thread_id,
    role: row.role,
    content,
    tokens: row.tokens,
    createdAt: row.created_at.toISOString(),
  };
}
