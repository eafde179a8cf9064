import { IntervalTask } from '../../core/interval-task.ts';
import type { FastifyBaseLogger } from 'fastify';
import type { SqlBackend } from '../../db/backend.ts';
import { type Database, everyDatabase, withOperatorAt } from '../../db/scope.ts';
import { signCheckpoint } from './checkpoint.ts';
import {
  type AnchorClaim,
  claimAnchors,
  findHeadsToAnchor,
  type HeadToAnchor,
  settleClaims,
} from './repository.ts';
import type { AnchorSink } from './sinks.ts';
import type { AnchorSigner } from './signing-key.ts';

export interface AuditAnchorPublisherOptions {
  db: Database;
  signer: AnchorSigner;
  sinks: readonly AnchorSink[];
  /** Time between the end of one run and the start of the next; 0: this node never publishes. */
  intervalMs: number;
  log: FastifyBaseLogger;
  now?: () => Date;
  /** Tenants read, signed and claimed per statement. */
  batchSize?: number;
  /** How long a claim may stay unpublished before another run (on any node) may take it again. */
  claimLeaseMs?: number;
}

/** A head the publisher will not sign: it is behind, or beside, what was already signed. */
export interface AnchorAlarm {
  tenantId: string;
  problem: 'truncated' | 'rewritten';
  anchoredSeq: number;
  headSeq: number;
}

export interface PublishReport {
  /** Checkpoints every sink took. */
  published: number;
  /** Checkpoints claimed but given back because a sink failed. */
  failed: number;
  alarms: AnchorAlarm[];
}

const PUBLISHER = { operator: 'system:audit-anchor', reason: 'publish audit chain checkpoints' };

/** Classifies a head against the last anchored position of its tenant. */
function alarmOf(head: HeadToAnchor): AnchorAlarm | null {
  const anchored = head.anchored;
  if (anchored === null) return null;
  const at = { tenantId: head.tenantId, anchoredSeq: anchored.seq, headSeq: head.seq };
  if (head.seq < anchored.seq) return { ...at, problem: 'truncated' };
  // The event that was signed must still be there, unchanged, for a later head to extend it.
  if (head.hashAtAnchor === null || !head.hashAtAnchor.equals(anchored.hash)) {
    return { ...at, problem: 'rewritten' };
  }
  return null;
}

/**
 * Signs and publishes a checkpoint of every tenant whose audit chain head moved since its last
 * publication. Each run: one statement finds the moved heads of up to `batchSize` tenants, one
 * claims them, the sinks take the lines, one statement marks them published. Every node may run
 * it; claims keep two nodes from publishing the same head. A head that went backwards or no longer
 * contains the last signed event is never signed: it is logged as an integrity alarm instead
 * (signing it would vouch for the tampered chain).
 */
export class AuditAnchorPublisher {
  readonly #db: Database;
  readonly #signer: AnchorSigner;
  readonly #sinks: readonly AnchorSink[];
  readonly #log: FastifyBaseLogger;
  readonly #now: () => Date;
  readonly #batchSize: number;
  readonly #claimLeaseMs: number;
  /** The alarm last logged per tenant, so a standing alarm is logged once, not on every run. */
  readonly #alarmed = new Map<string, string>();
  readonly #task: IntervalTask;

  constructor(options: AuditAnchorPublisherOptions) {
    if (!Number.isSafeInteger(options.intervalMs) || options.intervalMs < 0) {
      throw new Error('audit anchor interval must be a whole number of ms ≥ 0');
    }
    if (options.sinks.length === 0) throw new Error('an audit anchor publisher needs a sink');
    this.#db = options.db;
    this.#signer = options.signer;
    this.#sinks = options.sinks;
    this.#task = new IntervalTask(options.intervalMs, () => this.#publishAndLog());
    this.#log = options.log;
    this.#now = options.now ?? (() => new Date());
    this.#batchSize = options.batchSize ?? 500;
    this.#claimLeaseMs = options.claimLeaseMs ?? 5 * 60_000;
  }

