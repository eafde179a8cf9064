import { IntervalTask } from '../core/interval-task.ts';
import type { FastifyBaseLogger } from 'fastify';
import { sql } from 'kysely';
import { type Database, withOperatorEverywhere } from '../db/scope.ts';

export interface RetentionSweepOptions {
  db: Database;
  /** Time between the end of one sweep and the start of the next; 0: this node never sweeps. */
  intervalMs: number;
  log: FastifyBaseLogger;
  now?: () => Date;
}

/**
 * Deletes thread messages older than their tenant's retention (`memory.retentionDays` of the
 * tenant's current policy). It runs on every node; sweeps are idempotent, so nodes that sweep at
 * the same time only do the same deletes once. Threads themselves are kept, even when emptied.
 */
export class RetentionSweeper {
  readonly #db: Database;
  readonly #log: FastifyBaseLogger;
  readonly #now: () => Date;
  readonly #task: IntervalTask;

  constructor(options: RetentionSweepOptions) {
    if (!Number.isSafeInteger(options.intervalMs) || options.intervalMs < 0) {
      throw new Error(`retention sweep interval must be a whole number of ms ≥ 0`);
    }
    this.#db = options.db;
    this.#task = new IntervalTask(options.intervalMs, () => this.#sweepAndLog());
    this.#log = options.log;
    this.#now = options.now ?? (() => new Date());
  }

  /** Schedules the first sweep one interval from now. The timer never keeps the process alive. */
  start(): void {
    this.#task.start();
  }

  /** Cancels the next sweep and waits for one in progress to finish. */
  stop(): Promise<void> {
    return this.#task.stop();
  }

  /**
   * One sweep: a single statement per database (the pool, then each silo), in one operator
   * transaction each (recorded in operator_actions),
   * that finds each tenant's current policy and deletes what it no longer keeps. A retention value
   * that is not a whole number of days in the policy's range (a document edited by hand) deletes
   * nothing: when in doubt, keep the tenant's data.
   */
  async sweepOnce(): Promise<{ tenants: number; deleted: number }> {
    const now = this.#now();
    const parts = await withOperatorEverywhere(
      this.#db,
      {
        operator: 'system:retention',
        reason: "retention sweep: thread messages past their tenant's policy",
      },
      async (tx) => {
        // CASE, unlike AND, fixes the order of evaluation: the casts only see values that hold them.
        const result = await sql<{ tenants: number | string; deleted: number | string }>`
          with current_policy as (
            select distinct on (tenant_id) tenant_id, document -> 'memory' -> 'retentionDays' as days
            from policies
            order by tenant_id, version desc
          ), retention as (
            select tenant_id,
              case when jsonb_typeof(days) = 'number' then
                case when days::numeric between 1 and 3650 and days::numeric = trunc(days::numeric)
                  then days::numeric::integer end
              end as days
            from current_policy
          ), swept as (
            select tenant_id, days from retention where days is not null
          ), deleted as (
            delete from thread_messages m
            using swept s
            where m.tenant_id = s.tenant_id
              and m.created_at < ${now}::timestamptz - make_interval(days => s.days)
            returning 1
          )
          select (select count(*) from swept) as tenants, (select count(*) from deleted) as deleted
        `.execute(tx);
        const row = result.rows[0];
        return { tenants: Number(row?.tenants ?? 0), deleted: Number(row?.deleted ?? 0) };
      },
    );
    return {
      tenants: parts.reduce((n, p) => n + p.tenants, 0),
      deleted: parts.reduce((n, p) => n + p.deleted, 0),
    };
  }

  /** A failed sweep is logged and retried at the next interval; it never stops the timer. */
  async #sweepAndLog(): Promise<void> {
    try {
      const { tenants, deleted } = await this.sweepOnce();
      this.#log.info({ tenants, deleted }, 'retention sweep done');
    } catch (err) {
      this.#log.error({ err }, 'retention sweep failed; retrying at the next interval');
    }
  }
}
