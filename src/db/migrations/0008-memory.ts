import { APP_ROLE, OPERATOR_ROLE } from '../roles.ts';
import { fence } from './fence.ts';

/**
 * Conversation memory: threads owned by a principal, and their messages. Message content is
 * tenant content and is sealed with the tenant's data key (it is read back whole, never searched).
 */
export const memory = {
  id: '0008-memory',
  sql: `
create table threads (
  tenant_id text not null references tenants (tenant_id),
  thread_id text not null,
  owner_kind text not null check (owner_kind in ('user', 'api_key')),
  owner_id text not null,
  title text,
  metadata jsonb not null default '{}',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (tenant_id, thread_id)
);
create index threads_by_owner on threads (tenant_id, owner_kind, owner_id, thread_id);
${fence('threads')}
grant select, insert, update, delete on threads to ${APP_ROLE};
grant select on threads to ${OPERATOR_ROLE};

create table thread_messages (
  tenant_id text not null,
  thread_id text not null,
  message_id text not null,
  role text not null check (role in ('system', 'developer', 'user', 'assistant', 'tool')),
  sealed_content bytea not null,
  tokens integer not null,
  request_id text,
  created_at timestamptz not null default now(),
  primary key (tenant_id, thread_id, message_id),
  foreign key (tenant_id, thread_id) references threads (tenant_id, thread_id) on delete cascade
);
create index thread_messages_by_age on thread_messages (tenant_id, created_at);
${fence('thread_messages')}
grant select, insert, update, delete on thread_messages to ${APP_ROLE};
grant select on thread_messages to ${OPERATOR_ROLE};
`,
};
