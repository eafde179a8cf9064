import { sql } from 'kysely';
import type { TenantTx } from '../db/scope.ts';
import { INDEXED_DIMENSIONS } from '../db/migrations/0007-knowledge.ts';
import type { SearchMode } from './schema.ts';

/** Who is reading: a document with an access list is visible only to its users and groups. */
export interface Reader {
  userId: string | null;
  groups: readonly string[];
}

export interface SearchHit {
  chunk_id: string;
  document_id: string;
  position: number;
  heading: string | null;
  content: string;
  start_char: number;
  end_char: number;
  title: string | null;
  external_id: string | null;
  score: number;
}

/**
 * Below this many chunks in a collection, vector search is exact (a scan of the collection's rows
 * through its index): about 3 µs a chunk on a small machine (bench/filtered-search.ts), and exactly
 * right. Above it, the HNSW index with pgvector's iterative scan keeps the tenant's and the
 * reader's filters from starving the result; ef_search 800 was the best recall measured there.
 */
export const EXACT_SEARCH_MAX_CHUNKS = 50_000;
const RRF_K = 60;

/** The access-list filter, in the query itself: chunks the reader cannot read are never ranked. */
function readable(reader: Reader) {
  const groups = `{${reader.groups.map((g) => `"${g.replace(/(["\\])/g, '\\$1')}"`).join(',')}}`;
  return sql<boolean>`((c.allowed_users is null and c.allowed_groups is null)
    or ${reader.userId ?? ''} = any(coalesce(c.allowed_users, '{}'))
    or coalesce(c.allowed_groups, '{}') && ${groups}::text[])`;
}

const hitColumns = sql`c.chunk_id, c.document_id, c.position, c.heading, c.content, c.start_char,
  c.end_char, d.title, d.external_id`;

export async function vectorSearch(
  tx: TenantTx,
  options: {
    collectionId: string;
    dims: number;
    embedding: readonly number[];
    reader: Reader;
    limit: number;
    collectionSize: number;
  },
): Promise<SearchHit[]> {
  const { collectionId, dims, reader, limit } = options;
  const query = `[${options.embedding.join(',')}]`;
  const indexed =
    options.collectionSize > EXACT_SEARCH_MAX_CHUNKS &&
    (INDEXED_DIMENSIONS as readonly number[]).includes(dims);
  if (!indexed) {
    // Ranked on the chunks alone (their access lists are copied from the document), then joined
    // to their documents for the few that are returned: half the work of joining every row.
    const rows = await sql<SearchHit>`
      with nearest as materialized (
        select c.chunk_id, c.document_id, c.position, c.heading, c.content, c.start_char,
          c.end_char, c.embedding <=> ${query}::vector as distance
        from chunks c
        where c.collection_id = ${collectionId} and c.dims = ${dims} and ${readable(reader)}
        order by distance, c.chunk_id
        limit ${limit}
      )
      select n.chunk_id, n.document_id, n.position, n.heading, n.content, n.start_char,
        n.end_char, d.title, d.external_id, 1 - n.distance as score
      from nearest n join documents d on d.document_id = n.document_id
      order by n.distance, n.chunk_id`.execute(tx);
    return rows.rows.map(numericScore);
  }
  // The HNSW index is on embedding::vector(dims) for rows of that dimension. Iterative scan in
  // relaxed order goes on past the first ef_search candidates while filters reject them; the outer
  // query restores the exact order among what it found.
  await sql`select set_config('hnsw.iterative_scan', 'relaxed_order', true),
    set_config('hnsw.ef_search', ${String(Math.max(800, limit * 4))}, true),
    set_config('hnsw.max_scan_tuples', '100000', true)`.execute(tx);
  const cast = sql.raw(`vector(${dims})`);
  const rows = await sql<SearchHit>`
    with nearest as materialized (
      select ${hitColumns}, c.embedding::${cast} <=> ${query}::${cast} as distance
      from chunks c join documents d on d.tenant_id = c.tenant_id and d.document_id = c.document_id
      where c.dims = ${dims} and c.collection_id = ${collectionId} and ${readable(reader)}
      order by c.embedding::${cast} <=> ${query}::${cast}
      limit ${limit}
    )
    select chunk_id, document_id, position, heading, content, start_char, end_char, title,
      external_id, 1 - distance as score
    from nearest order by distance, chunk_id`.execute(tx);
  return rows.rows.map(numericScore);
}

/**
 * Any of the query's words (stemmed, stop words dropped), not all of them: a question in natural
 * language rarely has every word in one passage. Ranking still favours chunks that match more of
 * them, and closer together. plainto_tsquery yields only quoted lexemes joined by '&', so turning
 * each '&' into '|' is safe.
 */
function anyTerm(query: string) {
  return sql`replace(plainto_tsquery('english', ${query})::text, '&', '|')::tsquery`;
}

export async function keywordSearch(
  tx: TenantTx,
  options: { collectionId: string; query: string; reader: Reader; limit: number },
): Promise<SearchHit[]> {
  const rows = await sql<SearchHit>`
    select ${hitColumns}, ts_rank_cd(c.tsv, t.q) as score
    from chunks c
      join documents d on d.tenant_id = c.tenant_id and d.document_id = c.document_id
      cross join (select ${anyTerm(options.query)} as q) t
    where c.collection_id = ${options.collectionId} and c.tsv @@ t.q and ${readable(options.reader)}
    order by score desc, c.chunk_id
    limit ${options.limit}`.execute(tx);
  return rows.rows.map(numericScore);
}

function numericScore(hit: SearchHit): SearchHit {
  return { ...hit, score: Number(hit.score) };
}

/**
 * Reciprocal rank fusion (Cormack et al., 2009): each list contributes 1 / (k + rank) per chunk.
 * Ranks, not raw scores, so cosine similarities and text ranks need no common scale.
 */
export function fuse(lists: readonly SearchHit[][], limit: number): SearchHit[] {
  const fused = new Map<string, { hit: SearchHit; score: number }>();
  for (const list of lists) {
    list.forEach((hit, rank) => {
      const entry = fused.get(hit.chunk_id) ?? { hit, score: 0 };
      entry.score += 1 / (RRF_K + rank + 1);
      fused.set(hit.chunk_id, entry);
    });
  }
  return [...fused.values()]
    .sort((a, b) => b.score - a.score || a.hit.chunk_id.localeCompare(b.hit.chunk_id))
    .slice(0, limit)
    .map(({ hit, score }) => ({ ...hit, score }));
}

export type { SearchMode };
