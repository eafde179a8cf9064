import { sql } from 'kysely';
import { everyDatabase, withOperator, withOperatorAt } from '../db/scope.ts';
import type { App, AppDeps } from '../http/app-types.ts';
import { operatorReason } from '../http/operator-reason.ts';

const PAGE = 200;

/** A data key whose envelope header does not name the tenant's KEK (see `wrappedByKek`). */
const legacyWrapped = sql<boolean>`not (get_byte(wrapped_key, 0) = 2 and substring(wrapped_key from 2 for 4) = '\\x00000001'::bytea)`;

/**
 * Master-key rotation without downtime: run every node with the new BULKHEAD_MASTER_KEY and the
 * old one in BULKHEAD_PREVIOUS_MASTER_KEYS (they read both), call this, then drop the old key.
 * It re-wraps every tenant's KEK in the key store, moves data keys still wrapped by a master key
 * (made before KEKs) under their tenant's KEK, in the pool and in every silo, and seals the silos'
 * URLs again. Each page is its own short operator transaction; calling it again is harmless.
 */
export function registerMasterKeyRoutes(app: App, deps: AppDeps): void {
  app.post(
    '/v1/admin/master-key/rotate',
    {
      schema: {
        tags: ['admin'],
        summary:
          "Re-wrap every tenant's data key (and seal every silo URL) with the current master key",
      },
    },
    async (request) => {
      const operator = deps.auth.operator(request);
      const action = { operator, reason: operatorReason(request, 'rotate master key') };
      // 1. Every KEK in the key store, wrapped anew where a previous master key wraps it.
      const keks = { rewrapped: 0, alreadyCurrent: 0, created: 0, unreadable: 0 };
      for (let after: string | null = null; ;) {
        const page = await deps.keyring.rewrapKekPage(after, PAGE);
        keks.rewrapped += page.rewrapped;
        keks.alreadyCurrent += page.current;
        keks.unreadable += page.unreadable;
        if (page.last === null) break;
        after = page.last;
      }
      // 2. Data keys wrapped by a master key directly (made before KEKs) move under their
      // tenant's KEK, made first (outside any transaction) for a tenant that has none.
      const dataKeys = { movedUnderKek: 0, underKek: 0 };
      const databases = await everyDatabase(deps.db, action);
      for (const database of databases) {
        const legacy = await withOperatorAt(database, action, (tx) =>
          tx
            .selectFrom('tenant_data_keys')
            .select('tenant_id')
            .distinct()
            .where(legacyWrapped)
            .orderBy('tenant_id')
            .execute(),
        );
        for (const { tenant_id } of legacy) {
          if ((await deps.keyring.ensureKek(tenant_id)).created) keks.created++;
        }
        type After = { tenantId: string; version: number } | null;
        let after: After = null;
        for (;;) {
          const from: After = after;
          const page: { movedUnderKek: number; underKek: number; last: After } =
            await withOperatorAt(database, action, (tx) => deps.keyring.rewrapPage(tx, from, PAGE));
          dataKeys.movedUnderKek += page.movedUnderKek;
          dataKeys.underKek += page.underKek;
          if (page.last === null) break;
          after = page.last;
        }
      }
      const siloUrlsResealed = await withOperator(deps.db, action, async (tx) => {
        const placed = await tx
          .selectFrom('tenant_placements')
          .select(['tenant_id', 'sealed_url'])
          .where('sealed_url', 'is not', null)
          .execute();
        let resealed = 0;
        for (const row of placed) {
          const sealed = deps.siloUrls.resealed(row.tenant_id, row.sealed_url!);
          if (sealed === null) continue;
          await tx
            .updateTable('tenant_placements')
            .set({ sealed_url: sealed })
            .where('tenant_id', '=', row.tenant_id)
            .execute();
          resealed++;
        }
        return resealed;
      });
      return {
        object: 'master_key_rotation' as const,
        /** Everything wrapped anew with the current master key: KEKs, and legacy data keys moved. */
        rewrapped: keks.rewrapped + dataKeys.movedUnderKek,
        /** KEKs the current master key already wrapped. */
        alreadyCurrent: keks.alreadyCurrent,
        keyStore: deps.keyring.store.kind,
        keks,
        dataKeys,
        databases: databases.length,
        siloUrlsResealed,
      };
    },
  );
}
