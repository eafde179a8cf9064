import { type ChatMessage, messageText } from '../../chat/schema.ts';
import { alignToQuery } from './align-terms.ts';
import { bm25Scores } from './bm25.ts';
import { contentTerms } from './content-terms.ts';
import { splitSentences } from './sentences.ts';

/** Opens every local/extractive answer, so no reader mistakes it for a generated one. */
export const EXTRACTIVE_MARKER =
  '(Extractive answer from the supplied context; local/extractive is not a generative model.)';
export const NO_CONTEXT_ANSWER = 'No context was supplied, so there is nothing to answer from.';
export const NO_MATCH_ANSWER = 'None of the supplied context answers this question.';

const MAX_SENTENCES = 3;
// Weaker sentences join the best one only when they are close to it, so a clear answer does not
// come padded with distractors that happen to share a word.
const RELATIVE_CUTOFF = 0.5;

/**
 * Answers the last user message with the context sentences (from every other message) that overlap
 * it most, in the order they appear; says so plainly when none do.
 */
export function extractAnswer(messages: readonly ChatMessage[]): string {
  const queryIndex = messages.findLastIndex((message) => message.role === 'user');
  const query = queryIndex === -1 ? '' : messageText(messages[queryIndex]!);
  const context = distinct(
    messages
      .filter((_, index) => index !== queryIndex)
      .flatMap((message) => splitSentences(messageText(message))),
  );
  const picked = mostRelevant(query, context);
  const body =
    context.length === 0
      ? NO_CONTEXT_ANSWER
      : picked.length === 0
        ? NO_MATCH_ANSWER
        : picked.join(' ');
  return `${EXTRACTIVE_MARKER}\n\n${body}`;
}

function mostRelevant(query: string, sentences: readonly string[]): string[] {
  const queryTerms = [...new Set(contentTerms(query))];
  if (queryTerms.length === 0 || sentences.length === 0) return [];
  const sentenceTerms = sentences.map((sentence) =>
    alignToQuery(contentTerms(sentence), queryTerms),
  );
  const scores = creditAnswers(sentences, bm25Scores(queryTerms, sentenceTerms));
  const ranked = scores
    .map((score, index) => ({ index, score }))
    .filter((candidate) => candidate.score > 0)
    .sort((a, b) => b.score - a.score || a.index - b.index);
  const best = ranked[0]?.score ?? 0;
  return ranked
    .filter((candidate) => candidate.score >= best * RELATIVE_CUTOFF)
    .slice(0, MAX_SENTENCES)
    .sort((a, b) => a.index - b.index)
    .map((candidate) => sentences[candidate.index]!);
}

/**
 * A question in the context does not answer the query, but the sentence after it usually does (an
 * FAQ's "Q: … A: …", an earlier user question and the assistant's reply): it takes the question's
 * score.
 */
function creditAnswers(sentences: readonly string[], scores: readonly number[]): number[] {
  const credited = [...scores];
  for (let i = 0; i < sentences.length; i++) {
    if (!sentences[i]!.endsWith('?')) continue;
    if (i + 1 < credited.length) credited[i + 1]! += credited[i]!;
    credited[i] = 0;
  }
  return credited;
}

// Text repeated across turns (a resent system prompt) would otherwise be quoted, and counted, twice.
function distinct(sentences: readonly string[]): string[] {
  return [...new Set(sentences)];
}
