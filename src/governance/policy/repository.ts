import type { Selectable } from 'kysely';
import type { PoliciesTable } from '../../db/schema.ts';
import type { TenantTx } from '../../db/scope.ts';

export type PolicyRow = Selectable<PoliciesTable>;

export function currentPolicyRow(tx: TenantTx): Promise<PolicyRow | undefined> {
  return tx
    .selectFrom('policies')
    .selectAll()
    .orderBy('version', 'desc')
    .limit(1)
    .executeTakeFirst();
}

export function policyVersionRow(tx: TenantTx, version: number): Promise<PolicyRow | undefined> {
  return tx.selectFrom('policies').selectAll().where('version', '=', version).executeTakeFirst();
}

/** Newest first; `before` is the version to continue below. */
export function policyVersionRows(
  tx: TenantTx,
  limit: number,
  before: number | undefined,
): Promise<PolicyRow[]> {
  let query = tx
    .selectFrom('policies')
    .selectAll()
    .orderBy('version', 'desc')
    .limit(limit + 1);
  if (before !== undefined) query = query.where('version', '<', before);
  return query.execute();
}

export function insertPolicyVersion(
  tx: TenantTx,
  row: {
    tenant_id: string;
    version: number;
    document: unknown;
    author: string;
    comment: string | null;
  },
): Promise<PolicyRow> {
  return tx
    .insertInto('policies')
    .values({ ...row, document: JSON.stringify(row.document) })
    .returningAll()
    .executeTakeFirstOrThrow();
}
