import { z } from 'zod';
import { BkError } from '../../core/errors.ts';
import { principalId, type TenantContext } from '../../core/tenant-context.ts';
import { recordChange } from '../../audit/append.ts';
import { isUniqueViolation } from '../../db/pg-errors.ts';
import { type TenantTx, withTenant } from '../../db/scope.ts';
import type { App, AppDeps } from '../../http/app-types.ts';
import { listPage } from '../../http/pagination.ts';
import {
  currentPolicyRow,
  insertPolicyVersion,
  type PolicyRow,
  policyVersionRow,
  policyVersionRows,
} from './repository.ts';
import { DEFAULT_POLICY, type PolicyDocument, policyDocument } from './schema.ts';

function policyView(row: PolicyRow | undefined) {
  if (row === undefined) {
    return {
      id: '0',
      object: 'policy' as const,
      version: 0,
      valid: true,
      document: DEFAULT_POLICY as unknown,
      author: null,
      comment: 'the defaults: this tenant has not set a policy',
      createdAt: null,
    };
  }
  return {
    id: String(row.version),
    object: 'policy' as const,
    version: row.version,
    valid: policyDocument.safeParse(row.document).success,
    document: row.document,
    author: row.author,
    comment: row.comment,
    createdAt: row.created_at.toISOString(),
  };
}

const versionParams = z.strictObject({ version: z.coerce.number().int().min(1) });
const versionsQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  after: z.coerce.number().int().min(1).optional(),
});
const rollbackBody = z.strictObject({ version: z.number().int().min(1) });
const ifMatch = z.looseObject({
  'if-match': z
    .string()
    .regex(/^"?\d+"?$/, 'If-Match takes the current policy version, e.g. "3"')
    .optional(),
});

/** Writes the next version; a concurrent writer that got there first makes this a 409. */
async function writeVersion(
  deps: AppDeps,
  ctx: TenantContext,
  document: PolicyDocument,
  options: { expectedVersion?: number; comment: string | null; action: string },
) {
  const actor = principalId(ctx);
  const conflict = (current: number) =>
    new BkError(
      'BK_CONFLICT',
      `The policy is at version ${current}, not ${options.expectedVersion}: read it again and reapply your change.`,
    );
  try {
    const row = await withTenant(deps.db, ctx, async (tx: TenantTx) => {
      const current = (await currentPolicyRow(tx))?.version ?? 0;
      if (options.expectedVersion !== undefined && options.expectedVersion !== current) {
        throw conflict(current);
      }
      const created = await insertPolicyVersion(tx, {
        tenant_id: ctx.tenantId,
        version: current + 1,
        document,
        author: `${actor.kind}:${actor.id}`,
        comment: options.comment,
      });
      await recordChange(tx, deps.keyring, ctx, {
        action: options.action,
        resource: { type: 'policy', id: String(created.version) },
        details: { version: created.version, previousVersion: current, comment: options.comment },
      });
      return created;
    });
    deps.policies.forget(ctx.tenantId);
    return row;
  } catch (err) {
    if (isUniqueViolation(err)) {
      throw new BkError(
        'BK_CONFLICT',
        'Another change to the policy was saved at the same time: read it again and retry.',
      );
    }
    throw err;
  }
}

/** A tenant's policy: read, replace, history, rollback. Every change is a new version. */
export function registerPolicyRoutes(app: App, deps: AppDeps): void {
  const tags = ['policy'];

  app.get(
    '/v1/policy',
    { schema: { tags, summary: "The tenant's current policy (version 0: the defaults)" } },
    async (request, reply) => {
      const ctx = await deps.auth.tenant(request, 'policy:read');
      const row = await withTenant(deps.db, ctx, (tx) => currentPolicyRow(tx));
      const view = policyView(row);
      return reply.header('etag', `"${view.version}"`).send(view);
    },
  );

  app.put(
    '/v1/policy',
    {
      schema: {
        tags,
        summary:
          'Replace the policy with a new version (send If-Match with the version you read to refuse lost updates)',
        body: policyDocument,
        headers: ifMatch,
      },
    },
    async (request, reply) => {
      const ctx = await deps.auth.tenant(request, 'policy:write');
      const match = request.headers['if-match'];
      const row = await writeVersion(deps, ctx, request.body, {
        ...(match !== undefined && { expectedVersion: Number(match.replaceAll('"', '')) }),
        comment: null,
        action: 'policy.update',
      });
      return reply.header('etag', `"${row.version}"`).send(policyView(row));
    },
  );

  app.get(
    '/v1/policy/versions',
    {
      schema: {
        tags,
        summary: 'Every version of the policy, newest first',
        querystring: versionsQuery,
      },
    },
    async (request) => {
      const ctx = await deps.auth.tenant(request, 'policy:read');
      const { limit, after } = request.query;
      const rows = await withTenant(deps.db, ctx, (tx) => policyVersionRows(tx, limit, after));
      return listPage(rows, limit, policyView);
    },
  );

  app.get(
    '/v1/policy/versions/:version',
    { schema: { tags, summary: 'One version of the policy', params: versionParams } },
    async (request) => {
      const ctx = await deps.auth.tenant(request, 'policy:read');
      const { version } = request.params;
      const row = await withTenant(deps.db, ctx, (tx) => policyVersionRow(tx, version));
      if (row === undefined) throw new BkError('BK_NOT_FOUND', `No policy version ${version}.`);
      return policyView(row);
    },
  );

  app.post(
    '/v1/policy/rollback',
    {
      schema: {
        tags,
        summary: 'Make an earlier version current again (as a new version: history is kept)',
        body: rollbackBody,
      },
    },
    async (request) => {
      const ctx = await deps.auth.tenant(request, 'policy:write');
      const { version } = request.body;
      const target = await withTenant(deps.db, ctx, (tx) => policyVersionRow(tx, version));
      if (target === undefined) throw new BkError('BK_NOT_FOUND', `No policy version ${version}.`);
      const parsed = policyDocument.safeParse(target.document);
      if (!parsed.success) {
        throw new BkError(
          'BK_VALIDATION_FAILED',
          `Policy version ${version} is not a valid policy and cannot be made current.`,
        );
      }
      return policyView(
        await writeVersion(deps, ctx, parsed.data, {
          comment: `rollback to version ${version}`,
          action: 'policy.rollback',
        }),
      );
    },
  );
}
