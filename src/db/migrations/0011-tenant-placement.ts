import { APP_ROLE, OPERATOR_ROLE } from '../roles.ts';
import { fence } from './fence.ts';

/**
 * Where each tenant's rows live. A row in `tenant_placements` of a database says the tenant is NOT
 * served by that database: in the pool, `silo` (it was promoted; the sealed URL says where) or
 * `moving` (a promotion or demotion is copying it: its requests wait); in a silo, `away` (it was
 * demoted back) or `moving`. Every tenant transaction starts with `bulkhead_enter_tenant`, so a
 * node whose routing is stale finds out before it reads or writes anything, and re-routes.
 *
 * The check takes the tenant's advisory lock shared; a move takes it exclusive for the instant it
 * marks the tenant `moving`, which therefore waits for the tenant's transactions in flight.
 *
 * Moving rows between databases is done as the operator role, which may now insert into tenant
 * tables (its policy already allowed every row; it lacked only the privilege).
 */
export const tenantPlacement = {
  id: '0011-tenant-placement',
  sql: `
create table tenant_placements (
  tenant_id text primary key,
  state text not null check (state in ('moving', 'silo', 'away')),
  silo_id text,
  sealed_url bytea,
  updated_at timestamptz not null default now()
);
${fence('tenant_placements')}
grant select on tenant_placements to ${APP_ROLE};
grant select, insert, update on tenant_placements to ${OPERATOR_ROLE};

create function bulkhead_tenant_placement(tid text) returns text
language plpgsql as $$
declare
  found_state text;
begin
  perform pg_advisory_xact_lock_shared(hashtextextended('bulkhead.tenant:' || tid, 0));
  select p.state into found_state from tenant_placements p where p.tenant_id = tid;
  return found_state;
end $$;

-- The start of every transaction on one tenant's rows, sent with BEGIN and the role: for the
-- tenant's own requests (scoped) it also sets app.tenant_id, in the same statement.
create function bulkhead_enter_tenant(tid text, scoped boolean) returns void
language plpgsql as $$
declare
  found_state text;
begin
  if scoped then
    perform set_config('app.tenant_id', tid, true);
  end if;
  perform pg_advisory_xact_lock_shared(hashtextextended('bulkhead.tenant:' || tid, 0));
  select p.state into found_state from tenant_placements p where p.tenant_id = tid;
  if found_state = 'moving' then
    raise exception 'tenant % is moving between databases', tid using errcode = 'BK002';
  elsif found_state is not null then
    raise exception 'tenant % is served by another database', tid using errcode = 'BK001';
  end if;
end $$;

do $$
declare t record;
begin
  for t in
    select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = 'public' and c.relkind in ('r', 'p') and exists (
      select 1 from pg_attribute a
      where a.attrelid = c.oid and a.attname = 'tenant_id' and a.attnum > 0 and not a.attisdropped)
  loop
    execute format('grant insert on %I to ${OPERATOR_ROLE}', t.relname);
  end loop;
end $$;
`,
};
