import { notFound } from '../../core/errors.ts';
import type { OperatorTx } from '../../db/scope.ts';

/** For operator routes that act on one tenant: an unknown id is a 404, like any missing object. */
export async function assertTenantExists(tx: OperatorTx, tenantId: string): Promise<void> {
  const tenant = await tx
    .selectFrom('tenants')
    .select('tenant_id')
    .where('tenant_id', '=', tenantId)
    .executeTakeFirst();
  if (tenant === undefined) throw notFound('tenant', tenantId);
}
