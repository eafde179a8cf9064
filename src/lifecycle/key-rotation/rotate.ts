import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import { type AuditActor, appendAuditEvent } from '../../audit/append.ts';
import { type Database, type OperatorTx, withOperator } from '../../db/scope.ts';
import { assertTenantExists } from '../../identity/tenants/repository.ts';
import { sealedKeyVersionSql } from '../../secrets/sealed-sql.ts';
import type { TenantDataKeys, TenantKeyring } from '../../secrets/tenant-keyring.ts';
import { SEALED_COLUMNS, type SealedColumn } from './sealed-columns.ts';

/** Who asked, as recorded in `operator_actions` (every page) and in the tenant's audit trail. */
export interface RotationRequest {
  operator: string;
  reason: string;
  actor: AuditActor;
  requestId: string | null;
}

export interface KeptVersion {
  version: number;
  /** Audit events written before payload commitments: their links commit to the ciphertext. */
  legacyAuditEvents: number;
  /** Values that do not open (altered in the database), so cannot be re-encrypted. */
  unreadableValues: number;
  reason: string;
}

export interface RotationReport {
  object: 'data_key_rotation';
  tenantId: string;
  /** The version every value is under now, and new values are sealed with. */
  version: number;
  /** Values re-encrypted, per `table.column`. */
  reencrypted: Record<string, number>;
  /** Versions whose wrapped key was deleted: nothing sealed under them opens any more. */
  retired: number[];
  kept: KeptVersion[];
}

export interface RotationOptions {
  pageSize?: number;
  /**
   * Between the last re-encryption and retiring a version: a transaction that read a value just
   * before it was re-encrypted, and reads the keys just after, still finds the old one. Longer
   * than any short transaction.
   */
  retireGraceMs?: number;
}

const PAGE = 200;
const RETIRE_GRACE_MS = 1000;
/** Passes over every column; the second only finds values a writer sealed while the first ran. */
const MAX_PASSES = 5;

const qualified = (c: SealedColumn) => `${c.table}.${c.column}`;

interface PageResult {
  reencrypted: number;
  unreadable: number;
  last: unknown[] | null;
}

/**
 * One page of one column: the values after `after` (in key order) not under the newest key, each
 * opened with the version it names and sealed again with the newest — salt kept, so an audit
 * payload still matches its commitment. One statement writes the page back, and only over values
 * unchanged since they were read: a value a request rewrote meanwhile is left to the next pass.
 */
async function reencryptPage(
  tx: OperatorTx,
  keyring: TenantKeyring,
  keys: TenantDataKeys,
  column: SealedColumn,
  after: unknown[] | null,
  limit: number,
): Promise<PageResult> {
  const tenantId = keys.tenantId;
  const keyRefs = column.key.map((k) => sql.ref(k.name));
  const keyTuple = sql.join(keyRefs);
  const sealed = sql.ref(column.column);
  const rows = await sql<Record<string, unknown>>`
    select ${keyTuple}, ${sealed} as sealed from ${sql.table(column.table)}
    where tenant_id = ${tenantId}
      and ${sealed} is not null
      and ${sealedKeyVersionSql(column.column)} <> ${keys.newest}
      ${column.committed === true ? sql`and payload_commitment is not null` : sql``}
      ${after === null ? sql`` : sql`and (${keyTuple}) > (${sql.join(after.map((v, i) => sql`${v}::${sql.raw(column.key[i]!.type)}`))})`}
    order by ${keyTuple}
    limit ${limit}`.execute(tx);
  const last = rows.rows.at(-1);
  const updates: { key: unknown[]; old: Uint8Array; next: Buffer }[] = [];
  let unreadable = 0;
  for (const row of rows.rows) {
    const old = row.sealed as Uint8Array;
    const opened = keyring.tryOpen(keys, column.purpose, old);
    if (opened === null) {
      unreadable++;
      continue;
    }
    updates.push({
      key: column.key.map((k) => row[k.name]),
      old,
      next: keyring.resealOpened(keys, column.purpose, opened),
    });
  }
  let reencrypted = 0;
  if (updates.length > 0) {
    const names = column.key.map((_, i) => sql.raw(`k${i}`));
    const values = sql.join(
      updates.map(
        (u) =>
          sql`(${sql.join(u.key.map((v, i) => sql`${v}::${sql.raw(column.key[i]!.type)}`))}, ${u.old}::bytea, ${u.next}::bytea)`,
      ),
    );
    const written = await sql`
      update ${sql.table(column.table)} as t set ${sealed} = v.new_value
      from (values ${values}) as v (${sql.join(names)}, old_value, new_value)
      where t.tenant_id = ${tenantId}
        and ${sql.join(
          column.key.map((k, i) => sql`${sql.ref(`t.${k.name}`)} = ${sql.ref(`v.k${i}`)}`),
          sql` and `,
        )}
        and ${sql.ref(`t.${column.column}`)} = v.old_value
      returning 1`.execute(tx);
    reencrypted = written.rows.length;
  }
  return {
    reencrypted,
    unreadable,
    last: last === undefined ? null : column.key.map((k) => last[k.name]),
  };
}

