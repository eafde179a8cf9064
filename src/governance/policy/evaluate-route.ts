import { z } from 'zod';
import { BkError } from '../../core/errors.ts';
import { withTenant } from '../../db/scope.ts';
import { type ChatPlan, planChat } from '../../gateway/chat/plan.ts';
import { chatCompletionRequest } from '../../gateway/chat/schema.ts';
import { modelId } from '../../gateway/routing/candidates.ts';
import type { App, AppDeps } from '../../http/app-types.ts';
import { webhookSigningSecret } from '../../quotas/budget-alerts.ts';
import { type Decision, primaryDecision } from '../decisions.ts';
import { policyDocument } from './schema.ts';

const evaluateBody = z.strictObject({
  request: chatCompletionRequest,
  policy: policyDocument
    .optional()
    .describe('A draft to evaluate instead of the current policy; nothing is saved.'),
});

/**
 * The dry run: what the policy (the current one, or a draft) would decide about a sample request,
 * decision by decision with the rule and the reason, without calling a model, spending quota or
 * holding anything.
 */
export function registerPolicyEvaluateRoutes(app: App, deps: AppDeps): void {
  app.post(
    '/v1/policy/evaluate',
    {
      schema: {
        tags: ['policy'],
        summary: 'Dry-run a chat request against the current policy or a draft',
        body: evaluateBody,
      },
    },
    async (request) => {
      const ctx = await deps.auth.tenant(request, 'policy:read');
      const { request: sample, policy: draft } = request.body;
      const current = draft === undefined ? await deps.policies.current(ctx) : null;
      const document = draft ?? current!.document;
      const decisions: Decision[] = [];
      let plan: ChatPlan | null = null;
      let refusal: BkError | null = null;
      try {
        plan = await planChat(deps, ctx, document, sample, {
          approved: false,
          onGoverned: (governed) => decisions.push(...governed.decisions),
        });
        if (plan.hold !== null) decisions.push(plan.hold);
      } catch (err) {
        if (!(err instanceof BkError)) throw err;
        refusal = err;
        if (err.rule !== null && !decisions.some((d) => d.rule === err.rule)) {
          decisions.push({ rule: err.rule, outcome: 'blocked', reason: err.message });
        }
      }
      return {
        object: 'policy.evaluation' as const,
        policyVersion: current === null ? null : current.version,
        outcome: refusal !== null ? 'blocked' : (primaryDecision(decisions)?.outcome ?? 'allowed'),
        decisions,
        error: refusal === null ? null : { code: refusal.code, message: refusal.message },
        request: plan?.request ?? null,
        routing:
          plan === null
            ? null
            : { strategy: document.routing.strategy, candidates: plan.candidates.map(modelId) },
        estimate:
          plan === null
            ? null
            : {
                inputTokens: plan.estimate.inputTokens,
                outputTokens: plan.estimate.outputTokens,
                costUsd: plan.estimate.costNanoUsd / 1e9,
              },
        limits: document.limits,
        budgets: {
          tenant: document.budgets.tenant ?? null,
          perKey: document.budgets.perKey ?? null,
        },
      };
    },
  );

  app.get(
    '/v1/policy/webhook-signing-secret',
    {
      schema: {
        tags: ['policy'],
        summary:
          'The secret that signs this tenant’s budget webhooks (x-bulkhead-signature: t=…,v1=HMAC-SHA256 of "t.body")',
      },
    },
    async (request) => {
      const ctx = await deps.auth.tenant(request, 'policy:write');
      const secret = await withTenant(deps.db, ctx, (tx) =>
        webhookSigningSecret(deps.keyring, tx, ctx.tenantId),
      );
      return { object: 'webhook_signing_secret' as const, secret };
    },
  );
}
