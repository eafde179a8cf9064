import type { FastifyBaseLogger } from 'fastify';
import { newId } from '../core/ids.ts';
import { type Database, withEachTenant } from '../db/scope.ts';
import type { Insertable } from 'kysely';
import type { UsageRecordsTable } from '../db/schema.ts';

export type UsageRecord = Omit<Insertable<UsageRecordsTable>, 'usage_id'>;

interface Pending {
  record: Insertable<UsageRecordsTable>;
  settle: (err?: unknown) => void;
}

/**
 * Group commit for usage records. `record` resolves only once the record is committed, and the
 * gateway answers only after that, so nothing a response acknowledged can be lost. Records that
 * arrive while a write is in flight wait for the next one and share its transaction: under load the
 * number of commits stays near one per database round trip rather than one per request.
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
        const batch = this.#queue.splice(0, this.#maxBatch);
        try {
          await this.#write(batch.map((p) => p.record));
          for (const p of batch) p.settle();
        } catch (err) {
          if (batch.length === 1) {
            this.#log.error({ err, records: 1 }, 'usage records could not be written');
            batch[0]!.settle(err);
            continue;
          }
          // One bad record must not fail the others that shared its transaction.
          for (const p of batch) {
            try {
              await this.#write([p.record]);
              p.settle();
            } catch (one) {
              this.#log.error({ err: one, records: 1 }, 'usage records could not be written');
              p.settle(one);
            }
          }
        }
      }
    } finally {
      this.#writing = null;
    }
  }

  async #write(records: Insertable<UsageRecordsTable>[]): Promise<void> {
    const byTenant = new Map<string, Insertable<UsageRecordsTable>[]>();
    for (const r of records) {
      const list = byTenant.get(r.tenant_id);
      if (list) list.push(r);
      else byTenant.set(r.tenant_id, [r]);
    }
    await withEachTenant(this.#db, [...byTenant.keys()], async (tenantId, tx) => {
      await tx.insertInto('usage_records').values(byTenant.get(tenantId)!).execute();
    });
  }

  /** Waits for every record handed in so far to be written. */
  async flush(): Promise<void> {
    while (this.#writing !== null) await this.#writing;
  }
}
