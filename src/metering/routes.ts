import { withTenant } from '../db/scope.ts';
import type { App, AppDeps } from '../http/app-types.ts';
import { usageQuery, usageReport, usageWindow } from './usage-report.ts';

export function registerUsageRoutes(app: App, deps: AppDeps): void {
  app.get(
    '/v1/usage',
    {
      schema: {
        tags: ['usage'],
        summary: "This tenant's usage: totals, by model and by UTC day (default: the last 30 days)",
        querystring: usageQuery,
      },
    },
    async (request) => {
      const ctx = await deps.auth.tenant(request, 'usage:read');
      const window = usageWindow(request.query, deps.now());
      return withTenant(deps.db, ctx, (tx) => usageReport(tx, ctx.tenantId, window));
    },
  );
}
