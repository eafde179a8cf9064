import { sql } from 'kysely';
import type { TenantTx } from '../db/scope.ts';

/**
 * What the usage records say a tenant (or one of its keys) spent in a budget window: the seed of
 * a budget counter that the limit store does not hold yet (first use, or after a restart of a
 * node keeping them in memory).
 */
export async function spentInWindow(
  tx: TenantTx,
  subject: { scope: 'tenant' | 'key'; id: string },
  windowStart: Date,
  windowEnd: Date,
): Promise<number> {
  let query = tx
    .selectFrom('usage_records')
    .select(sql<string>`coalesce(sum(cost_nano_usd), 0)`.as('spent'))
    .where('created_at', '>=', windowStart)
    .where('created_at', '<', windowEnd);
  if (subject.scope === 'key') query = query.where('api_key_id', '=', subject.id);
  const row = await query.executeTakeFirstOrThrow();
  return Number(row.spent);
}
