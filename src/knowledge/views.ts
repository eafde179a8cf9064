import type { CollectionRow, DocumentRow } from './repository.ts';
import type { SearchHit } from './search.ts';

export function collectionView(row: CollectionRow) {
  return {
    id: row.collection_id,
    object: 'collection' as const,
    name: row.name,
    description: row.description,
    embeddingModel: row.embedding_model,
    dimensions: row.dimensions,
    chunking: { maxTokens: row.chunk_tokens, overlapTokens: row.chunk_overlap },
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

export function documentView(row: DocumentRow) {
  const restricted = row.allowed_users !== null || row.allowed_groups !== null;
  return {
    id: row.document_id,
    object: 'document' as const,
    collectionId: row.collection_id,
    externalId: row.external_id,
    title: row.title,
    sourceType: row.source_type,
    metadata: row.metadata,
    access: restricted
      ? { users: row.allowed_users ?? [], groups: row.allowed_groups ?? [] }
      : null,
    chars: row.chars,
    chunks: row.chunk_count,
    sha256: row.content_sha256,
    createdBy: row.created_by,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

/** A search result carries its citation: which document, where in it. */
export function hitView(hit: SearchHit) {
  return {
    object: 'search.result' as const,
    chunkId: hit.chunk_id,
    score: hit.score,
    content: hit.content,
    citation: {
      documentId: hit.document_id,
      externalId: hit.external_id,
      title: hit.title,
      heading: hit.heading,
      position: hit.position,
      startChar: hit.start_char,
      endChar: hit.end_char,
    },
  };
}
