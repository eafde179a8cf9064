import { sql } from 'kysely';
import type { OperatorTx, TenantTx } from '../../db/scope.ts';

/** The tenant's chain head as the database has it now; undefined before its first event. */
export async function readHead(
  tx: TenantTx | OperatorTx,
  tenantId: string,
): Promise<{ seq: number; hash: Buffer } | undefined> {
  const head = await tx
    .selectFrom('audit_heads')
    .select(['seq', 'hash'])
    .where('tenant_id', '=', tenantId)
    .executeTakeFirst();
  return head === undefined ? undefined : { seq: Number(head.seq), hash: Buffer.from(head.hash) };
}

/** The stored hash of each of these events of the tenant (absent events are absent from the map). */
export async function hashesAt(
  tx: TenantTx | OperatorTx,
  tenantId: string,
  seqs: readonly number[],
): Promise<Map<number, Buffer>> {
  const wanted = [...new Set(seqs.filter((s) => s > 0))];
  if (wanted.length === 0) return new Map();
  const rows = await tx
    .selectFrom('audit_events')
    .select(['seq', 'hash'])
    .where('tenant_id', '=', tenantId)
    .where('seq', 'in', wanted.map(String))
    .execute();
  return new Map(rows.map((r) => [Number(r.seq), Buffer.from(r.hash)]));
}

export interface HeadToAnchor {
  tenantId: string;
  seq: number;
  hash: Buffer;
  /** The position last claimed for publication, if any. */
  anchored: { seq: number; hash: Buffer; published: boolean } | null;
  /** The hash the event at the anchored position has now (null: that event is gone). */
  hashAtAnchor: Buffer | null;
}

/**
 * Every tenant whose head differs from its last anchored position, or whose last claim was left
 * unpublished past `staleBefore` — one statement for all tenants, paged by tenant id. Each row also
 * carries the current hash of the event at the anchored position, so the publisher can tell a head
 * that moved on from one that was cut back or rewritten without another query.
 */
export async function findHeadsToAnchor(
  tx: OperatorTx,
  page: { after: string; limit: number; staleBefore: Date },
): Promise<HeadToAnchor[]> {
  const result = await sql<{
    tenant_id: string;
    seq: string | number;
    hash: Uint8Array;
    anchored_seq: string | number | null;
    anchored_hash: Uint8Array | null;
    published_at: Date | null;
    hash_at_anchor: Uint8Array | null;
  }>`
    select h.tenant_id, h.seq, h.hash,
           a.seq as anchored_seq, a.hash as anchored_hash, a.published_at,
           e.hash as hash_at_anchor
      from audit_heads h
      left join audit_anchors a on a.tenant_id = h.tenant_id
      left join audit_events e on e.tenant_id = a.tenant_id and e.seq = a.seq
     where h.seq > 0
       and h.tenant_id > ${page.after}
       and (a.tenant_id is null
            or a.seq <> h.seq
            or a.hash <> h.hash
            or (a.published_at is null and a.claimed_at < ${page.staleBefore}))
     order by h.tenant_id
     limit ${page.limit}`.execute(tx);
  return result.rows.map((r) => ({
    tenantId: r.tenant_id,
    seq: Number(r.seq),
    hash: Buffer.from(r.hash),
    anchored:
      r.anchored_seq === null || r.anchored_hash === null
        ? null
        : {
            seq: Number(r.anchored_seq),
            hash: Buffer.from(r.anchored_hash),
            published: r.published_at !== null,
          },
    hashAtAnchor: r.hash_at_anchor === null ? null : Buffer.from(r.hash_at_anchor),
  }));
}

export interface AnchorClaim {
  tenantId: string;
  seq: number;
  hash: Buffer;
  checkpoint: string;
}

/**
 * Claims positions for publication in one statement. A claim takes only if it moves the tenant's
 * anchored position forward, or re-takes the same position whose earlier claim was never
 * published and has gone stale. Two nodes claiming the same head: the second finds the position
 * already there (its upsert waits for the first's row lock, then re-checks) and gets nothing back.
 */
export async function claimAnchors(
  tx: OperatorTx,
  claims: readonly AnchorClaim[],
  claimedAt: Date,
  staleBefore: Date,
): Promise<Set<string>> {
  if (claims.length === 0) return new Set();
  const rows = await tx
    .insertInto('audit_anchors')
    .values(
      claims.map((c) => ({
        tenant_id: c.tenantId,
        seq: c.seq,
        hash: c.hash,
        checkpoint: c.checkpoint,
        claimed_at: claimedAt,
        published_at: null,
      })),
    )
    .onConflict((oc) =>
      oc
        .column('tenant_id')
        .doUpdateSet((eb) => ({
          seq: eb.ref('excluded.seq'),
          hash: eb.ref('excluded.hash'),
          checkpoint: eb.ref('excluded.checkpoint'),
          claimed_at: eb.ref('excluded.claimed_at'),
          published_at: null,
        }))
        .where((eb) =>
          eb.or([
            eb('audit_anchors.seq', '<', eb.ref('excluded.seq')),
            eb.and([
              eb('audit_anchors.seq', '=', eb.ref('excluded.seq')),
              eb('audit_anchors.hash', '=', eb.ref('excluded.hash')),
              eb('audit_anchors.published_at', 'is', null),
              eb('audit_anchors.claimed_at', '<', staleBefore),
            ]),
          ]),
        ),
    )
    .returning('tenant_id')
    .execute();
  return new Set(rows.map((r) => r.tenant_id));
}

/** Marks claims as published (every sink took them), or releases them for the next tick. */
export async function settleClaims(
  tx: OperatorTx,
  claims: readonly AnchorClaim[],
  outcome: { publishedAt: Date } | { released: true },
): Promise<void> {
  if (claims.length === 0) return;
  await tx
    .updateTable('audit_anchors')
    .set(
      'publishedAt' in outcome
        ? { published_at: outcome.publishedAt }
        : { claimed_at: new Date(0) },
    )
    .where(
      'tenant_id',
      'in',
      claims.map((c) => c.tenantId),
    )
    .where(
      'checkpoint',
      'in',
      claims.map((c) => c.checkpoint),
    )
    .where('published_at', 'is', null)
    .execute();
}
