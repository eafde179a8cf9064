import { APP_ROLE, OPERATOR_ROLE } from '../roles.ts';
import { fence } from './fence.ts';

/**
 * Collections, documents and their chunks. Chunks carry the document's access list, so search
 * filters on it in the same scan that ranks them. The embedding column needs pgvector, which a
 * PostgreSQL server may lack: it is added by `knowledgeVectorSql` whenever the extension is
 * present (at every migrate, idempotently), never by this migration.
 */
export const knowledge = {
  id: '0007-knowledge',
  sql: `
create table collections (
  tenant_id text not null references tenants (tenant_id),
  collection_id text not null,
  name text not null,
  description text,
  embedding_model text not null,
  dimensions integer not null check (dimensions between 1 and 16000),
  chunk_tokens integer not null check (chunk_tokens between 32 and 8000),
  chunk_overlap integer not null check (chunk_overlap >= 0 and chunk_overlap < chunk_tokens),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (tenant_id, collection_id),
  unique (tenant_id, name)
);
${fence('collections')}
grant select, insert, update, delete on collections to ${APP_ROLE};
grant select on collections to ${OPERATOR_ROLE};

create table documents (
  tenant_id text not null,
  document_id text not null,
  collection_id text not null,
  external_id text,
  title text,
  source_type text not null check (source_type in ('text', 'markdown', 'html', 'pdf')),
  metadata jsonb not null default '{}',
  content_sha256 text not null,
  chars integer not null,
  chunk_count integer not null,
  allowed_users text[],
  allowed_groups text[],
  created_by text not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (tenant_id, document_id),
  foreign key (tenant_id, collection_id) references collections (tenant_id, collection_id) on delete cascade,
  unique (tenant_id, collection_id, external_id)
);
${fence('documents')}
grant select, insert, update, delete on documents to ${APP_ROLE};
grant select on documents to ${OPERATOR_ROLE};

create table chunks (
  tenant_id text not null,
  chunk_id text not null,
  collection_id text not null,
  document_id text not null,
  position integer not null,
  heading text,
  content text not null,
  start_char integer not null,
  end_char integer not null,
  tokens integer not null,
  allowed_users text[],
  allowed_groups text[],
  dims integer not null,
  tsv tsvector generated always as (to_tsvector('english', coalesce(heading, '') || ' ' || content)) stored,
  primary key (tenant_id, chunk_id),
  foreign key (tenant_id, document_id) references documents (tenant_id, document_id) on delete cascade
);
create index chunks_by_collection on chunks (tenant_id, collection_id);
create index chunks_by_document on chunks (tenant_id, document_id, position);
create index chunks_tsv on chunks using gin (tsv);
${fence('chunks')}
grant select, insert, update, delete on chunks to ${APP_ROLE};
grant select on chunks to ${OPERATOR_ROLE};

-- Document access lists name users and groups; a user's groups are set by tenant admins.
alter table users add column groups text[] not null default '{}';

-- A search is metered like any AI call (its query is embedded with the collection's model).
alter table usage_records drop constraint usage_records_operation_check;
alter table usage_records add constraint usage_records_operation_check
  check (operation in ('chat', 'embeddings', 'search'));
`,
};

/** The dimensions that get an HNSW index (pgvector indexes a fixed dimension); others are searched exactly. */
export const INDEXED_DIMENSIONS = [384, 512, 768, 1024, 1536] as const;

export const knowledgeVectorSql = `
alter table chunks add column if not exists embedding vector;
${INDEXED_DIMENSIONS.map(
  (d) =>
    `create index if not exists chunks_embedding_${d} on chunks using hnsw ((embedding::vector(${d})) vector_cosine_ops) where dims = ${d};`,
).join('\n')}
`;
