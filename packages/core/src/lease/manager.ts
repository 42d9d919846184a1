/**
 * The LeaseManager: the one container of every lease handle of a client (Spring Vault's lease container).
 *
 * - One handle per (kind, path, options): asking twice returns the same handle until it is revoked.
 * - Follows the token: after a re-login (`login` with `previousAccessor`), every handle whose lease the old token
 *   issued re-issues it under the new token; when the old token is already dead (`invalid-token`, `expired`), its
 *   leases are treated as lost (not revoked).
 * - Wakes every handle when the circuit closes (Vault is back), so backoffs do not delay recovery.
 * - `close()` revokes what it holds, in parallel, bounded in time.
 */
import { TimerSet } from '../clock.js';
import { VaultError, VaultErrorCode } from '../errors.js';
import type { Vault } from '../vault.js';
import { LEASE_DEFAULTS, LeaseHandle, type LeaseSource } from './lease.js';
import type { Lease, LeaseOptions, LeaseSnapshot, LeaseState } from './types.js';

/** A lease handle as listed by `vault.leases.list()` (no secret). */
export interface LeaseSummary {
  key: string;
  path: string;
  state: LeaseState;
  leaseId: string | undefined;
  generation: number | undefined;
  /** Remaining seconds of the current value (0 when none or ended). */
  ttl: number;
  renewable: boolean | undefined;
  /** End of the current value, ms since epoch. */
  expiresAt: number | undefined;
  /** Code of the last failure of a re-issue still under way (the current value stays in use meanwhile). */
  reissueFailing: string | undefined;
}

/** @internal */
export class LeaseManager {
  readonly #vault: Vault;
  readonly #defaults: LeaseOptions;
  readonly #handles = new Map<string, LeaseHandle<unknown>>();
  readonly #unsubscribe: Array<() => void> = [];
  #closed = false;

  constructor(vault: Vault, defaults: LeaseOptions = {}) {
    this.#vault = vault;
    this.#defaults = defaults;
    this.#unsubscribe.push(
      vault.on('login', (e) => {
        if (!e.previousAccessor) return;
        const now = vault.clock.now();
        // Vault revokes a token's leases when the token ends: a re-login after its end (a background re-login that
        // outlasted an outage, reason `renew-failed`) finds them gone, as one after `invalid-token` or `expired`.
        const ended = e.previousExpiresAt !== undefined && e.previousExpiresAt <= now;
        const dead = e.reason === 'invalid-token' || e.reason === 'expired' || ended;
        const end = dead ? now : (e.previousExpiresAt ?? Number.POSITIVE_INFINITY);
        for (const h of this.#handles.values()) h.tokenChanged(e.previousAccessor, dead, end);
      }),
      vault.on('circuit:close', () => {
        for (const h of this.#handles.values()) h.vaultRecovered();
      }),
    );
  }

  /** Returns the handle for `key`, creating and starting it with `source` when absent. */
  get<T>(key: string, source: () => LeaseSource<T>, options: LeaseOptions = {}): Lease<T> {
    const existing = this.#handles.get(key);
    if (existing && existing.state !== 'revoked' && existing.state !== 'failed') return existing as Lease<T>;
    if (this.#closed) throw closedError();
    const handle = new LeaseHandle<T>(this.#vault, key, source(), { ...this.#defaults, ...options }, (h) => {
      if (this.#handles.get(key) === (h as LeaseHandle<unknown>)) this.#handles.delete(key);
    });
    this.#handles.set(key, handle as LeaseHandle<unknown>);
    handle.start();
    return handle;
  }

  /** The earliest instant at which a value held by a live handle ends (`undefined`: none ends). */
  earliestEnd(): number | undefined {
    let earliest: number | undefined;
    for (const h of this.#handles.values()) {
      const end = h.end();
      if (end !== undefined && (earliest === undefined || end < earliest)) earliest = end;
    }
    return earliest;
  }

  /** Every live handle (no secrets). */
  list(): LeaseSummary[] {
    const now = this.#vault.clock.now();
    return [...this.#handles.values()].map((h) => {
      const snap: LeaseSnapshot<unknown> | undefined = h.peek();
      return {
        key: h.key,
        path: h.path,
        state: h.state,
        leaseId: snap?.leaseId,
        generation: snap?.generation,
        ttl:
          snap && Number.isFinite(snap.expiresAt)
            ? Math.max(0, Math.floor((snap.expiresAt - now) / 1000))
            : 0,
        renewable: snap?.renewable,
        expiresAt: snap?.expiresAt,
        reissueFailing: h.reissueError?.code,
      };
    });
  }

  /** Revokes every handle (in parallel, each bounded by `timeoutMs`) and stops listening. */
  async close(timeoutMs: number = LEASE_DEFAULTS.revokeTimeoutMs): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const off of this.#unsubscribe) off();
    const handles = [...this.#handles.values()];
    this.#handles.clear();
    // Bounded as a whole: a revocation that hangs (Vault unreachable mid-request) does not hold close() up.
    const timers = new TimerSet(this.#vault.clock);
    await Promise.race([
      Promise.all(handles.map((h) => h.close(true, timeoutMs))),
      new Promise<void>((resolve) => timers.set(resolve, timeoutMs + 100)),
    ]);
    timers.clearAll();
  }
}

function closedError(): VaultError {
  return new VaultError(VaultErrorCode.CLOSED, 'The client is closed');
}

/** Stable JSON for handle keys: object keys sorted, `undefined` dropped. */
export function stableKey(value: unknown): string {
  if (value === undefined) return '';
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(stableKey).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableKey(v)}`).join(',')}}`;
}
