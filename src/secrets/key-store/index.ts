import { join } from 'node:path';
import type { KeyStoreSpec } from '../../core/config.ts';
import type { SqlBackend } from '../../db/backend.ts';
import { DatabaseKeyStore } from './database-key-store.ts';
import { FileKeyStore } from './file-key-store.ts';
import type { KeyStore } from './key-store.ts';
import { PostgresKeyStore } from './postgres-key-store.ts';

export type { KeyStore, StoredKek } from './key-store.ts';
export { DatabaseKeyStore } from './database-key-store.ts';
export { FileKeyStore } from './file-key-store.ts';
export { PostgresKeyStore } from './postgres-key-store.ts';

/** The embedded default: beside the database directory (`pgdata/`), never inside it. */
export const embeddedKeyStoreDir = (dataDir: string) => join(dataDir, 'keys');

/** Opens the store BULKHEAD_KEY_STORE_URL names; `pool` is the main database (`database` mode). */
export function openKeyStore(spec: KeyStoreSpec, pool: SqlBackend): Promise<KeyStore> {
  switch (spec.kind) {
    case 'file':
      return FileKeyStore.open(spec.dir);
    case 'postgres':
      return PostgresKeyStore.open(spec.url);
    case 'database':
      return DatabaseKeyStore.open(pool);
  }
}

/** The one warning a node logs at start in `database` mode. */
export const DATABASE_KEY_STORE_WARNING =
  'tenant key-encryption keys are kept in the main database (BULKHEAD_KEY_STORE_URL unset or `database`): deleting a tenant does not make its data in database backups unreadable. Set BULKHEAD_KEY_STORE_URL to a separate postgres:// database (or file:///dir on one node) and back it up separately, with short retention.';
