import type { BkError } from '../core/errors.ts';
import { principalId, type TenantContext } from '../core/tenant-context.ts';
import type { AuditEvent } from '../audit/append.ts';
import { priceUsage } from '../metering/prices.ts';
import type { UsageRecorder } from '../metering/usage-recorder.ts';
import type { Operation, ResolvedModel } from './router.ts';

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
  readonly #operation: Operation;
  readonly #stream: boolean;
  readonly #started = performance.now();
  #provider: string;
  #kind = 'unknown';
  #model: string;
  readonly #input: unknown;

  constructor(
    usage: UsageRecorder,
    ctx: TenantContext,
    operation: Operation,
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

  routed(route: ResolvedModel): void {
    this.#provider = route.providerName;
    this.#kind = route.providerKind;
    this.#model = route.upstreamModel;
  }

  /** `output` is the generated text (chat), or nothing (embeddings, whose vectors are not content). */
  succeeded(tokens: TokenCounts, output?: string): Promise<void> {
    return this.#record(tokens, 'ok', 200, null, output);
  }

  failed(error: BkError, tokens: TokenCounts | null, partialOutput?: string): Promise<void> {
    const status = error.code === 'BK_CLIENT_CLOSED' ? 'cancelled' : 'error';
    return this.#record(tokens, status, error.status, error.code, partialOutput);
  }

  #record(
    tokens: TokenCounts | null,
    status: 'ok' | 'error' | 'cancelled',
    httpStatus: number,
    errorCode: string | null,
    output: string | undefined,
  ): Promise<void> {
    const inputTokens = tokens?.inputTokens ?? 0;
    const outputTokens = tokens?.outputTokens ?? 0;
    const cost = priceUsage(this.#kind, this.#model, inputTokens, outputTokens);
    const principal = principalId(this.#ctx);
    const audit: AuditEvent = {
      tenantId: this.#ctx.tenantId,
      actor: principal,
      action: this.#operation === 'chat' ? 'chat.completion' : 'embeddings.create',
      resource: { type: 'model', id: `${this.#provider}/${this.#model}` },
      decision: status === 'ok' ? 'allowed' : status,
      requestId: this.#ctx.requestId,
      details: { stream: this.#stream, httpStatus, errorCode, inputTokens, outputTokens },
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
        created_at: new Date(),
      },
      audit,
    );
  }
}
