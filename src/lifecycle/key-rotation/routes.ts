import { z } from 'zod';
import { actorOf } from '../../audit/append.ts';
import { BkError, notFound } from '../../core/errors.ts';
import { isId } from '../../core/ids.ts';
import type { App, AppDeps } from '../../http/app-types.ts';
import { operatorReason } from '../../http/operator-reason.ts';
import { rotateDataKey } from './rotate.ts';

const tenantIdParams = z.strictObject({ tenantId: z.string().min(1).max(64) });

/**
 * Tenant data-key rotation, by an operator for any tenant or by a tenant's owner for their own.
 * Synchronous: the answer is the report. The work runs in pages of short transactions, so a large
 * tenant holds no long transaction and its traffic goes on meanwhile; a request that is cut off
 * (a crashed node, a timed-out client) leaves nothing that a second call does not finish.
 */
export function registerDataKeyRoutes(app: App, deps: AppDeps): void {
  app.post(
    '/v1/admin/tenants/:tenantId/data-key/rotate',
    {
      schema: {
        tags: ['admin'],
        summary:
          "Rotate a tenant's data key: add a version, re-encrypt its sealed values, retire old versions",
        params: tenantIdParams,
      },
    },
    async (request) => {
      const operator = deps.auth.operator(request);
      const { tenantId } = request.params;
      if (!isId('tenant', tenantId)) throw notFound('tenant', tenantId);
      const reason = operatorReason(request, 'rotate data key');
      return rotateDataKey(deps, tenantId, {
        operator,
        reason,
        actor: { kind: 'operator', id: operator },
        requestId: request.id,
      });
    },
  );

  app.post(
    '/v1/data-key/rotate',
    {
      schema: {
        tags: ['lifecycle'],
        summary:
          "Rotate this tenant's data key: add a version, re-encrypt every sealed value, retire old versions (owner)",
      },
    },
    async (request) => {
      const ctx = await deps.auth.tenant(request, 'keys:write');
      if (ctx.role !== 'owner') {
        throw new BkError('BK_FORBIDDEN', "Only the workspace's owner can rotate its data key.");
      }
      const actor = actorOf(ctx);
      // Re-encrypting audit payloads needs the operator role's column grant; the work is the
      // fixed rotation procedure, on the caller's own tenant only, and recorded as theirs.
      return rotateDataKey(deps, ctx.tenantId, {
        operator: `tenant-owner:${actor.id}`,
        reason: 'data key rotation requested by the tenant owner',
        actor,
        requestId: ctx.requestId,
      });
    },
  );
}
