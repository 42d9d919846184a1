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

/**
 * Formats seconds the way Vault prints durations in its messages and CLI: Go's `time.Duration.String()` without
 * the zero units at the end or in the middle (`3h`, `5m`, `1h59m59s`, `1h5s`, `768h`) — Vault's `humanDuration`
 * (https://github.com/hashicorp/vault/blob/main/command/format.go).
 */
export function formatVaultDuration(totalSeconds: number): string {
  let text = formatGoDuration(totalSeconds);
  if (text.endsWith('m0s')) text = text.slice(0, -2);
  const index = text.indexOf('h0m');
  if (index > 0) text = `${text.slice(0, index + 1)}${text.slice(index + 3)}`;
  return text;
}
