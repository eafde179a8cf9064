import { newId } from '../core/ids.ts';
import { principalId, type TenantContext } from '../core/tenant-context.ts';
import type { OperatorTx, TenantTx } from '../db/scope.ts';
import type { TenantKeyring } from '../secrets/tenant-keyring.ts';
import { GENESIS_HASH, linkHash } from './chain.ts';

export const AUDIT_PAYLOAD_PURPOSE = 'audit-payload';

export type AuditActor = { kind: 'api_key' | 'user' | 'operator' | 'system'; id: string };

export interface AuditEvent {
  tenantId: string;
  actor: AuditActor;
  action: string;
  resource: { type: string; id: string | null };
  /** allowed, denied, error, cancelled … and later redacted, blocked, held, approved. */
  decision: string;
  /** The policy rule that decided, once policies exist. */
  rule?: string | null;
  requestId?: string | null;
  /** Metadata with no tenant content (model, status, token counts): stored in clear. */
  details?: Record<string, unknown>;
  /** Tenant content (prompts, completions): sealed with the tenant's data key. */
  payload?: unknown;
}

export function actorOf(ctx: TenantContext): AuditActor {
  return principalId(ctx);
}

/**
 * Appends one event to the tenant's chain inside the caller's transaction, so the event commits
 * with the change it records, or not at all. The head row is locked for the rest of the
 * transaction: appends of one tenant are serialised, and the chain never forks.
 */
export async function appendAuditEvent(
  tx: TenantTx | OperatorTx,
  keyring: TenantKeyring,
  event: AuditEvent,
): Promise<void> {
  await tx
    .insertInto('audit_heads')
    .values({ tenant_id: event.tenantId, seq: 0, hash: GENESIS_HASH })
    .onConflict((oc) => oc.column('tenant_id').doNothing())
    .execute();
  const head = await tx
    .selectFrom('audit_heads')
    .select(['seq', 'hash'])
    .where('tenant_id', '=', event.tenantId)
    .forUpdate()
    .executeTakeFirstOrThrow();

  const sealedPayload =
    event.payload === undefined
      ? null
      : await keyring.sealForTenant(
          tx,
          event.tenantId,
          AUDIT_PAYLOAD_PURPOSE,
          JSON.stringify(event.payload),
        );
  const fields = {
    tenantId: event.tenantId,
    seq: Number(head.seq) + 1,
    eventId: newId('auditEvent'),
    at: new Date(),
    actorKind: event.actor.kind,
    actorId: event.actor.id,
    action: event.action,
    resourceType: event.resource.type,
    resourceId: event.resource.id,
    decision: event.decision,
    rule: event.rule ?? null,
    requestId: event.requestId ?? null,
    details: event.details ?? {},
    sealedPayload,
  };
  const hash = linkHash(head.hash, fields);
  await tx
    .insertInto('audit_events')
    .values({
      tenant_id: fields.tenantId,
      seq: fields.seq,
      event_id: fields.eventId,
      at: fields.at,
      actor_kind: fields.actorKind,
      actor_id: fields.actorId,
      action: fields.action,
      resource_type: fields.resourceType,
      resource_id: fields.resourceId,
      decision: fields.decision,
      rule: fields.rule,
      request_id: fields.requestId,
      details: JSON.stringify(fields.details),
      sealed_payload: sealedPayload,
      prev_hash: head.hash,
      hash,
    })
    .execute();
  await tx
    .updateTable('audit_heads')
    .set({ seq: fields.seq, hash })
    .where('tenant_id', '=', event.tenantId)
    .execute();
}

/** A change made by the request's principal inside its own tenant. */
export function recordChange(
  tx: TenantTx,
  keyring: TenantKeyring,
  ctx: TenantContext,
  change: {
    action: string;
    resource: { type: string; id: string | null };
    details?: Record<string, unknown>;
  },
): Promise<void> {
  return appendAuditEvent(tx, keyring, {
    tenantId: ctx.tenantId,
    actor: actorOf(ctx),
    decision: 'allowed',
    requestId: ctx.requestId,
    ...change,
  });
}
