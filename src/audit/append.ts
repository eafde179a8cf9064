import { newId } from '../core/ids.ts';
import { principalId, type TenantContext } from '../core/tenant-context.ts';
import type { OperatorTx, TenantTx } from '../db/scope.ts';
import type { TenantKeyring } from '../secrets/tenant-keyring.ts';
import { GENESIS_HASH, linkHash, payloadCommitment } from './chain.ts';

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
 * Locks the tenant's chain head, and reads its newest data key (and that key's version) in the same
 * statement (appends run on every AI call). The head is created on the tenant's first append.
 */
async function lockHead(tx: TenantTx | OperatorTx, tenantId: string) {
  const read = () =>
    tx
      .selectFrom('audit_heads')
      .innerJoin('tenant_data_keys', 'tenant_data_keys.tenant_id', 'audit_heads.tenant_id')
      .select([
        'audit_heads.seq',
        'audit_heads.hash',
        'tenant_data_keys.key_version',
        'tenant_data_keys.wrapped_key',
      ])
      .where('audit_heads.tenant_id', '=', tenantId)
      .orderBy('tenant_data_keys.key_version', 'desc')
      .limit(1)
      .forUpdate('audit_heads')
      .executeTakeFirst();
  const head = await read();
  if (head !== undefined) return head;
  await tx
    .insertInto('audit_heads')
    .values({ tenant_id: tenantId, seq: 0, hash: GENESIS_HASH })
    .onConflict((oc) => oc.column('tenant_id').doNothing())
    .execute();
  const created = await read();
  if (created === undefined) throw new Error(`tenant ${tenantId} has no data key`);
  return created;
}

/**
 * Appends events of one tenant to its chain, in order, inside the caller's transaction, so they
 * commit with the change they record, or not at all. The head row is locked for the rest of the
 * transaction: appends of one tenant are serialised, and the chain never forks. A batch costs the
 * same few statements as one event (one lock, one data-key read, one insert).
 *
 * A payload is sealed with a random salt inside, and the link commits to SHA-256(salt ‖ payload),
 * stored as `payload_commitment`: the payload can be re-encrypted under a new data key later
 * without touching the chain, and `verifyChain` still finds a payload edited or swapped.
 */
export async function appendAuditEvents(
  tx: TenantTx | OperatorTx,
  keyring: TenantKeyring,
  tenantId: string,
  events: readonly AuditEvent[],
): Promise<void> {
  if (events.length === 0) return;
  const head = await lockHead(tx, tenantId);
  const payloads = events.map((e) => (e.payload === undefined ? null : JSON.stringify(e.payload)));
  const sealed = await keyring.sealSaltedManyWithWrappedKey(
    tx,
    tenantId,
    { version: head.key_version, wrappedKey: head.wrapped_key },
    AUDIT_PAYLOAD_PURPOSE,
    payloads,
  );
  let seq = Number(head.seq);
  let prevHash: Uint8Array = head.hash;
  const rows = events.map((event, i) => {
    if (event.tenantId !== tenantId) throw new Error('an audit batch holds one tenant only');
    const payload = sealed[i] ?? null;
    const fields = {
      tenantId,
      seq: ++seq,
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
      sealedPayload: payload?.sealed ?? null,
      payloadCommitment:
        payload === null
          ? null
          : payloadCommitment(payload.salt, Buffer.from(payloads[i]!, 'utf8')),
    };
    const hash = linkHash(prevHash, fields);
    const row = {
      tenant_id: tenantId,
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
      sealed_payload: fields.sealedPayload,
      payload_commitment: fields.payloadCommitment,
      prev_hash: prevHash,
      hash,
    };
    prevHash = hash;
    return row;
  });
  await tx.insertInto('audit_events').values(rows).execute();
  await tx
    .updateTable('audit_heads')
    .set({ seq, hash: prevHash })
    .where('tenant_id', '=', tenantId)
    .execute();
}

export function appendAuditEvent(
  tx: TenantTx | OperatorTx,
  keyring: TenantKeyring,
  event: AuditEvent,
): Promise<void> {
  return appendAuditEvents(tx, keyring, event.tenantId, [event]);
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
