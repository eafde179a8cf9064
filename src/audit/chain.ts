import { createHash } from 'node:crypto';

export const GENESIS_HASH = Buffer.alloc(32);

/** The fields a link commits to; anything else in the row (indexes, ids of convenience) does not. */
export interface ChainedFields {
  tenantId: string;
  seq: number;
  eventId: string;
  at: Date;
  actorKind: string;
  actorId: string;
  action: string;
  resourceType: string;
  resourceId: string | null;
  decision: string;
  rule: string | null;
  requestId: string | null;
  details: Record<string, unknown>;
  sealedPayload: Uint8Array | null;
  /**
   * SHA-256(salt ‖ payload plaintext) for events written since payload commitments exist; null for
   * events without a payload and for older events, whose link commits to the ciphertext instead.
   */
  payloadCommitment: Uint8Array | null;
}

/** What a new event's link commits to instead of its payload's ciphertext. */
export function payloadCommitment(salt: Uint8Array, plaintext: Uint8Array): Buffer {
  return createHash('sha256').update(salt).update(plaintext).digest();
}

/** Keys sorted at every level, so the same details hash the same whatever order they came in. */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, canonical((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

/**
 * hash = SHA-256(previous hash ‖ canonical JSON of the fields). Editing any field, removing a link
 * or moving one breaks this link or the next. The payload is committed to through its commitment
 * (salted hash of the content), so re-encrypting it under a new data key leaves the link intact;
 * events written before commitments existed commit to the sealed payload byte for byte. The two
 * cannot be confused: base64 has no ':'.
 */
export function linkHash(prevHash: Uint8Array, fields: ChainedFields): Buffer {
  const body = JSON.stringify([
    fields.tenantId,
    fields.seq,
    fields.eventId,
    fields.at.toISOString(),
    fields.actorKind,
    fields.actorId,
    fields.action,
    fields.resourceType,
    fields.resourceId,
    fields.decision,
    fields.rule,
    fields.requestId,
    canonical(fields.details),
    fields.payloadCommitment !== null
      ? `sha256:${Buffer.from(fields.payloadCommitment).toString('hex')}`
      : fields.sealedPayload === null
        ? null
        : Buffer.from(fields.sealedPayload).toString('base64'),
  ]);
  return createHash('sha256').update(prevHash).update(body, 'utf8').digest();
}
