import { withOperator } from '../db/scope.ts';
import type { App, AppDeps } from '../http/app-types.ts';
import { operatorReason } from '../http/operator-reason.ts';

const PAGE = 200;

/**
 * Master-key rotation without downtime: run every node with the new BULKHEAD_MASTER_KEY and the
 * old one in BULKHEAD_PREVIOUS_MASTER_KEYS (they read both), call this, then drop the old key.
 * Each page is its own short operator transaction; calling it again is harmless.
 */
export function registerMasterKeyRoutes(app: App, deps: AppDeps): void {
  app.post(
    '/v1/admin/master-key/rotate',
    {
      schema: {
        tags: ['admin'],
        summary: "Re-wrap every tenant's data key with the current master key",
      },
    },
    async (request) => {
      const operator = deps.auth.operator(request);
      const reason = operatorReason(request, 'rotate master key');
      let after: { tenantId: string; version: number } | null = null;
      let rewrapped = 0;
      let alreadyCurrent = 0;
      for (;;) {
        const page = await withOperator(deps.db, { operator, reason }, (tx) =>
          deps.keyring.rewrapPage(tx, after, PAGE),
        );
        rewrapped += page.rewrapped;
        alreadyCurrent += page.current;
        if (page.last === null) break;
        after = page.last;
      }
      return { object: 'master_key_rotation' as const, rewrapped, alreadyCurrent };
    },
  );
}
