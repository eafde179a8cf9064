import { APP_ROLE, OPERATOR_ROLE } from '../roles.ts';
import { fence } from './fence.ts';

export const foundation = {
  id: '0001-foundation',
  sql: `
create table tenants (
  tenant_id text primary key,
  name text not null check (length(name) between 1 and 200),
  status text not null default 'active' check (status in ('active', 'suspended')),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
${fence('tenants')}
grant select on tenants to ${APP_ROLE};
grant select, insert, update on tenants to ${OPERATOR_ROLE};

create table tenant_data_keys (
  tenant_id text not null references tenants (tenant_id),
  key_version integer not null,
  wrapped_key bytea not null,
  created_at timestamptz not null default now(),
  primary key (tenant_id, key_version)
);
${fence('tenant_data_keys')}
grant select on tenant_data_keys to ${APP_ROLE};
grant select, insert on tenant_data_keys to ${OPERATOR_ROLE};

create table users (
  tenant_id text not null references tenants (tenant_id),
  user_id text not null,
  subject text,
  email text,
  display_name text,
  role text not null check (role in ('owner', 'admin', 'member', 'viewer')),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (tenant_id, user_id),
  unique (tenant_id, subject),
  unique (tenant_id, email)
);
${fence('users')}
grant select, insert, update, delete on users to ${APP_ROLE};
grant select on users to ${OPERATOR_ROLE};

create table api_keys (
  tenant_id text not null references tenants (tenant_id),
  key_id text not null,
  name text not null,
  key_hash bytea not null,
  display_prefix text not null,
  role text not null check (role in ('owner', 'admin', 'member', 'viewer')),
  scopes text[],
  user_id text,
  created_by text not null,
  expires_at timestamptz,
  revoked_at timestamptz,
  last_used_at timestamptz,
  created_at timestamptz not null default now(),
  primary key (tenant_id, key_id),
  unique (tenant_id, key_hash),
  foreign key (tenant_id, user_id) references users (tenant_id, user_id)
);
${fence('api_keys')}
grant select, insert, update on api_keys to ${APP_ROLE};
grant select, insert, update on api_keys to ${OPERATOR_ROLE};

create table providers (
  tenant_id text not null references tenants (tenant_id),
  provider_id text not null,
  name text not null,
  kind text not null check (kind in ('openai', 'anthropic')),
  base_url text not null,
  sealed_api_key bytea,
  api_key_header text not null default 'authorization',
  default_query jsonb not null default '{}',
  region text,
  models text[] not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (tenant_id, provider_id),
  unique (tenant_id, name)
);
${fence('providers')}
grant select, insert, update, delete on providers to ${APP_ROLE};
grant select on providers to ${OPERATOR_ROLE};

create table usage_records (
  tenant_id text not null references tenants (tenant_id),
  usage_id text not null,
  request_id text not null,
  principal_kind text not null,
  principal_id text not null,
  api_key_id text,
  provider text not null,
  model text not null,
  operation text not null check (operation in ('chat', 'embeddings')),
  stream boolean not null default false,
  input_tokens integer not null,
  output_tokens integer not null,
  tokens_counted_by text not null check (tokens_counted_by in ('provider', 'bulkhead')),
  latency_ms integer not null,
  status text not null check (status in ('ok', 'error', 'cancelled')),
  http_status integer not null,
  error_code text,
  cost_nano_usd bigint not null,
  price_version text not null,
  created_at timestamptz not null default now(),
  primary key (tenant_id, usage_id)
);
create index usage_records_by_time on usage_records (tenant_id, created_at);
${fence('usage_records')}
grant select, insert on usage_records to ${APP_ROLE};
grant select on usage_records to ${OPERATOR_ROLE};

-- Operator actions are platform records, not tenant data: only the operator role reads or writes them.
create table operator_actions (
  action_id text primary key,
  at timestamptz not null default now(),
  operator text not null,
  reason text not null,
  target_tenant_id text
);
grant select, insert on operator_actions to ${OPERATOR_ROLE};
`,
};
