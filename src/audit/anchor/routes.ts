import { z } from 'zod';
import { BkError } from '../../core/errors.ts';
import { isId } from '../../core/ids.ts';
import { type OperatorTx, type TenantTx, withOperator, withTenant } from '../../db/scope.ts';
import type { App, AppDeps } from '../../http/app-types.ts';
import { assertTenantExists } from '../../identity/tenants/repository.ts';
import { GENESIS_HASH } from '../chain.ts';
import {
  checkpointBatch,
  type SignedCheckpoint,
  signCheckpoint,
  signedCheckpoint,
} from './checkpoint.ts';
import { readHead } from './repository.ts';
import type { AnchorSigner } from './signing-key.ts';
import { openCheckpoints, verifyOpenedCheckpoints } from './verify-checkpoint.ts';

export interface AuditAnchorDeps {
  /** Null when no anchor key is configured: the anchor routes then answer 503. */
  signer: AnchorSigner | null;
}

const tenantParams = z.strictObject({ tenantId: z.string().min(1).max(64) });

function signerOf(anchors: AuditAnchorDeps): AnchorSigner {
  if (anchors.signer === null) {
    throw new BkError(
      'BK_AUDIT_ANCHOR_UNAVAILABLE',
      'Audit checkpoints are not enabled on this server: set BULKHEAD_AUDIT_ANCHOR_KEY.',
    );
  }
  return anchors.signer;
}

async function currentCheckpoint(
  tx: TenantTx | OperatorTx,
  signer: AnchorSigner,
  tenantId: string,
  now: Date,
) {
  const head = (await readHead(tx, tenantId)) ?? { seq: 0, hash: GENESIS_HASH };
  return signCheckpoint(signer, { tenantId, ...head }, now);
}

/**
 * The external anchor: signed checkpoints of a tenant's chain head, the key that verifies them,
 * and verification of checkpoints (published earlier, kept outside the database) against the chain
 * as it is now. Tenant admins for their own chain; operators for any tenant's, by id.
 */
export function registerAuditAnchorRoutes(app: App, deps: AppDeps, anchors: AuditAnchorDeps): void {
  const verifyOwn = async (ctx: Parameters<typeof withTenant>[1], items: SignedCheckpoint[]) => {
    const opened = await openCheckpoints(signerOf(anchors), ctx.tenantId, items);
    return withTenant(deps.db, ctx, (tx) =>
      verifyOpenedCheckpoints(tx, ctx.tenantId, opened, deps.keyring),
    );
  };
  const verifyAsOperator = async (
    operator: string,
    tenantId: string,
    items: SignedCheckpoint[],
  ) => {
    if (!isId('tenant', tenantId))
      throw new BkError('BK_NOT_FOUND', `No tenant with id '${tenantId}'.`);
    const opened = await openCheckpoints(signerOf(anchors), tenantId, items);
    return withOperator(
      deps.db,
      { operator, reason: 'verify audit checkpoints', tenantId },
      async (tx) => {
        await assertTenantExists(tx, tenantId);
        return verifyOpenedCheckpoints(tx, tenantId, opened, deps.keyring);
      },
    );
  };

  app.get(
    '/v1/audit/anchor-key',
    {
      schema: {
        tags: ['audit'],
        summary:
          'The public key (JWK, with kid) that verifies audit checkpoints; no credentials needed',
        security: [],
      },
    },
    () => Promise.resolve(signerOf(anchors).publicJwk),
  );

  app.get(
    '/v1/audit/checkpoint',
    {
      schema: {
        tags: ['audit'],
        summary: "A signed checkpoint of this tenant's audit chain head, to keep outside Bulkhead",
      },
    },
    async (request) => {
      const ctx = await deps.auth.tenant(request, 'audit:read');
      const signer = signerOf(anchors);
      return withTenant(deps.db, ctx, (tx) =>
        currentCheckpoint(tx, signer, ctx.tenantId, deps.now()),
      );
    },
  );

  app.post(
    '/v1/audit/verify-checkpoint',
    {
      schema: {
        tags: ['audit'],
        summary:
          "Check a signed checkpoint against this tenant's chain now: signature, truncated, rewritten, broken",
        body: signedCheckpoint,
      },
    },
    async (request) => {
      const ctx = await deps.auth.tenant(request, 'audit:read');
      const [result] = await verifyOwn(ctx, [request.body]);
      return result!;
    },
  );

  app.post(
    '/v1/audit/verify-checkpoints',
    {
      schema: {
        tags: ['audit'],
        summary: 'Check up to 1000 signed checkpoints at once; the chain is walked once',
        body: checkpointBatch,
      },
    },
    async (request) => {
      const ctx = await deps.auth.tenant(request, 'audit:read');
      return { object: 'list' as const, data: await verifyOwn(ctx, request.body.checkpoints) };
    },
  );

  app.get(
    '/v1/admin/tenants/:tenantId/audit/checkpoint',
    {
      schema: {
        tags: ['admin'],
        summary: "A signed checkpoint of a tenant's audit chain head (reads the head, no events)",
        params: tenantParams,
      },
    },
    async (request) => {
      const operator = deps.auth.operator(request);
      const signer = signerOf(anchors);
      const { tenantId } = request.params;
      if (!isId('tenant', tenantId))
        throw new BkError('BK_NOT_FOUND', `No tenant with id '${tenantId}'.`);
      return withOperator(
        deps.db,
        { operator, reason: 'sign audit checkpoint', tenantId },
        async (tx) => {
          await assertTenantExists(tx, tenantId);
          return currentCheckpoint(tx, signer, tenantId, deps.now());
        },
      );
    },
  );

  app.post(
    '/v1/admin/tenants/:tenantId/audit/verify-checkpoint',
    {
      schema: {
        tags: ['admin'],
        summary: "Check a signed checkpoint against a tenant's chain (hashes only, no payloads)",
        params: tenantParams,
        body: signedCheckpoint,
      },
    },
    async (request) => {
      const operator = deps.auth.operator(request);
      const [result] = await verifyAsOperator(operator, request.params.tenantId, [request.body]);
      return result!;
    },
  );

  app.post(
    '/v1/admin/tenants/:tenantId/audit/verify-checkpoints',
    {
      schema: {
        tags: ['admin'],
        summary: "Check up to 1000 signed checkpoints against a tenant's chain, walked once",
        params: tenantParams,
        body: checkpointBatch,
      },
    },
    async (request) => {
      const operator = deps.auth.operator(request);
      return {
        object: 'list' as const,
        data: await verifyAsOperator(operator, request.params.tenantId, request.body.checkpoints),
      };
    },
  );
}