/** How many values of the tenant each key version still seals, split the way the report needs. */
async function valuesByVersion(
  tx: OperatorTx,
  tenantId: string,
): Promise<Map<number, { legacyAudit: number; other: number }>> {
  const counts = new Map<number, { legacyAudit: number; other: number }>();
  for (const column of SEALED_COLUMNS) {
    const sealed = sql.ref(column.column);
    const legacy =
      column.committed === true ? sql`payload_commitment is null` : sql<boolean>`false`;
    const rows = await sql<{ version: number; legacy: boolean; n: string | number }>`
      select ${sealedKeyVersionSql(column.column)} as version, ${legacy} as legacy, count(*) as n
      from ${sql.table(column.table)}
      where tenant_id = ${tenantId} and ${sealed} is not null
      group by 1, 2`.execute(tx);
    for (const row of rows.rows) {
      const entry = counts.get(Number(row.version)) ?? { legacyAudit: 0, other: 0 };
      if (row.legacy) entry.legacyAudit += Number(row.n);
      else entry.other += Number(row.n);
      counts.set(Number(row.version), entry);
    }
  }
  return counts;
}

/**
 * Rotates a tenant's data key while its traffic goes on:
 * 1. adds a new key version — new values are sealed with it from that commit on;
 * 2. re-encrypts every sealed column of the tenant (SEALED_COLUMNS) under it, one page per short
 *    operator transaction, pass after pass until a pass finds nothing more to do;
 * 3. after a grace period, in one transaction, deletes every older version that seals no value
 *    any more, and reports those it keeps, and why.
 * Steps 1 and 3 are events in the tenant's audit trail. Everything after step 1 is idempotent: run
 * again after a crash, a rotation finishes what the last one left (it adds one more version, and
 * retires the one left half-done along with the older one).
 */
export async function rotateDataKey(
  deps: { db: Database; keyring: TenantKeyring },
  tenantId: string,
  request: RotationRequest,
  options: RotationOptions = {},
): Promise<RotationReport> {
  const pageSize = options.pageSize ?? PAGE;
  const inTx = <T>(fn: (tx: OperatorTx) => Promise<T>) =>
    withOperator(deps.db, { operator: request.operator, reason: request.reason, tenantId }, fn);
  const event = (tx: OperatorTx, action: string, details: Record<string, unknown>) =>
    appendAuditEvent(tx, deps.keyring, {
      tenantId,
      actor: request.actor,
      action,
      resource: { type: 'data_key', id: null },
      decision: 'allowed',
      requestId: request.requestId,
      details: { ...details, reason: request.reason },
    });

  const added = await inTx(async (tx) => {
    await assertTenantExists(tx, tenantId);
    const version = await deps.keyring.addDataKeyVersion(tx, tenantId);
    await event(tx, 'data_key.rotate', { version });
    return version;
  });

  const reencrypted: Record<string, number> = Object.fromEntries(
    SEALED_COLUMNS.map((c) => [qualified(c), 0]),
  );
  for (let pass = 0; pass < MAX_PASSES; pass++) {
    let changed = 0;
    for (const column of SEALED_COLUMNS) {
      let after: unknown[] | null = null;
      for (;;) {
        const from: unknown[] | null = after;
        const page: PageResult = await inTx(async (tx) =>
          reencryptPage(
            tx,
            deps.keyring,
            await deps.keyring.dataKeys(tx, tenantId),
            column,
            from,
            pageSize,
          ),
        );
        reencrypted[qualified(column)]! += page.reencrypted;
        changed += page.reencrypted;
        if (page.last === null) break;
        after = page.last;
      }
    }
    if (changed === 0) break;
  }

  await sleep(options.retireGraceMs ?? RETIRE_GRACE_MS);

  return inTx(async (tx) => {
    const keys = await deps.keyring.dataKeys(tx, tenantId);
    const counts = await valuesByVersion(tx, tenantId);
    const retired: number[] = [];
    const kept: KeptVersion[] = [];
    for (const version of keys.versions) {
      if (version === keys.newest) continue;
      const count = counts.get(version) ?? { legacyAudit: 0, other: 0 };
      if (count.legacyAudit === 0 && count.other === 0) {
        await deps.keyring.retireDataKeyVersion(tx, tenantId, version);
        retired.push(version);
        continue;
      }
      const reasons = [
        ...(count.legacyAudit > 0
          ? [
              `${count.legacyAudit} audit events written before payload commitments: their links commit to the ciphertext, so re-encrypting would break the chain`,
            ]
          : []),
        ...(count.other > 0
          ? [`${count.other} values that do not open (altered in the database)`]
          : []),
      ];
      kept.push({
        version,
        legacyAuditEvents: count.legacyAudit,
        unreadableValues: count.other,
        reason: reasons.join('; '),
      });
    }
    const report: RotationReport = {
      object: 'data_key_rotation',
      tenantId,
      version: keys.newest,
      reencrypted,
      retired,
      kept,
    };
    await event(tx, 'data_key.retire', {
      version: keys.newest,
      added,
      reencrypted,
      retired,
      kept: kept.map((k) => ({
        version: k.version,
        legacyAuditEvents: k.legacyAuditEvents,
        unreadableValues: k.unreadableValues,
      })),
    });
    return report;
  });
}
