import { APP_ROLE, OPERATOR_ROLE } from '../roles.ts';

/**
 * Row-level security for a tenant table: enabled, forced, keyed on `app.tenant_id`. Operators may
 * delete its rows (deleting a tenant removes them from every table) and insert them (promoting a
 * tenant copies them into another database).
 */
export function fence(table: string): string {
  const scoped = `tenant_id = current_setting('app.tenant_id', true)`;
  return `
alter table ${table} enable row level security;
alter table ${table} force row level security;
create policy tenant_isolation on ${table} to ${APP_ROLE} using (${scoped}) with check (${scoped});
create policy operator_access on ${table} to ${OPERATOR_ROLE} using (true) with check (true);
grant insert, delete on ${table} to ${OPERATOR_ROLE};
`;
}
