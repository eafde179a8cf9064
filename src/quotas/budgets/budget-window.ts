export type BudgetWindow = 'day' | 'month';

export interface WindowSpan {
  start: Date;
  /** Exclusive: the next window's start. */
  end: Date;
  /** The window's name in keys: 2025-01-15 or 2025-01. */
  label: string;
}

/** The UTC calendar day or month holding `now`. */
export function budgetWindow(window: BudgetWindow, now: number): WindowSpan {
  const at = new Date(now);
  const year = at.getUTCFullYear();
  const month = at.getUTCMonth();
  const start =
    window === 'day'
      ? new Date(Date.UTC(year, month, at.getUTCDate()))
      : new Date(Date.UTC(year, month, 1));
  const end =
    window === 'day'
      ? new Date(start.getTime() + 24 * 60 * 60 * 1000)
      : new Date(Date.UTC(year, month + 1, 1));
  return { start, end, label: start.toISOString().slice(0, window === 'day' ? 10 : 7) };
}
