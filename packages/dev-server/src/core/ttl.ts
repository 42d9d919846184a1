import { LogicalError } from '../sdk/index.js';
import { formatVaultDuration } from '../util/duration.js';

/** Inputs of Vault's `framework.CalculateTTL` (all durations in seconds, times in ms). */
export interface CalculateTtlInput {
  /** Effective mount/system default lease TTL. */
  systemDefault: number;
  /** Effective mount/system max lease TTL. */
  systemMax: number;
  /** Requested increment (0 = none). */
  increment: number;
  /** Backend/role TTL (0 = none). */
  backendTtl: number;
  /** Periodic TTL (0 = not periodic). */
  period: number;
  /** Backend/role max TTL (0 = none). */
  backendMaxTtl: number;
  /** Explicit max TTL of a token (0 = none). */
  explicitMaxTtl: number;
  /** Issue time of the lease/token (ms). */
  startTime: number;
  /** Current time (ms). */
  now: number;
}

/**
 * Vault's `CalculateTTL`: the new TTL is `now + ttl`, capped at `issue time + max TTL` with the capped-TTL warning;
 * a periodic TTL resets to the period. Throws 400 `past the max TTL, cannot renew` when the ceiling has passed.
 */
export function calculateTtl(input: CalculateTtlInput): { ttl: number; warnings: string[] } {
  const warnings: string[] = [];
  let maxTtl = input.systemMax;
  if (input.backendMaxTtl > 0 && input.backendMaxTtl < maxTtl) maxTtl = input.backendMaxTtl;
  if (input.explicitMaxTtl > 0 && input.explicitMaxTtl < maxTtl) maxTtl = input.explicitMaxTtl;
  const startSec = Math.floor(input.startTime / 1000);
  const nowSec = input.now / 1000;
  if (input.period > 0) {
    let period = input.period;
    if (period > maxTtl) {
      warnings.push(
        `period of "${formatVaultDuration(period)}" exceeded the effective max_ttl of "${formatVaultDuration(maxTtl)}"; period value is capped accordingly`,
      );
      period = maxTtl;
    }
    let ttl = period;
    if (input.explicitMaxTtl > 0) {
      const left = startSec + input.explicitMaxTtl - nowSec;
      if (left <= 0) throw new LogicalError(400, 'past the max TTL, cannot renew');
      if (ttl > left) ttl = Math.floor(left);
    }
    return { ttl, warnings };
  }
  let ttl: number;
  if (input.increment > 0) ttl = input.increment;
  else if (input.backendTtl > 0) ttl = input.backendTtl;
  else ttl = input.systemDefault;
  const left = startSec + maxTtl - nowSec;
  if (left <= 0) throw new LogicalError(400, 'past the max TTL, cannot renew');
  if (left < ttl) {
    const capped = Math.floor(left);
    warnings.push(
      `TTL of "${formatVaultDuration(ttl)}" exceeded the effective max_ttl of "${formatVaultDuration(capped)}"; TTL value is capped accordingly`,
    );
    ttl = capped;
  }
  return { ttl, warnings };
}

/** RFC 3339 with nanosecond digits, as Go's `time.RFC3339Nano` prints (trailing zeros trimmed). */
export function rfc3339(ms: number): string {
  return new Date(ms).toISOString();
}
