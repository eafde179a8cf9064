import type { TenantKeyring } from '../../secrets/tenant-keyring.ts';
import { isDeepStrictEqual } from 'node:util';
import { BkError } from '../../core/errors.ts';
import type { OperatorTx, TenantTx } from '../../db/scope.ts';
import { verifyChain } from '../verify.ts';
import { type CheckpointFields, checkpointFields, type SignedCheckpoint } from './checkpoint.ts';
import { hashesAt, readHead } from './repository.ts';
import type { AnchorSigner } from './signing-key.ts';

export type CheckpointCheck = 'signature' | 'truncated' | 'rewritten' | 'broken';

export interface CheckpointFailure {
  check: CheckpointCheck;
  reason: string;
  /** For `broken`: the first event of the chain that does not hold. */
  brokenAt?: number;
}

export interface CheckpointVerification {
  object: 'audit_checkpoint_verification';
  tenantId: string;
  ok: boolean;
  /** What the checkpoint signed; null when its signature does not hold. */
  checkpoint: { seq: number; hash: string; at: string; keyId: string } | null;
  /** The chain as it is now (null when the signature failed and the chain was not looked at). */
  head: { seq: number } | null;
  failures: CheckpointFailure[];
}

/** A submitted checkpoint after its signature was checked. */
export type OpenedCheckpoint = { fields: CheckpointFields } | { signatureFailure: string };

/**
 * Checks each signature, before anything reads the database. A checkpoint whose signature holds
 * but that names another tenant is refused as a whole request, like any other tenant's object: a
 * caller learns nothing of another tenant's chain through it.
 */
export async function openCheckpoints(
  signer: AnchorSigner,
  tenantId: string,
  submitted: readonly SignedCheckpoint[],
): Promise<OpenedCheckpoint[]> {
  const opened = await Promise.all(
    submitted.map(async (item): Promise<OpenedCheckpoint> => {
      const check = await signer.verify(item.jws);
      if (!check.ok) return { signatureFailure: check.reason };
      let parsed: unknown;
      try {
        parsed = JSON.parse(new TextDecoder().decode(check.payload));
      } catch {
        return { signatureFailure: 'the signed payload is not JSON' };
      }
      const fields = checkpointFields.safeParse(parsed);
      if (!fields.success) {
        return { signatureFailure: 'the signed payload is not a bulkhead-audit-checkpoint/1' };
      }
      if (item.checkpoint !== undefined && !isDeepStrictEqual(item.checkpoint, fields.data)) {
        return {
          signatureFailure: 'the readable checkpoint fields differ from what the JWS signs',
        };
      }
      return { fields: fields.data };
    }),
  );
  for (const item of opened) {
    if ('fields' in item && item.fields.tenantId !== tenantId) {
      throw new BkError(
        'BK_NOT_FOUND',
        `No checkpoint of this tenant ('${tenantId}') was given: it names another tenant.`,
        { param: 'jws' },
      );
    }
  }
  return opened;
}

/**
 * Holds each checkpoint against the chain as it is now: the head has not fallen below it
 * (`truncated`), the event it names still has the hash it signed (`rewritten`), and the chain
 * verifies from its first event through its head (`broken`). The chain is walked once, however
 * many checkpoints are checked, inside the caller's transaction.
 */
export async function verifyOpenedCheckpoints(
  tx: TenantTx | OperatorTx,
  tenantId: string,
  opened: readonly OpenedCheckpoint[],
  keyring: TenantKeyring,
): Promise<CheckpointVerification[]> {
  const valid = opened.flatMap((o) => ('fields' in o ? [o.fields] : []));
  const head = valid.length === 0 ? undefined : await readHead(tx, tenantId);
  const headSeq = head?.seq ?? 0;
  const chain = valid.length === 0 ? null : await verifyChain(tx, tenantId, keyring);
  const stored = await hashesAt(
    tx,
    tenantId,
    valid.map((f) => f.seq),
  );
  return opened.map((item) => {
    if (!('fields' in item)) {
      return {
        object: 'audit_checkpoint_verification',
        tenantId,
        ok: false,
        checkpoint: null,
        head: null,
        failures: [{ check: 'signature', reason: item.signatureFailure }],
      };
    }
    const cp = item.fields;
    const failures: CheckpointFailure[] = [];
    if (headSeq < cp.seq) {
      failures.push({
        check: 'truncated',
        reason: `the chain's head is at event ${headSeq}, below the checkpoint's event ${cp.seq}: events were cut off`,
      });
    } else if (cp.seq > 0) {
      const now = stored.get(cp.seq);
      if (now === undefined) {
        failures.push({
          check: 'rewritten',
          reason: `event ${cp.seq} is no longer in the chain`,
        });
      } else if (now.toString('hex') !== cp.hash) {
        failures.push({
          check: 'rewritten',
          reason: `event ${cp.seq} has hash ${now.toString('hex')}, not the ${cp.hash} the checkpoint signed: the chain was rewritten up to it`,
        });
      }
    }
    if (chain !== null && !chain.ok) {
      failures.push({ check: 'broken', brokenAt: chain.brokenAt, reason: chain.reason });
    }
    return {
      object: 'audit_checkpoint_verification',
      tenantId,
      ok: failures.length === 0,
      checkpoint: { seq: cp.seq, hash: cp.hash, at: cp.at, keyId: cp.keyId },
      head: { seq: headSeq },
      failures,
    };
  });
}