  /** Schedules the first run one interval from now. The timer never keeps the process alive. */
  start(): void {
    this.#task.start();
  }

  /** Cancels the next run and waits for one in progress to finish. */
  stop(): Promise<void> {
    return this.#task.stop();
  }

  /** One run over every database that serves tenants: the pool, then each silo. */
  async publishOnce(): Promise<PublishReport> {
    const report: PublishReport = { published: 0, failed: 0, alarms: [] };
    for (const database of await everyDatabase(this.#db, PUBLISHER)) {
      let after = '';
      for (;;) {
        const page = await this.#claimPage(database, after);
        report.alarms.push(...page.alarms);
        if (page.claims.length > 0) {
          if (await this.#publish(database, page.claims)) report.published += page.claims.length;
          else report.failed += page.claims.length;
        }
        if (page.last === null) break;
        after = page.last;
      }
    }
    this.#logAlarms(report.alarms);
    return report;
  }

  /** One page of tenants: find, sign and claim in one operator transaction. */
  #claimPage(database: SqlBackend, after: string) {
    const now = this.#now();
    const staleBefore = new Date(now.getTime() - this.#claimLeaseMs);
    return withOperatorAt(database, PUBLISHER, async (tx) => {
      const heads = await findHeadsToAnchor(tx, { after, limit: this.#batchSize, staleBefore });
      const alarms: AnchorAlarm[] = [];
      const toSign: HeadToAnchor[] = [];
      for (const head of heads) {
        const alarm = alarmOf(head);
        if (alarm === null) toSign.push(head);
        else alarms.push(alarm);
      }
      const candidates: AnchorClaim[] = await Promise.all(
        toSign.map(async (head) => {
          const signed = await signCheckpoint(this.#signer, head, now);
          return { ...head, checkpoint: JSON.stringify(signed) };
        }),
      );
      const claimed = await claimAnchors(tx, candidates, now, staleBefore);
      return {
        claims: candidates.filter((c) => claimed.has(c.tenantId)),
        alarms,
        last: heads.length < this.#batchSize ? null : heads.at(-1)!.tenantId,
      };
    });
  }

  /** Hands the lines to every sink; marks them published, or gives the claims back. */
  async #publish(database: SqlBackend, claims: AnchorClaim[]): Promise<boolean> {
    const lines = claims.map((c) => c.checkpoint);
    try {
      for (const sink of this.#sinks) await sink.publish(lines);
    } catch (err) {
      this.#log.error(
        { err, checkpoints: claims.length },
        'audit anchor: a sink refused the checkpoints; they are retried on the next run',
      );
      await withOperatorAt(database, PUBLISHER, (tx) =>
        settleClaims(tx, claims, { released: true }),
      );
      return false;
    }
    await withOperatorAt(database, PUBLISHER, (tx) =>
      settleClaims(tx, claims, { publishedAt: this.#now() }),
    );
    return true;
  }

  #logAlarms(alarms: readonly AnchorAlarm[]): void {
    for (const alarm of alarms) {
      const key = `${alarm.problem}:${alarm.anchoredSeq}:${alarm.headSeq}`;
      if (this.#alarmed.get(alarm.tenantId) === key) continue;
      this.#alarmed.set(alarm.tenantId, key);
      this.#log.error(
        alarm,
        alarm.problem === 'truncated'
          ? "audit anchor: a tenant's chain head is behind its last signed checkpoint (events were cut off); not signing it"
          : "audit anchor: a tenant's chain no longer holds the event its last checkpoint signed (rewritten); not signing it",
      );
    }
  }

  /** A failed run is logged and retried at the next interval; it never stops the timer. */
  async #publishAndLog(): Promise<void> {
    try {
      const report = await this.publishOnce();
      if (report.published > 0 || report.failed > 0) {
        this.#log.info(
          { published: report.published, failed: report.failed },
          'audit anchor: checkpoints published',
        );
      }
    } catch (err) {
      this.#log.error({ err }, 'audit anchor run failed; retrying at the next interval');
    }
  }
}
