import { join } from 'node:path';
import { openPglite, openPostgres, type SqlBackend } from './backend.ts';
import type { Database } from './scope.ts';

export interface DatabaseOptions {
  /** A postgres:// URL; without one, the embedded PGlite database. */
  url?: string;
  /** Where PGlite keeps its files; null keeps them in memory (tests). */
  dataDir: string | null;
}

export async function openDatabase(
  options: DatabaseOptions,
): Promise<Database & { close(): Promise<void> }> {
  const backend: SqlBackend =
    options.url !== undefined
      ? openPostgres(options.url)
      : await openPglite(options.dataDir === null ? null : join(options.dataDir, 'pgdata'));
  return { backend, close: () => backend.close() };
}
