import { sql } from 'kysely';
import { z } from 'zod';
import type { OperatorTx, TenantTx } from '../db/scope.ts';

const DAY_MS = 86_400_000;

export const usageQuery = z
  .strictObject({
    from: z.iso.datetime({ offset: true }).optional(),
    to: z.iso.datetime({ offset: true }).optional(),
  })
  .refine(
    (q) => q.from === undefined || q.to === undefined || Date.parse(q.from) < Date.parse(q.to),
    {
      message: "'from' must be before 'to'",
      path: ['from'],
    },
  );
export type UsageQuery = z.infer<typeof usageQuery>;

export interface UsageWindow {
  from: Date;
  to: Date;
}

/** Defaults to the last 30 days. */
export function usageWindow(query: UsageQuery, now: Date): UsageWindow {
  const to = query.to === undefined ? now : new Date(query.to);
  const from =
    query.from === undefined ? new Date(to.getTime() - 30 * DAY_MS) : new Date(query.from);
  return { from, to };
}

const totals = [
  sql<string>`count(*)`.as('requests'),
  sql<string>`count(*) filter (where status <> 'ok')`.as('errors'),
  sql<string>`coalesce(sum(input_tokens), 0)`.as('input_tokens'),
  sql<string>`coalesce(sum(output_tokens), 0)`.as('output_tokens'),
  sql<string>`coalesce(sum(cost_nano_usd), 0)`.as('cost_nano_usd'),
] as const;

type TotalsRow = {
  requests: string;
  errors: string;
  input_tokens: string;
  output_tokens: string;
  cost_nano_usd: string;
};

function totalsView(row: TotalsRow | undefined) {
  const nano = Number(row?.cost_nano_usd ?? 0);
  return {
    requests: Number(row?.requests ?? 0),
    errors: Number(row?.errors ?? 0),
    inputTokens: Number(row?.input_tokens ?? 0),
    outputTokens: Number(row?.output_tokens ?? 0),
    costUsd: nano / 1e9,
  };
}

function inWindow(tx: TenantTx | OperatorTx, tenantId: string, window: UsageWindow) {
  return tx
    .selectFrom('usage_records')
    .where('tenant_id', '=', tenantId)
    .where('created_at', '>=', window.from)
    .where('created_at', '<', window.to);
}

/** One tenant's totals, by model and by UTC day. */
export async function usageReport(
  tx: TenantTx | OperatorTx,
  tenantId: string,
  window: UsageWindow,
) {
  // One after another: a transaction is one connection, which runs one query at a time.
  const all = await inWindow(tx, tenantId, window).select(totals).executeTakeFirst();
  const byModel = await inWindow(tx, tenantId, window)
    .select(['model', ...totals])
    .groupBy('model')
    .orderBy('model')
    .execute();
  const byDay = await inWindow(tx, tenantId, window)
    .select([
      sql<string>`to_char(created_at at time zone 'UTC', 'YYYY-MM-DD')`.as('day'),
      ...totals,
    ])
    .groupBy(sql`1`)
    .orderBy(sql`1`)
    .execute();
  return {
    object: 'usage_report' as const,
    tenantId,
    from: window.from.toISOString(),
    to: window.to.toISOString(),
    totals: totalsView(all),
    byModel: byModel.map((r) => ({ model: r.model, ...totalsView(r) })),
    byDay: byDay.map((r) => ({ day: r.day, ...totalsView(r) })),
  };
}

/** Every tenant's totals, for operators. */
export async function usageByTenant(tx: OperatorTx, window: UsageWindow) {
  const rows = await tx
    .selectFrom('usage_records')
    .where('created_at', '>=', window.from)
    .where('created_at', '<', window.to)
    .select(['tenant_id', ...totals])
    .groupBy('tenant_id')
    .orderBy('tenant_id')
    .execute();
  return {
    object: 'usage_summary' as const,
    from: window.from.toISOString(),
    to: window.to.toISOString(),
    tenants: rows.map((r) => ({ tenantId: r.tenant_id, ...totalsView(r) })),
  };
}
