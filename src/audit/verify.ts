import type { OperatorTx, TenantTx } from '../db/scope.ts';
import type { TenantDataKeys, TenantKeyring } from '../secrets/tenant-keyring.ts';
import { AUDIT_PAYLOAD_PURPOSE } from './append.ts';
import { GENESIS_HASH, linkHash, payloadCommitment } from './chain.ts';

export type ChainReport =
  | { object: 'audit_verification'; tenantId: string; ok: true; events: number }
  | {
      object: 'audit_verification';
      tenantId: string;
      ok: false;
      events: number;
      /** The sequence number of the first link that does not hold. */
      brokenAt: number;
      reason: string;
    };

const PAGE = 1000;

/**
 * Walks the tenant's chain from the start and reports the first link that does not hold: a gap in
 * the sequence (a deleted event), a previous-hash that is not the hash before it (a moved event), a
 * hash that does not match the fields (an edited event), a payload that does not open or is not
 * the content its link committed to (an edited or swapped payload), or a head past the last event
 * (deleted events at the end). Payloads are opened to check them, never returned.
 */
export async function verifyChain(
  tx: TenantTx | OperatorTx,
  tenantId: string,
  keyring: TenantKeyring,
): Promise<ChainReport> {
  // Read once, and only if some event has a committed payload.
  let keys: TenantDataKeys | null | undefined;
  const payloadProblem = async (row: {
    seq: number;
    sealed: Uint8Array | null;
    commitment: Uint8Array;
  }): Promise<string | null> => {
    if (row.sealed === null) return `event ${row.seq}'s payload was removed`;
    keys ??= await keyring.dataKeys(tx, tenantId).catch(() => null);
    const opened = keys === null ? null : keyring.tryOpen(keys, AUDIT_PAYLOAD_PURPOSE, row.sealed);
    if (opened === null) {
      return `event ${row.seq}'s payload does not open (altered, or sealed under a key that no longer exists)`;
    }
    if (
      opened.salt === null ||
      !payloadCommitment(opened.salt, opened.plaintext).equals(Buffer.from(row.commitment))
    ) {
      return `event ${row.seq}'s payload is not the one it was written with (edited or swapped)`;
    }
    return null;
  };
  let expectedSeq = 1;
  let prevHash: Uint8Array = GENESIS_HASH;
  const broken = (brokenAt: number, reason: string): ChainReport => ({
    object: 'audit_verification',
    tenantId,
    ok: false,
    events: expectedSeq - 1,
    brokenAt,
    reason,
  });
  for (;;) {
    const rows = await tx
      .selectFrom('audit_events')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('seq', '>=', String(expectedSeq))
      .orderBy('seq')
      .limit(PAGE)
      .execute();
    for (const row of rows) {
      const seq = Number(row.seq);
      if (seq !== expectedSeq) return broken(expectedSeq, `event ${expectedSeq} is missing`);
      if (!Buffer.from(row.prev_hash).equals(prevHash)) {
        return broken(seq, `event ${seq} does not follow event ${seq - 1} (moved or replaced)`);
      }
      const recomputed = linkHash(prevHash, {
        tenantId: row.tenant_id,
        seq,
        eventId: row.event_id,
        at: row.at,
        actorKind: row.actor_kind,
        actorId: row.actor_id,
        action: row.action,
        resourceType: row.resource_type,
        resourceId: row.resource_id,
        decision: row.decision,
        rule: row.rule,
        requestId: row.request_id,
        details: row.details,
        sealedPayload: row.sealed_payload,
        payloadCommitment: row.payload_commitment,
      });
      if (!recomputed.equals(Buffer.from(row.hash))) {
        return broken(seq, `event ${seq} was changed after it was written`);
      }
      if (row.payload_commitment !== null) {
        const problem = await payloadProblem({
          seq,
          sealed: row.sealed_payload,
          commitment: row.payload_commitment,
        });
        if (problem !== null) return broken(seq, problem);
      }
      prevHash = row.hash;
      expectedSeq = seq + 1;
    }
    if (rows.length < PAGE) break;
  }
  const head = await tx
    .selectFrom('audit_heads')
    .select(['seq', 'hash'])
    .where('tenant_id', '=', tenantId)
    .executeTakeFirst();
  const headSeq = head === undefined ? 0 : Number(head.seq);
  if (
    headSeq !== expectedSeq - 1 ||
    (head !== undefined && !Buffer.from(head.hash).equals(prevHash))
  ) {
    return broken(
      expectedSeq,
      `the chain's head is at event ${headSeq}, but the events end at ${expectedSeq - 1}`,
    );
  }
  return { object: 'audit_verification', tenantId, ok: true, events: expectedSeq - 1 };
}
