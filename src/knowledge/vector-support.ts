import type { Database } from '../db/scope.ts';

/**
 * Whether the chunks table has its embedding column: it exists only where pgvector is installed
 * and `migrate` has run since. Read once at start-up.
 */
export async function hasEmbeddingColumn(db: Database): Promise<boolean> {
  const session = await db.backend.acquire();
  try {
    const found = await session.query(
      `select 1 from information_schema.columns where table_schema = 'public' and table_name = 'chunks' and column_name = 'embedding'`,
      [],
    );
    return found.rowCount > 0;
  } finally {
    session.release();
  }
}
