import type { ColumnType, Generated } from 'kysely';

/** Column types as the database returns them; the migrations in ./migrations are the source of truth. */
type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type NullableTimestamp = ColumnType<
  Date | null,
  Date | string | null | undefined,
  Date | string | null
>;
type BigintColumn = ColumnType<string, number | bigint | string, number | bigint | string>;

export interface TenantsTable {
  tenant_id: string;
  name: string;
  status: Generated<'active' | 'suspended'>;
  created_at: Generated<Date>;
  updated_at: Timestamp;
}

export interface TenantDataKeysTable {
  tenant_id: string;
  key_version: number;
  wrapped_key: Uint8Array;
  created_at: Generated<Date>;
}

export interface UsersTable {
  tenant_id: string;
  user_id: string;
  subject: string | null;
  email: string | null;
  display_name: string | null;
  role: string;
  created_at: Generated<Date>;
  updated_at: Timestamp;
  groups: Generated<string[]>;
}

export interface ApiKeysTable {
  tenant_id: string;
  key_id: string;
  name: string;
  key_hash: Uint8Array;
  display_prefix: string;
  role: string;
  scopes: string[] | null;
  user_id: string | null;
  created_by: string;
  expires_at: NullableTimestamp;
  revoked_at: NullableTimestamp;
  last_used_at: NullableTimestamp;
  created_at: Generated<Date>;
}

export interface ProvidersTable {
  tenant_id: string;
  provider_id: string;
  name: string;
  kind: 'openai' | 'anthropic';
  base_url: string;
  sealed_api_key: Uint8Array | null;
  api_key_header: string;
  default_query: ColumnType<Record<string, string>, string, string>;
  region: string | null;
  models: string[];
  created_at: Generated<Date>;
  updated_at: Timestamp;
}

export interface UsageRecordsTable {
  tenant_id: string;
  usage_id: string;
  request_id: string;
  principal_kind: string;
  principal_id: string;
  api_key_id: string | null;
  provider: string;
  model: string;
  operation: 'chat' | 'embeddings' | 'search';
  stream: boolean;
  input_tokens: number;
  output_tokens: number;
  tokens_counted_by: 'provider' | 'bulkhead';
  latency_ms: number;
  status: 'ok' | 'error' | 'cancelled';
  http_status: number;
  error_code: string | null;
  cost_nano_usd: BigintColumn;
  price_version: string;
  created_at: Timestamp;
  cache_hit: Generated<boolean>;
}

export interface OperatorActionsTable {
  action_id: string;
  at: Generated<Date>;
  operator: string;
  reason: string;
  target_tenant_id: string | null;
}

export interface AuditHeadsTable {
  tenant_id: string;
  seq: BigintColumn;
  hash: Uint8Array;
}

export interface AuditEventsTable {
  tenant_id: string;
  seq: BigintColumn;
  event_id: string;
  at: Timestamp;
  actor_kind: 'api_key' | 'user' | 'operator' | 'system';
  actor_id: string;
  action: string;
  resource_type: string;
  resource_id: string | null;
  decision: string;
  rule: string | null;
  request_id: string | null;
  details: ColumnType<Record<string, unknown>, string, string>;
  sealed_payload: Uint8Array | null;
  /** SHA-256(salt ‖ payload) for events since 0010; null before, and for events without payload. */
  payload_commitment: Uint8Array | null;
  prev_hash: Uint8Array;
  hash: Uint8Array;
}

/** The publisher's record of each tenant's last signed checkpoint (src/audit/anchor). */
export interface AuditAnchorsTable {
  tenant_id: string;
  seq: BigintColumn;
  hash: Uint8Array;
  checkpoint: string;
  claimed_at: Timestamp;
  published_at: NullableTimestamp;
}

export interface AccessGrantsTable {
  tenant_id: string;
  grant_id: string;
  scope: 'audit:payloads' | 'documents:content' | 'threads:content' | 'approvals:content';
  reason: string;
  granted_by: string;
  expires_at: Timestamp;
  revoked_at: NullableTimestamp;
  created_at: Generated<Date>;
}

export interface PoliciesTable {
  tenant_id: string;
  version: number;
  document: unknown;
  author: string;
  comment: string | null;
  created_at: Generated<Date>;
}

export type ApprovalStatus = 'pending' | 'approved' | 'denied' | 'expired' | 'completed' | 'failed';

