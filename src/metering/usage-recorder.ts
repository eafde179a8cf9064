import type { FastifyBaseLogger } from 'fastify';
import type { Insertable } from 'kysely';
import { newId } from '../core/ids.ts';
import type { UsageRecordsTable } from '../db/schema.ts';
import { type Database, type TenantTx, withTenantGroup, withTenantGroups } from '../db/scope.ts';
import { type AuditEvent, appendAuditEvents } from '../audit/append.ts';
import type { TenantKeyring } from '../secrets/tenant-keyring.ts';

export type UsageRecord = Omit<Insertable<UsageRecordsTable>, 'usage_id'>;

interface Pending {
  record: Insertable<UsageRecordsTable>;
  /** The audit event of the same call: it commits with the usage record or not at all. */
  audit: AuditEvent;
  settle: (err?: unknown) => void;
}

function byTenant(batch: readonly Pending[]): Map<string, Pending[]> {
  const groups = new Map<string, Pending[]>();
  for (const pending of batch) {
    const group = groups.get(pending.record.tenant_id);
    if (group) group.push(pending);
    else groups.set(pending.record.tenant_id, [pending]);
  }
  return groups;
}

/**
 * Group commit for usage records. `record` resolves only once the record is committed, and the
 * gateway answers only after that, so nothing a response acknowledged can be lost. One write is in
 * flight at a time; it takes every record queued by the time it holds a connection, so under load
 * many requests share one commit.
 */
export class UsageRecorder {
  readonly #db: Database;
  readonly #maxBatch: number;
  readonly #log: FastifyBaseLogger;
  readonly #keyring: TenantKeyring;
  #queue: Pending[] = [];
  #writing: Promise<void> | null = null;
  readonly #elsewhere = new Set<Promise<void>>();

  constructor(
    db: Database,
    options: { maxBatch: number; log: FastifyBaseLogger; keyring: TenantKeyring },
  ) {
    this.#db = db;
    this.#keyring = options.keyring;
    this.#maxBatch = options.maxBatch;
    this.#log = options.log;
  }

  record(record: UsageRecord, audit: AuditEvent): Promise<void> {
    return new Promise((resolve, reject) => {
      const usageId = newId('usage');
      this.#queue.push({
        record: { ...record, usage_id: usageId },
        audit: { ...audit, details: { ...audit.details, usageId } },
        settle: (err) =>
          err === undefined
            ? resolve()
            : reject(err instanceof Error ? err : new Error('usage write failed', { cause: err })),
      });
      // One turn of the event loop first: the embedded database answers without yielding, so
      // without it every record would commit alone; with it, records from every response that
      // arrived in this turn share the commit.
      this.#writing ??= new Promise<void>((r) => setImmediate(r)).then(() => this.#drain());
    });
  }

  async #drain(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        let batch: Pending[] = [];
        try {
          const elsewhere = await this.#write(
            () => (batch = this.#queue.splice(0, this.#maxBatch)),
          );
          const deferred = new Set([...elsewhere.values()].flat());
          for (const p of batch) if (!deferred.has(p)) p.settle();
          for (const [tenantId, group] of elsewhere) this.#writeAtHome(tenantId, group);
        } catch (err) {
          // No connection at all (the batch was never taken): the waiting requests fail now.
          if (batch.length === 0) batch = this.#queue.splice(0, this.#maxBatch);
          await this.#settleOneByOne(batch, err);
        }
      }
    } finally {
      this.#writing = null;
    }
  }

  /**
   * Records of a tenant served by its own database, or being moved, are written there on their own,
   * so a tenant paused by a move never holds up the shared queue.
   */
  #writeAtHome(tenantId: string, group: Pending[]): void {
    const done = withTenantGroup(this.#db, tenantId, (tx) => this.#insert(tenantId, group, tx))
      .then(
        () => {
          for (const p of group) p.settle();
        },
        (err: unknown) => this.#settleOneByOne(group, err),
      )
      .finally(() => this.#elsewhere.delete(done));
    this.#elsewhere.add(done);
  }

  /** One record the database refuses must not fail the others that shared its transaction. */
  async #settleOneByOne(batch: Pending[], err: unknown): Promise<void> {
    if (batch.length === 1) {
      this.#log.error({ err }, 'a usage record could not be written');
      batch[0]!.settle(err);
      return;
    }
    for (const p of batch) {
      try {
        const tenantId = p.record.tenant_id;
        await withTenantGroup(this.#db, tenantId, (tx) => this.#insert(tenantId, [p], tx));
        p.settle();
      } catch (one) {
        this.#log.error({ err: one }, 'a usage record could not be written');
        p.settle(one);
      }
    }
  }

  /** Writes the pooled tenants' groups; returns the groups of tenants served elsewhere. */
  #write(take: () => Pending[]): Promise<ReadonlyMap<string, Pending[]>> {
    return withTenantGroups(
      this.#db,
      () => byTenant(take()),
      (tenantId, group, tx) => this.#insert(tenantId, group, tx),
    );
  }

  async #insert(tenantId: string, group: Pending[], tx: TenantTx): Promise<void> {
    await tx
      .insertInto('usage_records')
      .values(group.map((p) => p.record))
      .execute();
    await appendAuditEvents(
      tx,
      this.#keyring,
      tenantId,
      group.map((p) => p.audit),
    );
  }

  /** Waits for every record handed in so far to be written. */
  async flush(): Promise<void> {
    while (this.#writing !== null || this.#elsewhere.size > 0) {
      await this.#writing;
      await Promise.all(this.#elsewhere);
    }
  }
}
