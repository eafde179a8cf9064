import type { BkError } from '../core/errors.ts';
import { type Decision, primaryDecision } from '../governance/decisions.ts';
import { principalId, type TenantContext } from '../core/tenant-context.ts';
import type { AuditEvent } from '../audit/append.ts';
import { PRICE_VERSION, priceUsage } from '../metering/prices.ts';
import type { UsageRecorder } from '../metering/usage-recorder.ts';
import type { ResolvedModel } from './router.ts';

/** What a usage record counts: a model call of the gateway, or a knowledge search (its query embedding). */
export type MeteredOperation = 'chat' | 'embeddings' | 'search';

const actions: Record<MeteredOperation, string> = {
  chat: 'chat.completion',
  embeddings: 'embeddings.create',
  search: 'knowledge.search',
};

export interface TokenCounts {
  inputTokens: number;
  outputTokens: number;
  countedBy: 'provider' | 'bulkhead';
}

/**
 * One usage record per inference request, whatever its outcome. The record is written (committed)
 * before the response is finished, so a client that got an answer was billed for it.
 */
export class InferenceMeter {
  readonly #usage: UsageRecorder;
  readonly #ctx: TenantContext;
  readonly #operation: MeteredOperation;
  readonly #stream: boolean;
  readonly #started = performance.now();
  #provider: string;
  #kind = 'unknown';
  #model: string;
  #input: unknown;
  readonly #decisions: Decision[] = [];
  #cacheHit = false;

  constructor(
    usage: UsageRecorder,
    ctx: TenantContext,
    operation: MeteredOperation,
    requestedModel: string,
    stream: boolean,
    /** What the caller sent (messages, or embedding input): sealed into the audit event. */
    input: unknown,
  ) {
    this.#input = input;
    this.#usage = usage;
    this.#ctx = ctx;
    this.#operation = operation;
    this.#stream = stream;
    const slash = requestedModel.indexOf('/');
    this.#provider = slash > 0 ? requestedModel.slice(0, slash) : 'unknown';
    this.#model = slash > 0 ? requestedModel.slice(slash + 1) : requestedModel;
  }

  routed(route: Pick<ResolvedModel, 'providerName' | 'providerKind' | 'upstreamModel'>): void {
    this.#provider = route.providerName;
    this.#kind = route.providerKind;
    this.#model = route.upstreamModel;
  }

  /** The policy's decisions so far; the most severe becomes the audit event's decision. */
  decided(decisions: readonly Decision[]): void {
    this.#decisions.push(...decisions);
  }

  /** After input governance: the audit trail keeps what the provider saw (PII redacted), not the raw input. */
  governedInput(input: unknown): void {
    this.#input = input;
  }

  servedFromCache(): void {
    this.#cacheHit = true;
  }

  /** `output` is the generated text (chat), or nothing (embeddings, whose vectors are not content). */
  succeeded(tokens: TokenCounts, output?: string): Promise<void> {
    return this.#record(tokens, 'ok', 200, null, output);
  }

  failed(error: BkError, tokens: TokenCounts | null, partialOutput?: string): Promise<void> {
    const status = error.code === 'BK_CLIENT_CLOSED' ? 'cancelled' : 'error';
    return this.#record(tokens, status, error.status, error.code, partialOutput, error.rule);
  }

  #record(
    tokens: TokenCounts | null,
    status: 'ok' | 'error' | 'cancelled',
    httpStatus: number,
    errorCode: string | null,
    output: string | undefined,
    refusedBy: string | null = null,
  ): Promise<void> {
    const inputTokens = tokens?.inputTokens ?? 0;
    const outputTokens = tokens?.outputTokens ?? 0;
    const cost = this.#cacheHit
      ? { nanoUsd: 0, priceVersion: PRICE_VERSION }
      : priceUsage(this.#kind, this.#model, inputTokens, outputTokens);
    const principal = principalId(this.#ctx);
    const { decision, rule } = this.#verdict(status, errorCode, refusedBy);
    const audit: AuditEvent = {
      tenantId: this.#ctx.tenantId,
      actor: principal,
      action: actions[this.#operation],
      resource: { type: 'model', id: `${this.#provider}/${this.#model}` },
      decision,
      rule,
      requestId: this.#ctx.requestId,
      details: {
        stream: this.#stream,
        httpStatus,
        errorCode,
        inputTokens,
        outputTokens,
        ...(this.#cacheHit && { cacheHit: true }),
        ...(this.#decisions.length > 0 && { decisions: this.#decisions }),
      },
      payload: output === undefined ? { input: this.#input } : { input: this.#input, output },
    };
    return this.#usage.record(
      {
        tenant_id: this.#ctx.tenantId,
        request_id: this.#ctx.requestId,
        principal_kind: principal.kind,
        principal_id: principal.id,
        api_key_id: this.#ctx.principal.kind === 'api_key' ? this.#ctx.principal.keyId : null,
        provider: this.#provider,
        model: this.#model,
        operation: this.#operation,
        stream: this.#stream,
        input_tokens: inputTokens,
        output_tokens: outputTokens,
        tokens_counted_by: tokens?.countedBy ?? 'bulkhead',
        latency_ms: Math.round(performance.now() - this.#started),
        status,
        http_status: httpStatus,
        error_code: errorCode,
        cost_nano_usd: cost.nanoUsd,
        price_version: cost.priceVersion,
        cache_hit: this.#cacheHit,
        created_at: new Date(),
      },
      audit,
    );
  }

  #verdict(
    status: string,
    errorCode: string | null,
    refusedBy: string | null,
  ): { decision: string; rule: string | null } {
    if (refusedBy !== null) return { decision: 'blocked', rule: refusedBy };
    const primary = primaryDecision(this.#decisions);
    if (primary !== null && primary.outcome === 'blocked')
      return { decision: 'blocked', rule: primary.rule };
    if (errorCode === 'BK_RATE_LIMITED') return { decision: 'blocked', rule: 'limits' };
    if (errorCode === 'BK_BUDGET_EXCEEDED') return { decision: 'blocked', rule: 'budgets' };
    if (status !== 'ok') return { decision: status, rule: primary?.rule ?? null };
    return { decision: primary?.outcome ?? 'allowed', rule: primary?.rule ?? null };
  }
}
