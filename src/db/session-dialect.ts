import {
  type CompiledQuery,
  type DatabaseConnection,
  type Dialect,
  type Driver,
  Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type QueryResult,
} from 'kysely';
import type { SqlSession } from './backend.ts';

/**
 * A Kysely bound to one held session. Transactions are opened and closed by the scope runner
 * (`db/scope.ts`), which sets the role and tenant before any query runs, so the Kysely instance
 * never begins or ends one itself.
 */
export function kyselyForSession<DB>(session: SqlSession): Kysely<DB> {
  const connection: DatabaseConnection = {
    async executeQuery<R>(compiled: CompiledQuery): Promise<QueryResult<R>> {
      const result = await session.query<R>(compiled.sql, compiled.parameters);
      return { rows: result.rows, numAffectedRows: BigInt(result.rowCount) };
    },
    streamQuery(): never {
      throw new Error('streaming queries are not supported inside a scoped transaction');
    },
  };
  const refuse = () => Promise.reject(new Error('transactions are managed by the scope runner'));
  const driver: Driver = {
    init: () => Promise.resolve(),
    acquireConnection: () => Promise.resolve(connection),
    beginTransaction: refuse,
    commitTransaction: refuse,
    rollbackTransaction: refuse,
    releaseConnection: () => Promise.resolve(),
    destroy: () => Promise.resolve(),
  };
  const dialect: Dialect = {
    createAdapter: () => new PostgresAdapter(),
    createDriver: () => driver,
    createIntrospector: (db) => new PostgresIntrospector(db),
    createQueryCompiler: () => new PostgresQueryCompiler(),
  };
  return new Kysely<DB>({ dialect });
}
