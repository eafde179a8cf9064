import { type RawBuilder, sql } from 'kysely';

/**
 * The data key version a sealed column names, computed in SQL (see envelope.ts for the formats):
 * 1 for format 1, else the uint32 after the format byte; null for a null value. Lets one query
 * join a sealed value to the key it needs, or find the values not yet under the newest key.
 */
export function sealedKeyVersionSql(column: string): RawBuilder<number | null> {
  const ref = sql.ref(column);
  return sql<
    number | null
  >`(case when get_byte(${ref}, 0) = 1 then 1 else ('x' || encode(substring(${ref} from 2 for 4), 'hex'))::bit(32)::int end)`;
}
