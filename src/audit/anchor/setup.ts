import { ConfigError } from '../../core/config.ts';
import type { App, AppDeps } from '../../http/app-types.ts';
import { AuditAnchorPublisher } from './publisher.ts';
import { registerAuditAnchorRoutes } from './routes.ts';
import { type AnchorSink, FileSink, HttpSink } from './sinks.ts';
import { AnchorSigner } from './signing-key.ts';

export type { AuditAnchorPublisher };

/**
 * Wires the external anchor from the configuration: the signing key (routes answer 503 without
 * one), and the publisher when a sink is configured. The publisher is built even with interval 0,
 * so it can be run by hand; `start` does nothing then.
 */
export async function startAuditAnchors(
  app: App,
  deps: AppDeps,
): Promise<{ signer: AnchorSigner | null; publisher: AuditAnchorPublisher | null }> {
  const { config } = deps;
  const signer =
    config.auditAnchorKey === undefined ? null : await AnchorSigner.fromKey(config.auditAnchorKey);
  registerAuditAnchorRoutes(app, deps, { signer });
  const sinks: AnchorSink[] = [];
  if (config.auditAnchorFile !== undefined) sinks.push(new FileSink(config.auditAnchorFile));
  if (config.auditAnchorUrl !== undefined) sinks.push(new HttpSink({ url: config.auditAnchorUrl }));
  if (sinks.length === 0) return { signer, publisher: null };
  if (signer === null) {
    throw new ConfigError(
      'Invalid configuration:\n  BULKHEAD_AUDIT_ANCHOR_KEY: required when BULKHEAD_AUDIT_ANCHOR_FILE or BULKHEAD_AUDIT_ANCHOR_URL is set.',
    );
  }
  const publisher = new AuditAnchorPublisher({
    db: deps.db,
    signer,
    sinks,
    intervalMs: config.auditAnchorIntervalMs,
    log: app.log.child({ component: 'audit-anchor' }),
    now: deps.now,
  });
  return { signer, publisher };
}
