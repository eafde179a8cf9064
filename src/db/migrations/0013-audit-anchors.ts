import { APP_ROLE, OPERATOR_ROLE } from '../roles.ts';
import { fence } from './fence.ts';

/**
 * The external anchor's bookkeeping: per tenant, the last chain position signed for publication
 * and the checkpoint itself. A node claims a position by moving `seq` forward with a conditional
 * upsert, so two nodes never both publish one head; `published_at` stays null until every sink took
 * the line, and a claim left unpublished past its lease may be taken again. The publisher works as
 * the operator role; tenants may read their row (their export includes it).
 */
export const auditAnchors = {
  id: '0013-audit-anchors',
  sql: `
create table audit_anchors (
  tenant_id text primary key references tenants (tenant_id),
  seq bigint not null,
  hash bytea not null,
  checkpoint text not null,
  claimed_at timestamptz not null,
  published_at timestamptz
);
${fence('audit_anchors')}
grant select on audit_anchors to ${APP_ROLE};
grant select, insert, update on audit_anchors to ${OPERATOR_ROLE};
`,
};
