import type { FastifyBaseLogger } from 'fastify';
import type { Insertable } from 'kysely';
import { newId } from '../core/ids.ts';
import type { UsageRecordsTable } from '../db/schema.ts';
import { type Database, withTenantGroups } from '../db/scope.ts';

export type UsageRecord = Omit<Insertable<UsageRecordsTable>, 'usage_id'>;

interface Pending {
  record: Insertable<UsageRecordsTable>;
  settle: (err?: unknown) => void;
}

function byTenant(batch: readonly Pending[]): Map<string, Insertable<UsageRecordsTable>[]> {
  const groups = new Map<string, Insertable<UsageRecordsTable>[]>();
  for (const { record } of batch) {
    const group = groups.get(record.tenant_id);
    if (group) group.push(record);
    else groups.set(record.tenant_id, [record]);
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
  #queue: Pending[] = [];
  #writing: Promise<void> | null = null;

  constructor(db: Database, options: { maxBatch: number; log: FastifyBaseLogger }) {
    this.#db = db;
    this.#maxBatch = options.maxBatch;
    this.#log = options.log;
  }

  record(record: UsageRecord): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#queue.push({
        record: { ...record, usage_id: newId('usage') },
        settle: (err) =>
          err === undefined
            ? resolve()
            : reject(err instanceof Error ? err : new Error('usage write failed', { cause: err })),
      });
      this.#writing ??= this.#drain();
    });
  }

  async #drain(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        let batch: Pending[] = [];
        try {
          await this.#write(() => (batch = this.#queue.splice(0, this.#maxBatch)));
          for (const p of batch) p.settle();
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

  /** One record the database refuses must not fail the others that shared its transaction. */
  async #settleOneByOne(batch: Pending[], err: unknown): Promise<void> {
    if (batch.length === 1) {
      this.#log.error({ err }, 'a usage record could not be written');
      batch[0]!.settle(err);
      return;
    }
    for (const p of batch) {
      try {
        await this.#write(() => [p]);
        p.settle();
      } catch (one) {
        this.#log.error({ err: one }, 'a usage record could not be written');
        p.settle(one);
      }
    }
  }

  #write(take: () => Pending[]): Promise<void> {
    return withTenantGroups(
      this.#db,
      () => byTenant(take()),
      async (_tenantId, records, tx) => {
        await tx.insertInto('usage_records').values(records).execute();
      },
    );
  }

  /** Waits for every record handed in so far to be written. */
  async flush(): Promise<void> {
    while (this.#writing !== null) await this.#writing;
  }
}
