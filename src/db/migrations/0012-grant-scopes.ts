/**
 * Access grants reach past the audit trail: a tenant can also let operators read its documents,
 * its thread messages, or its held requests and their results — each a scope of its own.
 */
export const moreGrantScopes = {
  id: '0012-grant-scopes',
  sql: `
alter table access_grants drop constraint access_grants_scope_check;
alter table access_grants add constraint access_grants_scope_check
  check (scope in ('audit:payloads', 'documents:content', 'threads:content', 'approvals:content'));
`,
};
