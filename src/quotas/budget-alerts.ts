import { createHmac } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import { appendAuditEvent } from '../audit/append.ts';
import type { TenantContext } from '../core/tenant-context.ts';
import { type Database, type TenantTx, withTenant } from '../db/scope.ts';
import { discardBody, type UpstreamClient } from '../gateway/providers/upstream/http-client.ts';
import type { TenantKeyring } from '../secrets/tenant-keyring.ts';
import type { ThresholdCrossing } from './budgets/budget-guard.ts';

export const WEBHOOK_SIGNING_PURPOSE = 'webhook-signing';

export function webhookSigningSecret(
  keyring: TenantKeyring,
  tx: TenantTx,
  tenantId: string,
): Promise<string> {
  return keyring
    .deriveSecret(tx, tenantId, WEBHOOK_SIGNING_PURPOSE)
    .then((key) => `whsec_${key.toString('base64url')}`);
}

/** `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, the scheme Stripe made familiar. */
export function signWebhook(secret: string, timestamp: number, body: string): string {
  const mac = createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
  return `t=${timestamp},v1=${mac}`;
}

const usd = (nano: number) => nano / 1_000_000_000;

/**
 * A budget threshold was crossed: recorded in the tenant's audit trail (committed before anything
 * is sent), then announced to the tenant's webhook, if it has one, with a signed body. Delivery
 * is attempted three times with backoff and never delays the request that crossed the threshold.
 */
export class BudgetAlerts {
  readonly #db: Database;
  readonly #keyring: TenantKeyring;
  readonly #http: UpstreamClient;
  readonly log: FastifyBaseLogger;
  readonly #pending = new Set<Promise<void>>();

  constructor(deps: {
    db: Database;
    keyring: TenantKeyring;
    http: UpstreamClient;
    log: FastifyBaseLogger;
  }) {
    this.#db = deps.db;
    this.#keyring = deps.keyring;
    this.#http = deps.http;
    this.log = deps.log;
  }

  async announce(
    ctx: TenantContext,
    crossings: readonly ThresholdCrossing[],
    webhookUrl: string | undefined,
  ): Promise<void> {
    if (crossings.length === 0) return;
    const events = crossings.map((c) => ({
      type: 'budget.threshold_crossed' as const,
      tenantId: ctx.tenantId,
      scope: c.scope,
      subjectId: c.id,
      window: c.window,
      windowStart: c.windowStart.toISOString(),
      threshold: c.threshold,
      limitUsd: usd(c.limitNanoUsd),
      spentUsd: usd(c.spentNanoUsd),
      requestId: ctx.requestId,
    }));
    const secret = await withTenant(this.#db, ctx, async (tx) => {
      for (const event of events) {
        await appendAuditEvent(tx, this.#keyring, {
          tenantId: ctx.tenantId,
          actor: { kind: 'system', id: 'budgets' },
          action: 'budget.threshold_crossed',
          resource: { type: `budget:${event.scope}`, id: event.subjectId },
          decision: event.threshold === 'hard' ? 'blocked' : 'flagged',
          rule: `budgets.${event.scope === 'tenant' ? 'tenant' : 'perKey'}.${event.window === 'day' ? 'daily' : 'monthly'}.${event.threshold}Usd`,
          requestId: ctx.requestId,
          details: event,
        });
      }
      return webhookUrl === undefined
        ? null
        : webhookSigningSecret(this.#keyring, tx, ctx.tenantId);
    });
    if (webhookUrl === undefined || secret === null) return;
    for (const event of events) {
      const delivery = this.#deliver(new URL(webhookUrl), secret, event).finally(() =>
        this.#pending.delete(delivery),
      );
      this.#pending.add(delivery);
    }
  }

  async #deliver(url: URL, secret: string, event: object): Promise<void> {
    const body = JSON.stringify(event);
    for (let attempt = 1; attempt <= 3; attempt++) {
      try {
        const timestamp = Math.floor(Date.now() / 1000);
        const response = await this.#http.postRaw(
          url,
          { 'x-bulkhead-signature': signWebhook(secret, timestamp, body) },
          body,
          AbortSignal.timeout(10_000),
        );
        discardBody(response.body);
        if (response.status < 300) return;
        this.log.warn({ status: response.status, attempt }, 'budget webhook refused');
      } catch (err) {
        this.log.warn({ err, attempt }, 'budget webhook failed');
      }
      await new Promise((resolve) => setTimeout(resolve, 500 * 2 ** attempt));
    }
  }

  /** Lets deliveries in flight finish (on shutdown). */
  async drain(): Promise<void> {
    await Promise.allSettled([...this.#pending]);
  }
}
