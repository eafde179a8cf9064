import { APP_ROLE, OPERATOR_ROLE } from '../roles.ts';
import { fence } from './fence.ts';

/**
 * The audit trail: one hash chain per tenant. `audit_heads` holds each chain's last link; appending
 * locks that row, so concurrent writers of one tenant queue instead of forking the chain, while
 * other tenants' appends never wait for them.
 */
export const audit = {
  id: '0002-audit',
  sql: `
create table audit_heads (
  tenant_id text primary key references tenants (tenant_id),
  seq bigint not null,
  hash bytea not null
);
${fence('audit_heads')}
grant select, insert, update on audit_heads to ${APP_ROLE}, ${OPERATOR_ROLE};

create table audit_events (
  tenant_id text not null references tenants (tenant_id),
  seq bigint not null,
  event_id text not null,
  at timestamptz not null,
  actor_kind text not null check (actor_kind in ('api_key', 'user', 'operator', 'system')),
  actor_id text not null,
  action text not null,
  resource_type text not null,
  resource_id text,
  decision text not null,
  rule text,
  request_id text,
  details jsonb not null default '{}',
  sealed_payload bytea,
  prev_hash bytea not null,
  hash bytea not null,
  primary key (tenant_id, seq),
  unique (tenant_id, event_id)
);
create index audit_events_by_time on audit_events (tenant_id, at);
${fence('audit_events')}
grant select, insert on audit_events to ${APP_ROLE}, ${OPERATOR_ROLE};
`,
};
