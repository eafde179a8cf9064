import { resolve } from 'node:path';
import type { Env } from '../core/config.ts';
import { loadConfig } from '../core/config.ts';
import { openDatabase } from '../db/database.ts';
import { migrate } from '../db/migrate.ts';
import { migrateSilos } from '../lifecycle/promote/migrate-silos.ts';
import { SiloUrlBox } from '../lifecycle/promote/silo-url-box.ts';
import { hasEmbeddingColumn } from '../knowledge/vector-support.ts';
import { embeddedKeyStoreDir, openKeyStore } from '../secrets/key-store/index.ts';
import { buildApp } from './build-app.ts';
import { adminTokenFile, resolveSecrets } from './embedded-secrets.ts';

/** `bulkhead serve`: configuration, secrets, database, migrations, then listen until a signal. */
export async function serve(env: Env): Promise<void> {
  const config = loadConfig(env);
  const secrets = resolveSecrets(config);
  const embedded = config.databaseUrl === undefined;
  const db = await openDatabase({ url: config.databaseUrl, dataDir: config.dataDir });
  if (config.autoMigrate ?? embedded) {
    await migrate(db.backend);
    await migrateSilos(db.backend, new SiloUrlBox(secrets.masterKey, config.previousMasterKeys));
  }
  const vector = await hasEmbeddingColumn(db);
  // Embedded: a directory beside the database, so a laptop trial gets real crypto-shredding; with
  // DATABASE_URL and nothing set, the main database (existing set-ups keep working; warned at start).
  const keyStore = await openKeyStore(
    config.keyStore ??
      (embedded
        ? { kind: 'file', dir: resolve(embeddedKeyStoreDir(config.dataDir)) }
        : { kind: 'database' }),
    db.backend,
  );

  const bulkhead = await buildApp({
    config: { ...config, adminToken: secrets.adminToken, auditAnchorKey: secrets.auditAnchorKey },
    db,
    masterKey: secrets.masterKey,
    previousMasterKeys: config.previousMasterKeys ?? [],
    keyStore,
  });
  const log = bulkhead.app.log;
  if (!vector) {
    log.warn(
      'the pgvector extension ("vector") is not installed in this database, or `bulkhead migrate` has not run since it was: the knowledge endpoints (/v1/collections) answer 503 until it is',
    );
  }
  if (secrets.adminToken === undefined) {
    log.warn('BULKHEAD_ADMIN_TOKEN is not set: the admin API (/v1/admin) is disabled');
  }
  if (secrets.generatedAdminToken) {
    process.stdout.write(
      `\nBulkhead generated an operator token (kept in ${adminTokenFile(config.dataDir)}):\n\n  ${secrets.adminToken}\n\n` +
        `Create a tenant:\n  curl -s -X POST http://localhost:${config.port}/v1/admin/tenants \\\n` +
        `    -H "Authorization: Bearer $(cat ${adminTokenFile(config.dataDir)})" -H 'content-type: application/json' -d '{"name":"acme"}'\n\n`,
    );
  }

  await bulkhead.app.listen({ port: config.port, host: config.host });

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down: finishing in-flight requests');
    const timer = setTimeout(() => {
      log.error('shutdown timed out; exiting with requests still open');
      process.exit(1);
    }, config.shutdownTimeoutMs);
    timer.unref();
    await bulkhead.close();
    await keyStore.close();
    await db.close();
    log.info('stopped');
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}
