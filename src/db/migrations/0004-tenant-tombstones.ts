import { OPERATOR_ROLE } from '../roles.ts';

/**
 * What remains of a deleted tenant: its id, when, by whom, and how many rows of each table went.
 * Platform records, not tenant data (the column is deliberately not `tenant_id`): only the
 * operator role reads or writes them.
 */
export const tenantTombstones = {
  id: '0004-tenant-tombstones',
  sql: `
create table tenant_tombstones (
  deleted_tenant_id text primary key,
  name text not null,
  deleted_at timestamptz not null default now(),
  operator text not null,
  reason text not null,
  rows_removed jsonb not null
);
grant select, insert on tenant_tombstones to ${OPERATOR_ROLE};
grant delete on tenants, tenant_data_keys, users, api_keys, providers, usage_records, audit_heads, audit_events, access_grants to ${OPERATOR_ROLE};
`,
};
