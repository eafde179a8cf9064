import type { FastifyRequest } from 'fastify';
import type { TenantContext } from '../core/tenant-context.ts';
import { notFound } from '../core/errors.ts';
import { withTenant } from '../db/scope.ts';
import type { ChatMessage } from '../gateway/chat/schema.ts';
import { messageText } from '../gateway/chat/schema.ts';
import type { Decision } from '../governance/decisions.ts';
import { scoreInjection } from '../governance/injection/score.ts';
import type { PolicyDocument } from '../governance/policy/schema.ts';
import type { AppDeps } from '../http/app-types.ts';
import { countTextTokens } from '../metering/token-count.ts';
import { findCollection } from './repository.ts';
import { requireVector, searchCollection } from './retrieve.ts';
import type { SearchMode } from './schema.ts';
import { fuse, type SearchHit } from './search.ts';

export interface Citation {
  index: number;
  collectionId: string;
  documentId: string;
  externalId: string | null;
  title: string | null;
  heading: string | null;
  position: number;
  startChar: number;
  endChar: number;
  chunkId: string;
  score: number;
}

export interface Retrieved {
  /** The request's messages with the sources as a system message before the conversation. */
  messages: ChatMessage[];
  citations: Citation[];
  decisions: Decision[];
}

function sourcesMessage(hits: readonly SearchHit[]): ChatMessage {
  const sources = hits
    .map((hit, i) => {
      const label = [hit.title, hit.heading].filter((v) => v !== null).join(' — ');
      return `[${i + 1}]${label === '' ? '' : ` ${label}`}\n${hit.content}`;
    })
    .join('\n\n');
  return {
    role: 'system',
    content: `Answer from the numbered sources below and cite them as [1], [2]. If they do not contain the answer, say so.\n\n${sources}`,
  };
}

/**
 * Retrieval for a chat completion: the last user message searches the named collections (as the
 * caller: tenant scope and access lists apply), the best chunks within the policy's context budget
 * go into the prompt as numbered sources, and the answer carries them as citations. Retrieved text
 * is untrusted: chunks the injection scorer flags are left out, and the decision is recorded.
 */
export async function retrieveForChat(
  deps: AppDeps,
  ctx: TenantContext,
  http: FastifyRequest,
  policy: PolicyDocument,
  request: { messages: ChatMessage[]; collections: string[]; topK: number; mode: SearchMode },
  signal: AbortSignal,
): Promise<Retrieved> {
  requireVector(deps);
  const last = request.messages.findLast((m) => m.role === 'user');
  const query = last === undefined ? '' : messageText(last).trim();
  if (query === '') return { messages: request.messages, citations: [], decisions: [] };

  const lists: { collectionId: string; hits: SearchHit[] }[] = [];
  for (const collectionId of new Set(request.collections)) {
    const collection = await withTenant(deps.db, ctx, (tx) => findCollection(tx, collectionId));
    if (collection === undefined) throw notFound('collection', collectionId);
    const hits = await searchCollection(
      deps,
      ctx,
      http,
      policy,
      collection,
      { query: query.slice(0, 8000), topK: request.topK, mode: request.mode },
      signal,
    );
    lists.push({ collectionId, hits });
  }
  const collectionOf = new Map(
    lists.flatMap(({ collectionId, hits }) => hits.map((h) => [h.chunk_id, collectionId])),
  );
  const ranked =
    lists.length === 1
      ? lists[0]!.hits
      : fuse(
          lists.map((l) => l.hits),
          request.topK,
        );

  const decisions: Decision[] = [];
  const scan = policy.retrieval.scanForInjection && policy.injection.action !== 'off';
  const safe = scan
    ? ranked.filter((hit) => scoreInjection(hit.content).score < policy.injection.threshold)
    : ranked;
  if (safe.length < ranked.length) {
    decisions.push({
      rule: 'retrieval.injection',
      outcome: 'flagged',
      reason: `${ranked.length - safe.length} retrieved passage(s) left out: prompt-injection score ≥ ${policy.injection.threshold}`,
    });
  }
  const kept: SearchHit[] = [];
  let tokens = 0;
  for (const hit of safe) {
    const cost = countTextTokens(hit.content);
    if (tokens + cost > policy.retrieval.contextTokens) break;
    kept.push(hit);
    tokens += cost;
  }
  if (kept.length === 0) return { messages: request.messages, citations: [], decisions };

  const firstNonSystem = request.messages.findIndex(
    (m) => m.role !== 'system' && m.role !== 'developer',
  );
  const at = firstNonSystem === -1 ? request.messages.length : firstNonSystem;
  const messages = [
    ...request.messages.slice(0, at),
    sourcesMessage(kept),
    ...request.messages.slice(at),
  ];
  const citations = kept.map((hit, i) => ({
    index: i + 1,
    collectionId: collectionOf.get(hit.chunk_id)!,
    documentId: hit.document_id,
    externalId: hit.external_id,
    title: hit.title,
    heading: hit.heading,
    position: hit.position,
    startChar: hit.start_char,
    endChar: hit.end_char,
    chunkId: hit.chunk_id,
    score: hit.score,
  }));
  return { messages, citations, decisions };
}
