import { APP_ROLE, OPERATOR_ROLE } from '../roles.ts';
import { fence } from './fence.ts';

/** Document ingests run in the background when asked to: their status and progress, per tenant. */
export const ingestJobs = {
  id: '0009-ingest-jobs',
  sql: `
create table ingest_jobs (
  tenant_id text not null,
  job_id text not null,
  collection_id text not null,
  status text not null check (status in ('queued', 'running', 'succeeded', 'failed')),
  source_type text not null,
  external_id text,
  total_chunks integer,
  embedded_chunks integer not null default 0,
  document_id text,
  error_code text,
  error_message text,
  created_by text not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (tenant_id, job_id),
  foreign key (tenant_id, collection_id) references collections (tenant_id, collection_id) on delete cascade
);
${fence('ingest_jobs')}
grant select, insert, update, delete on ingest_jobs to ${APP_ROLE};
grant select on ingest_jobs to ${OPERATOR_ROLE};
`,
};
