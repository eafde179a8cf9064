import { APP_ROLE, OPERATOR_ROLE } from '../roles.ts';
import { fence } from './fence.ts';

/**
 * Per-tenant policy documents (every version kept: history and rollback) and requests held for
 * human approval. A held request is tenant content, so it is sealed with the tenant's data key,
 * as is the result of running it.
 */
export const governance = {
  id: '0006-governance',
  sql: `
create table policies (
  tenant_id text not null references tenants (tenant_id),
  version integer not null check (version > 0),
  document jsonb not null,
  author text not null,
  comment text,
  created_at timestamptz not null default now(),
  primary key (tenant_id, version)
);
${fence('policies')}
grant select, insert on policies to ${APP_ROLE};
grant select on policies to ${OPERATOR_ROLE};

create table approvals (
  tenant_id text not null references tenants (tenant_id),
  approval_id text not null,
  status text not null check (status in ('pending', 'approved', 'denied', 'expired', 'completed', 'failed')),
  operation text not null check (operation in ('chat')),
  model text not null,
  rule text not null,
  reason text not null,
  estimated_cost_nano_usd bigint not null,
  estimated_tokens integer not null,
  requested_by_kind text not null,
  requested_by text not null,
  requested_by_user text,
  requested_role text not null,
  request_id text not null,
  sealed_request bytea not null,
  sealed_result bytea,
  error_code text,
  decided_by text,
  decision_note text,
  decided_at timestamptz,
  expires_at timestamptz not null,
  created_at timestamptz not null default now(),
  completed_at timestamptz,
  primary key (tenant_id, approval_id)
);
create index approvals_by_status on approvals (tenant_id, status, created_at);
${fence('approvals')}
grant select, insert, update on approvals to ${APP_ROLE};
grant select on approvals to ${OPERATOR_ROLE};

-- A response served from the tenant's response cache: metered (it was a request) but cost nothing.
alter table usage_records add column cache_hit boolean not null default false;

alter table users drop constraint users_role_check;
alter table users add constraint users_role_check
  check (role in ('owner', 'admin', 'approver', 'member', 'viewer'));
alter table api_keys drop constraint api_keys_role_check;
alter table api_keys add constraint api_keys_role_check
  check (role in ('owner', 'admin', 'approver', 'member', 'viewer'));
`,
};
