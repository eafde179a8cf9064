import { APP_ROLE, OPERATOR_ROLE } from '../roles.ts';
import { fence } from './fence.ts';

/** A tenant's consent for operators to read its content in plain text: scoped, expiring, revocable. */
export const accessGrants = {
  id: '0003-access-grants',
  sql: `
create table access_grants (
  tenant_id text not null references tenants (tenant_id),
  grant_id text not null,
  scope text not null check (scope in ('audit:payloads')),
  reason text not null check (length(reason) between 1 and 500),
  granted_by text not null,
  expires_at timestamptz not null,
  revoked_at timestamptz,
  created_at timestamptz not null default now(),
  primary key (tenant_id, grant_id)
);
${fence('access_grants')}
grant select, insert, update on access_grants to ${APP_ROLE};
grant select on access_grants to ${OPERATOR_ROLE};
`,
};
