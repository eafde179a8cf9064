import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, type Config } from '../core/config.ts';

export interface ServerSecrets {
  masterKey: Buffer;
  adminToken: string | undefined;
  /** Set when this start generated the admin token, so it can be shown once. */
  generatedAdminToken: boolean;
}

function readOrCreate(path: string, make: () => string): { value: string; created: boolean } {
  if (existsSync(path)) return { value: readFileSync(path, 'utf8').trim(), created: false };
  const value = make();
  writeFileSync(path, `${value}\n`, { mode: 0o600, flag: 'wx' });
  return { value, created: true };
}

export const adminTokenFile = (dataDir: string) => join(dataDir, 'admin-token');

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
    return {
      masterKey: Buffer.from(config.masterKey, 'base64'),
      adminToken: config.adminToken,
      generatedAdminToken: false,
    };
  }
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const masterKey =
    config.masterKey ??
    readOrCreate(join(config.dataDir, 'master.key'), () => randomBytes(32).toString('base64'))
      .value;
  if (config.adminToken !== undefined) {
    return {
      masterKey: Buffer.from(masterKey, 'base64'),
      adminToken: config.adminToken,
      generatedAdminToken: false,
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
  };
}
