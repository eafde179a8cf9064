/** Whether `provider/model` matches a policy pattern, where `*` stands for any run of characters. */
export function matchesModel(pattern: string, model: string): boolean {
  if (pattern === '*') return true;
  const source = pattern
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${source}$`).test(model);
}

export function matchesAny(patterns: readonly string[], model: string): boolean {
  return patterns.some((p) => matchesModel(p, model));
}
