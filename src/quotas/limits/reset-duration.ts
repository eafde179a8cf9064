/**
 * A wait in OpenAI's x-ratelimit-reset-* format, which is Go's time.Duration text: "20ms", "1s",
 * "1.5s", "6m0s", "1h2m3s". Rounded up to the millisecond, so it never promises too early.
 */
export function formatResetDuration(ms: number): string {
  const whole = Math.ceil(ms);
  if (whole <= 0) return '0s';
  if (whole < 1000) return `${whole}ms`;
  const hours = Math.floor(whole / 3_600_000);
  const minutes = Math.floor((whole % 3_600_000) / 60_000);
  const seconds = `${(whole % 60_000) / 1000}s`;
  if (hours > 0) return `${hours}h${minutes}m${seconds}`;
  if (minutes > 0) return `${minutes}m${seconds}`;
  return seconds;
}
