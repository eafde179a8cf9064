import type { FastifyBaseLogger, FastifyRequest } from 'fastify';
import type { Selectable } from 'kysely';
import { BkError } from '../core/errors.ts';
import { newId } from '../core/ids.ts';
import { principalId, type TenantContext } from '../core/tenant-context.ts';
import type { IngestJobsTable } from '../db/schema.ts';
import { withTenant } from '../db/scope.ts';
import type { LoadedPolicy } from '../governance/policy/policy-store.ts';
import type { AppDeps } from '../http/app-types.ts';
import { type DocumentFields, ingestDocument } from './ingest.ts';
import type { CollectionRow } from './repository.ts';

export type IngestJobRow = Selectable<IngestJobsTable>;

/** A job that has not moved for this long was running on a node that stopped. */
export const STALLED_AFTER_MS = 10 * 60_000;

/** Background work this node runs: shutdown waits for it. */
export class BackgroundTasks {
  readonly #running = new Set<Promise<void>>();

  run(task: () => Promise<void>): void {
    const promise: Promise<void> = task().finally(() => this.#running.delete(promise));
    this.#running.add(promise);
  }

  async drain(): Promise<void> {
    await Promise.allSettled([...this.#running]);
  }
}

export function jobView(row: IngestJobRow, now: Date) {
  const stalled =
    (row.status === 'queued' || row.status === 'running') &&
    now.getTime() - row.updated_at.getTime() > STALLED_AFTER_MS;
  return {
    id: row.job_id,
    object: 'ingest_job' as const,
    collectionId: row.collection_id,
    status: stalled ? ('failed' as const) : row.status,
    progress: { embeddedChunks: row.embedded_chunks, totalChunks: row.total_chunks },
    externalId: row.external_id,
    sourceType: row.source_type,
    documentId: row.document_id,
    error: stalled
      ? {
          code: 'BK_UNAVAILABLE',
          message: 'The node running this ingest stopped before it finished; ingest again.',
        }
      : row.error_code === null
        ? null
        : { code: row.error_code, message: row.error_message },
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

/**
 * Starts an ingest in the background and returns its job at once (202): extraction, chunking and
 * embedding run on this node, the job row records each embedded batch, and the document appears
 * when the job succeeds. The work runs as the caller (its tenant, policy and quotas), and is not
 * cancelled when the caller disconnects.
 */
export async function startIngestJob(
  deps: AppDeps,
  log: FastifyBaseLogger,
  ctx: TenantContext,
  http: FastifyRequest,
  policy: LoadedPolicy,
  collection: CollectionRow,
  source: Parameters<typeof ingestDocument>[5],
  fields: DocumentFields,
): Promise<IngestJobRow> {
  const actor = principalId(ctx);
  const job = await withTenant(deps.db, ctx, (tx) =>
    tx
      .insertInto('ingest_jobs')
      .values({
        tenant_id: ctx.tenantId,
        job_id: newId('ingestJob'),
        collection_id: collection.collection_id,
        status: 'queued',
        source_type: source.type,
        external_id: fields.externalId ?? null,
        created_by: `${actor.kind}:${actor.id}`,
        updated_at: deps.now(),
      })
      .returningAll()
      .executeTakeFirstOrThrow(),
  );
  const update = (values: Partial<Omit<IngestJobRow, 'tenant_id' | 'job_id'>>) =>
    withTenant(deps.db, ctx, (tx) =>
      tx
        .updateTable('ingest_jobs')
        .set({ ...values, updated_at: deps.now() })
        .where('job_id', '=', job.job_id)
        .execute(),
    );
  deps.background.run(async () => {
    try {
      await update({ status: 'running' });
      const { document } = await ingestDocument(
        deps,
        ctx,
        http,
        policy,
        collection,
        source,
        fields,
        new AbortController().signal,
        (embedded, total) =>
          update({ embedded_chunks: embedded, total_chunks: total }).then(() => undefined),
      );
      await update({ status: 'succeeded', document_id: document.document_id });
    } catch (err) {
      const failure =
        err instanceof BkError
          ? err
          : new BkError('BK_INTERNAL', 'The ingest failed on our side.', { cause: err });
      if (failure.code === 'BK_INTERNAL')
        log.error({ err, jobId: job.job_id }, 'ingest job failed');
      await update({
        status: 'failed',
        error_code: failure.code,
        error_message: failure.message,
      }).catch((e: unknown) => log.error({ err: e, jobId: job.job_id }, 'ingest job lost'));
    }
  });
  return job;
}
