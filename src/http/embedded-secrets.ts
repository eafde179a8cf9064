import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, type Config } from '../core/config.ts';
import { generateAnchorKeyPem } from '../audit/anchor/signing-key.ts';

export interface ServerSecrets {
  masterKey: Buffer;
  adminToken: string | undefined;
  /** Set when this start generated the admin token, so it can be shown once. */
  generatedAdminToken: boolean;
  /** The Ed25519 key that signs audit checkpoints; undefined: checkpoints are off. */
  auditAnchorKey: string | undefined;
}

function readOrCreate(path: string, make: () => string): { value: string; created: boolean } {
  if (existsSync(path)) return { value: readFileSync(path, 'utf8').trim(), created: false };
  const value = make();
  writeFileSync(path, `${value}\n`, { mode: 0o600, flag: 'wx' });
  return { value, created: true };
}

export const adminTokenFile = (dataDir: string) => join(dataDir, 'admin-token');
export const auditAnchorKeyFile = (dataDir: string) => join(dataDir, 'audit-anchor.key');

/**
 * The embedded mode keeps a generated master key and operator token in the data directory, so a
 * laptop trial needs no set-up. With DATABASE_URL (several nodes, real deployments) the master key
 * must come from the environment: a key generated on one node would not open another node's data.
 */
export function resolveSecrets(config: Config): ServerSecrets {
  if (config.databaseUrl !== undefined) {
    if (config.masterKey === undefined) {
      throw new ConfigError(
        'Invalid configuration:\n  BULKHEAD_MASTER_KEY: required with DATABASE_URL (base64 of 32 random bytes: `openssl rand -base64 32`).',
      );
    }
    const anchorSink = config.auditAnchorFile !== undefined || config.auditAnchorUrl !== undefined;
    if (anchorSink && config.auditAnchorKey === undefined) {
      throw new ConfigError(
        'Invalid configuration:\n  BULKHEAD_AUDIT_ANCHOR_KEY: required with DATABASE_URL when BULKHEAD_AUDIT_ANCHOR_FILE or BULKHEAD_AUDIT_ANCHOR_URL is set (`openssl genpkey -algorithm ed25519`).',
      );
    }
    return {
      masterKey: Buffer.from(config.masterKey, 'base64'),
      adminToken: config.adminToken,
      generatedAdminToken: false,
      auditAnchorKey: config.auditAnchorKey,
    };
  }
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  // Generated once, like the master key. Whoever can read the data directory can sign checkpoints:
  // the anchor guards against edits to the database, not against the holder of this directory.
  const auditAnchorKey =
    config.auditAnchorKey ??
    readOrCreate(auditAnchorKeyFile(config.dataDir), generateAnchorKeyPem).value;
  const masterKey =
    config.masterKey ??
    readOrCreate(join(config.dataDir, 'master.key'), () => randomBytes(32).toString('base64'))
      .value;
  if (config.adminToken !== undefined) {
    return {
      masterKey: Buffer.from(masterKey, 'base64'),
      adminToken: config.adminToken,
      generatedAdminToken: false,
      auditAnchorKey,
    };
  }
  const token = readOrCreate(
    adminTokenFile(config.dataDir),
    () => `bkop_${randomBytes(32).toString('base64url')}`,
  );
  return {
    masterKey: Buffer.from(masterKey, 'base64'),
    adminToken: token.value,
    generatedAdminToken: token.created,
    auditAnchorKey,
  };
}
