import { z } from 'zod';

/** Cursor pagination in OpenAI's list shape: `?limit=&after=<id>`, ids sort by creation time. */
export const pageQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  after: z
    .string()
    .min(1)
    .max(64)
    .regex(/^[a-z0-9_]+$/, 'must be an id from a previous page')
    .optional(),
});
export type PageQuery = z.infer<typeof pageQuery>;

/** Repositories fetch `limit + 1` rows; the extra one only says whether there is a next page. */
export function listPage<Row, View extends { id: string }>(
  rows: Row[],
  limit: number,
  view: (row: Row) => View,
) {
  return listOf(rows.slice(0, limit).map(view), rows.length > limit);
}

/** OpenAI's list shape around one page of items. */
export function listOf<View extends { id: string }>(data: View[], hasMore: boolean) {
  return {
    object: 'list' as const,
    data,
    first_id: data[0]?.id ?? null,
    last_id: data.at(-1)?.id ?? null,
    has_more: hasMore,
  };
}
