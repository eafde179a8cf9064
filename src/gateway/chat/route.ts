import type { FastifyReply } from 'fastify';
import type { TenantContext } from '../../core/tenant-context.ts';
import { decisionsHeader } from '../../governance/decisions.ts';
import { holdForApproval, waitForDecision } from '../../governance/approvals/hold.ts';
import { approvalOutcome } from '../../governance/approvals/outcome.ts';
import { approvalView } from '../../governance/approvals/view.ts';
import type { LoadedPolicy } from '../../governance/policy/policy-store.ts';
import type { App, AppDeps } from '../../http/app-types.ts';
import { toBkError } from '../../http/errors.ts';
import { clientAbortSignal } from '../client-abort.ts';
import { InferenceMeter } from '../inference-meter.ts';
import { buildChatContext, rememberExchange } from './context.ts';
import { type ChatPlan, planChat } from './plan.ts';
import { respondJson } from './respond-json.ts';
import { respondStream } from './respond-stream.ts';
import { chatCompletionRequest, chatRequestHeaders } from './schema.ts';

function policyHeaders(policy: LoadedPolicy, plan: ChatPlan | null): Record<string, string> {
  const decisions = plan === null ? null : decisionsHeader(plan.decisions);
  return {
    'x-bulkhead-policy-version': String(policy.version),
    ...(decisions !== null && { 'x-bulkhead-decisions': decisions }),
  };
}

/** 202 with the approval, or — if the caller chose to wait and it was decided in time — its outcome. */
async function held(
  deps: AppDeps,
  ctx: TenantContext,
  policy: LoadedPolicy,
  plan: ChatPlan,
  reply: FastifyReply,
  waitSeconds: number,
) {
  const hold = plan.hold!;
  let row = await holdForApproval(deps, ctx, policy.document, plan, hold);
  reply.headers(policyHeaders(policy, plan)).header('x-bulkhead-approval-id', row.approval_id);
  const wait = Math.min(waitSeconds, deps.config.approvalMaxWaitSeconds);
  if (wait > 0) {
    row =
      (await waitForDecision(deps, ctx, row.approval_id, wait, clientAbortSignal(reply))) ?? row;
    const outcome = await approvalOutcome(deps, ctx, row);
    if (outcome !== null) return outcome;
  }
  return reply.code(202).send(approvalView(row, deps.now()));
}

export function registerChatRoutes(app: App, deps: AppDeps): void {
  app.post(
    '/v1/chat/completions',
    {
      schema: {
        tags: ['gateway'],
        summary:
          'Create a chat completion (OpenAI-compatible; `stream: true` for server-sent events). A request the policy holds for approval answers 202 with the approval.',
        body: chatCompletionRequest,
        headers: chatRequestHeaders,
      },
    },
    async (request, reply) => {
      const ctx = await deps.auth.tenant(request, 'inference');
      const { bulkhead: extension, ...body } = request.body;
      const stream = body.stream === true;
      const meter = new InferenceMeter(deps.usage, ctx, 'chat', body.model, stream, body.messages);
      let policy: LoadedPolicy | null = null;
      try {
        policy = await deps.policies.current(ctx);
        const context = await buildChatContext(
          deps,
          ctx,
          request,
          policy.document,
          body.messages,
          extension,
          clientAbortSignal(reply),
        );
        meter.decided(context.decisions);
        const augmented = { ...body, messages: context.messages };
        const planned = await planChat(deps, ctx, policy.document, augmented, {
          approved: false,
          onGoverned: (governed) => {
            meter.decided(governed.decisions);
            meter.governedInput(governed.request.messages);
          },
        });
        const plan = { ...planned, decisions: [...context.decisions, ...planned.decisions] };
        if (plan.hold !== null) {
          return await held(
            deps,
            ctx,
            policy,
            plan,
            reply,
            request.headers['x-bulkhead-approval-wait'] ?? 0,
          );
        }
        const headers = policyHeaders(policy, plan);
        const thread = extension?.thread;
        const remember =
          thread === undefined
            ? undefined
            : (answer: string) =>
                rememberExchange(deps, ctx, thread, plan.request.messages, answer);
        const ours =
          context.citations.length > 0 || thread !== undefined
            ? { citations: context.citations, ...(thread !== undefined && { thread }) }
            : undefined;
        if (stream) {
          await respondStream(deps, ctx, policy, plan, meter, request, reply, {
            headers,
            ...(ours !== undefined && { extension: ours }),
            ...(remember !== undefined && { onCompleted: remember }),
          });
          return reply;
        }
        reply.headers(headers);
        const completion = await respondJson(deps, ctx, policy, plan, meter, {
          signal: clientAbortSignal(reply),
          header: (name, value) => {
            reply.header(name, value);
          },
        });
        await remember?.(completion.choices.map((c) => c.message.content ?? '').join(''));
        return ours === undefined ? completion : { ...completion, bulkhead: ours };
      } catch (err) {
        if (reply.sent) throw err;
        const failure = toBkError(err, request);
        if (policy !== null) reply.headers(policyHeaders(policy, null));
        await meter.failed(failure, null);
        throw failure;
      }
    },
  );
}
