/** Formats seconds as Go's `time.Duration.String()` does for whole seconds: `0s`, `45s`, `5m0s`, `1h0m0s`, `768h0m0s`. */
export function formatGoDuration(totalSeconds: number): string {
  const seconds = Math.max(0, Math.trunc(totalSeconds));
  if (seconds === 0) return '0s';
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  if (h > 0) return `${h}h${m}m${s}s`;
  if (m > 0) return `${m}m${s}s`;
  return `${s}s`;
}
