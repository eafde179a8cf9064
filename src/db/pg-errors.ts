/** PostgreSQL's unique_violation (SQLSTATE 23505), from either driver. */
export const isUniqueViolation = (err: unknown): boolean =>
  (err as { code?: string }).code === '23505';
