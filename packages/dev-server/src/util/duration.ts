import { LogicalError } from '../backend.js';

const UNIT_SECONDS: Record<string, number> = {
  ns: 1e-9,
  us: 1e-6,
  µs: 1e-6,
  ms: 1e-3,
  s: 1,
  m: 60,
  h: 3600,
  d: 86400,
};

/**
 * Parses a Vault duration field (Go's `parseutil.ParseDurationSecond`): an integer or numeric string of seconds,
 * or a Go duration string such as `"90s"`, `"1h30m"`, `"1.5h"` (Vault also accepts `d` for days). Empty/absent → 0.
 * Fractions of a second are truncated. Throws a 400 {@link LogicalError} naming the field when it cannot parse.
 */
export function parseDurationSeconds(value: unknown, field = 'ttl'): number {
  if (value === undefined || value === null || value === '') return 0;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new LogicalError(400, `invalid duration for ${field}`);
    return Math.trunc(value);
  }
  if (typeof value !== 'string')
    throw new LogicalError(400, `invalid duration for ${field}: expected a string or number`);
  const text = value.trim();
  if (/^-?\d+$/.test(text)) return Number.parseInt(text, 10);
  const match = /^(-?)((?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|ms|s|m|h|d))+$/.exec(text);
  if (!match) throw new LogicalError(400, `invalid duration for ${field}: time: invalid duration "${text}"`);
  let total = 0;
  for (const part of text.matchAll(/(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h|d)/g)) {
    total += Number.parseFloat(part[1] ?? '0') * (UNIT_SECONDS[part[2] ?? 's'] ?? 1);
  }
  return Math.trunc(match[1] === '-' ? -total : total);
}

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