export interface ApprovalsTable {
  tenant_id: string;
  approval_id: string;
  status: ApprovalStatus;
  operation: 'chat';
  model: string;
  rule: string;
  reason: string;
  estimated_cost_nano_usd: BigintColumn;
  estimated_tokens: number;
  requested_by_kind: 'api_key' | 'user';
  requested_by: string;
  requested_by_user: string | null;
  requested_role: string;
  request_id: string;
  sealed_request: Uint8Array;
  sealed_result: Uint8Array | null;
  error_code: string | null;
  decided_by: string | null;
  decision_note: string | null;
  decided_at: NullableTimestamp;
  expires_at: Timestamp;
  created_at: Generated<Date>;
  completed_at: NullableTimestamp;
}

export interface CollectionsTable {
  tenant_id: string;
  collection_id: string;
  name: string;
  description: string | null;
  embedding_model: string;
  dimensions: number;
  chunk_tokens: number;
  chunk_overlap: number;
  created_at: Generated<Date>;
  updated_at: Timestamp;
}

export type SourceType = 'text' | 'markdown' | 'html' | 'pdf';

export interface DocumentsTable {
  tenant_id: string;
  document_id: string;
  collection_id: string;
  external_id: string | null;
  title: string | null;
  source_type: SourceType;
  metadata: unknown;
  content_sha256: string;
  chars: number;
  chunk_count: number;
  allowed_users: string[] | null;
  allowed_groups: string[] | null;
  created_by: string;
  created_at: Generated<Date>;
  updated_at: Timestamp;
}

export interface ChunksTable {
  tenant_id: string;
  chunk_id: string;
  collection_id: string;
  document_id: string;
  position: number;
  heading: string | null;
  content: string;
  start_char: number;
  end_char: number;
  tokens: number;
  allowed_users: string[] | null;
  allowed_groups: string[] | null;
  dims: number;
  /** pgvector text form ('[0.1,0.2,…]'); only where the extension is installed. */
  embedding: string | null;
}

export interface IngestJobsTable {
  tenant_id: string;
  job_id: string;
  collection_id: string;
  status: 'queued' | 'running' | 'succeeded' | 'failed';
  source_type: string;
  external_id: string | null;
  total_chunks: number | null;
  embedded_chunks: Generated<number>;
  document_id: string | null;
  error_code: string | null;
  error_message: string | null;
  created_by: string;
  created_at: Generated<Date>;
  updated_at: Timestamp;
}

export interface ThreadsTable {
  tenant_id: string;
  thread_id: string;
  owner_kind: 'user' | 'api_key';
  owner_id: string;
  title: string | null;
  metadata: unknown;
  created_at: Generated<Date>;
  updated_at: Timestamp;
}

export interface ThreadMessagesTable {
  tenant_id: string;
  thread_id: string;
  message_id: string;
  role: 'system' | 'developer' | 'user' | 'assistant' | 'tool';
  sealed_content: Uint8Array;
  tokens: number;
  request_id: string | null;
  created_at: Generated<Date>;
}

export interface TenantTombstonesTable {
  deleted_tenant_id: string;
  name: string;
  deleted_at: Generated<Date>;
  operator: string;
  reason: string;
  rows_removed: ColumnType<Record<string, number>, string, string>;
  /** Whether its key-encryption key is gone from the key store (null: not tracked here). */
  key_destroyed: ColumnType<boolean | null, boolean | null | undefined, boolean | null>;
}

export interface TenantPlacementsTable {
  tenant_id: string;
  state: 'moving' | 'silo' | 'away';
  silo_id: string | null;
  sealed_url: Uint8Array | null;
  updated_at: Generated<Date>;
}

export interface Tables {
  tenants: TenantsTable;
  tenant_data_keys: TenantDataKeysTable;
  users: UsersTable;
  api_keys: ApiKeysTable;
  providers: ProvidersTable;
  usage_records: UsageRecordsTable;
  operator_actions: OperatorActionsTable;
  audit_heads: AuditHeadsTable;
  audit_events: AuditEventsTable;
  audit_anchors: AuditAnchorsTable;
  access_grants: AccessGrantsTable;
  tenant_tombstones: TenantTombstonesTable;
  policies: PoliciesTable;
  approvals: ApprovalsTable;
  collections: CollectionsTable;
  documents: DocumentsTable;
  chunks: ChunksTable;
  threads: ThreadsTable;
  thread_messages: ThreadMessagesTable;
  ingest_jobs: IngestJobsTable;
  tenant_placements: TenantPlacementsTable;
}
