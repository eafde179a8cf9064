import { z } from 'zod';
import type { AnchorSigner } from './signing-key.ts';

export const CHECKPOINT_FORMAT = 'bulkhead-audit-checkpoint/1';

const tenantIdPattern = /^tn_[0-9a-z]{26}$/;

/** What a checkpoint states: the tenant's chain had event `seq` with this `hash` at time `at`. */
export const checkpointFields = z.strictObject({
  format: z.literal(CHECKPOINT_FORMAT),
  tenantId: z.string().regex(tenantIdPattern, 'must be a tenant id'),
  seq: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  hash: z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lower-case hex digits'),
  at: z.iso.datetime({ offset: true }),
  keyId: z.string().min(1).max(128),
});
export type CheckpointFields = z.infer<typeof checkpointFields>;

const compactJws = z
  .string()
  .max(4096)
  .regex(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/, 'must be a compact JWS');

/**
 * A signed checkpoint as the API returns it and the publisher writes it (one JSON line): the
 * readable fields, and the JWS that signs them. Only the JWS counts; the readable copy, when sent
 * back, must say exactly what the JWS says.
 */
export const signedCheckpoint = z.strictObject({
  object: z.literal('audit_checkpoint').optional(),
  checkpoint: checkpointFields.optional(),
  jws: compactJws,
});
export type SignedCheckpoint = z.infer<typeof signedCheckpoint>;

export const MAX_CHECKPOINTS_PER_REQUEST = 1000;

export const checkpointBatch = z.strictObject({
  checkpoints: z.array(signedCheckpoint).min(1).max(MAX_CHECKPOINTS_PER_REQUEST),
});

export async function signCheckpoint(
  signer: AnchorSigner,
  head: { tenantId: string; seq: number; hash: Uint8Array },
  at: Date,
): Promise<{ object: 'audit_checkpoint'; checkpoint: CheckpointFields; jws: string }> {
  const checkpoint: CheckpointFields = {
    format: CHECKPOINT_FORMAT,
    tenantId: head.tenantId,
    seq: head.seq,
    hash: Buffer.from(head.hash).toString('hex'),
    at: at.toISOString(),
    keyId: signer.keyId,
  };
  return {
    object: 'audit_checkpoint',
    checkpoint,
    jws: await signer.sign(JSON.stringify(checkpoint)),
  };
}

/** The payload of a JWS, read without checking its signature (to route it, never to trust it). */
export function unverifiedFields(jws: string): CheckpointFields | null {
  const part = jws.split('.')[1];
  if (part === undefined) return null;
  try {
    const parsed = checkpointFields.safeParse(
      JSON.parse(Buffer.from(part, 'base64url').toString('utf8')),
    );
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}
