import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditAnchorPublisher } from '../../src/audit/anchor/publisher.ts';
import { FileSink } from '../../src/audit/anchor/sinks.ts';
import { AnchorSigner } from '../../src/audit/anchor/signing-key.ts';
import type { RunningBulkhead } from './bulkhead-server.ts';

/**
 * Gives every tenant with an audit trail a row in `audit_anchors`, for the tests that need a row in
 * every tenant table: the real publisher, run once with a throwaway key into a scratch file.
 */
export async function publishAuditAnchors(server: RunningBulkhead): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bk-anchor-fixture-'));
  try {
    const publisher = new AuditAnchorPublisher({
      db: server.database.db,
      signer: await AnchorSigner.fromKey(randomBytes(32).toString('base64')),
      sinks: [new FileSink(join(dir, 'anchors.jsonl'))],
      intervalMs: 0,
      log: server.bulkhead.app.log,
    });
    const report = await publisher.publishOnce();
    if (report.failed > 0) throw new Error('the audit anchor fixture could not publish');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
