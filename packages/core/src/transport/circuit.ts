/**
 * Circuit breaker: after `failureThreshold` consecutive "Vault unreachable" outcomes (network errors, timeouts,
 * 502/503/504) — or at once when Vault says it is sealed — the circuit opens: callers fail fast with
 * `VAULT_UNAVAILABLE` (or `VAULT_SEALED`) while a background probe (`sys/health`) runs with jittered backoff.
 * The circuit closes as soon as a probe sees an unsealed Vault answer.
 *
 * The probe schedule never outgrows what the client can afford: with a {@link DeadlineSource} (the earliest instant
 * at which the token or a lease the client holds ends), the next probe comes after at most a quarter of the time
 * left (never more often than every {@link URGENT_PROBE_FLOOR_MS}), so a Vault that is back before that end is seen
 * in time to renew or re-issue. A lease or token about to end can also ask for a probe at once ({@link
 * CircuitBreaker.probeNow}) instead of failing fast until the next scheduled one.
 */
import { type Clock, type RandomSource, TimerSet } from '../clock.js';
import { VaultError, VaultErrorCode } from '../errors.js';
import type { TypedEmitter, VaultEvents } from '../events.js';
import { ExponentialBackoff } from '../lifetime.js';
import type { Logger } from '../logger.js';

/** Tuning of the circuit breaker. */
export interface CircuitBreakerOptions {
  /** Consecutive unreachable outcomes that open the circuit (default 5). */
  failureThreshold: number;
  /** First probe delay in ms (default 1000); grows ×2 with jitter up to `maxProbeIntervalMs`. */
  probeIntervalMs: number;
  /** Cap of the probe interval in ms (default 30000). */
  maxProbeIntervalMs: number;
}

/** The earliest instant (ms on the client's clock) at which something the client holds ends, if any. */
export type DeadlineSource = () => number | undefined;

/** Probes asked for by a near deadline are never closer together than this (ms). */
export const URGENT_PROBE_FLOOR_MS = 250;

/** Result of a probe: did Vault answer, and is it sealed. Throws when Vault is unreachable. */
export type Probe = () => Promise<{ sealed: boolean }>;

/** The breaker's state, for health. */
export interface CircuitState {
  open: boolean;
  reason: 'unavailable' | 'sealed' | undefined;
  consecutiveFailures: number;
}

export class CircuitBreaker {
  readonly #options: CircuitBreakerOptions;
  readonly #clock: Clock;
  readonly #random: RandomSource;
  readonly #timers: TimerSet;
  readonly #events: TypedEmitter<VaultEvents>;
  readonly #log: Logger;
  #probe: Probe | undefined;
  #failures = 0;
  #open = false;
  #reason: 'unavailable' | 'sealed' | undefined;
  #openedAt = 0;
  #backoff: ExponentialBackoff | undefined;
  #closed = false;
  #deadline: DeadlineSource | undefined;
  #probing: Promise<void> | undefined;
  #lastProbeAt = Number.NEGATIVE_INFINITY;

  constructor(
    options: CircuitBreakerOptions,
    deps: { clock: Clock; random: RandomSource; events: TypedEmitter<VaultEvents>; logger: Logger },
  ) {
    this.#options = options;
    this.#clock = deps.clock;
    this.#random = deps.random;
    this.#timers = new TimerSet(deps.clock);
    this.#events = deps.events;
    this.#log = deps.logger;
  }

  /** Sets the probe (the transport's `sys/health` call). */
  setProbe(probe: Probe): void {
    this.#probe = probe;
  }

  /** Sets where the earliest end of what the client holds (token, leases) is read from. */
  setDeadlineSource(source: DeadlineSource): void {
    this.#deadline = source;
  }

  /**
   * While open: probes now, unless a probe is under way (then waits for it) or one ran less than
   * {@link URGENT_PROBE_FLOOR_MS} ago. Resolves when the probe is done, never rejects; the circuit is closed
   * afterwards if Vault answered unsealed. A no-op while closed. The probe takes the place of the scheduled one:
   * the next scheduled probe comes one backoff interval (capped by the deadline) after it.
   */
  probeNow(): Promise<void> {
    if (!this.#open || this.#closed) return Promise.resolve();
    if (this.#probing) return this.#probing;
    if (this.#clock.now() - this.#lastProbeAt < URGENT_PROBE_FLOOR_MS) return Promise.resolve();
    // The scheduled probe is replaced by this one (which schedules the next).
    this.#timers.clearAll();
    return this.#runProbe();
  }

  get state(): CircuitState {
    return { open: this.#open, reason: this.#reason, consecutiveFailures: this.#failures };
  }

  /** The fail-fast error for a request while open, or `undefined` when requests may go through. */
  rejection(method: string, path: string): VaultError | undefined {
    if (!this.#open) return undefined;
    if (this.#reason === 'sealed') {
      return new VaultError(
        VaultErrorCode.SEALED,
        `${method} ${path} not sent: Vault is sealed (circuit open)`,
        {
          method,
          path,
          status: 503,
        },
      );
    }
    return new VaultError(
      VaultErrorCode.UNAVAILABLE,
      `${method} ${path} not sent: Vault is unreachable (circuit open after ${this.#failures} failures)`,
      { method, path },
    );
  }

  /** Vault answered (any status other than sealed/unavailable). */
  recordSuccess(): void {
    this.#failures = 0;
    if (this.#open) this.#close();
  }

  /** Vault was unreachable (network error, timeout, 502/503/504). */
  recordFailure(): void {
    this.#failures += 1;
    if (!this.#open && this.#failures >= this.#options.failureThreshold) this.#openCircuit('unavailable');
  }

  /** Vault said it is sealed: open at once. */
  recordSealed(): void {
    this.#failures += 1;
    if (!this.#open) this.#openCircuit('sealed');
    else this.#reason = 'sealed';
  }

  /** Stops probing. */
  close(): void {
    this.#closed = true;
    this.#timers.clearAll();
  }

  #openCircuit(reason: 'unavailable' | 'sealed'): void {
    if (this.#closed) return;
    this.#open = true;
    this.#reason = reason;
    this.#openedAt = this.#clock.now();
    this.#backoff = new ExponentialBackoff(
      {
        initialMs: this.#options.probeIntervalMs,
        multiplier: 2,
        randomizationFactor: 0.2,
        maxIntervalMs: this.#options.maxProbeIntervalMs,
        maxElapsedMs: 0,
      },
      this.#openedAt,
      this.#random,
    );
    this.#log.warn({ reason, failures: this.#failures }, 'Vault circuit opened: failing fast while probing');
    this.#events.emit('circuit:open', { reason, failures: this.#failures });
    this.#scheduleProbe();
  }

  #close(): void {
    const openForMs = this.#clock.now() - this.#openedAt;
    this.#open = false;
    this.#reason = undefined;
    this.#failures = 0;
    this.#backoff = undefined;
    this.#timers.clearAll();
    this.#log.info({ openForMs }, 'Vault circuit closed: Vault answers again');
    this.#events.emit('circuit:close', { openForMs });
  }

  #scheduleProbe(): void {
    if (this.#closed || !this.#open || !this.#backoff) return;
    const now = this.#clock.now();
    const delay = Math.min(
      this.#backoff.next(now) ?? this.#options.maxProbeIntervalMs,
      this.#deadlineCap(now),
    );
    this.#timers.set(() => void this.#runProbe(), delay);
  }

  /** The longest the next probe may wait given the earliest end of what the client holds. */
  #deadlineCap(now: number): number {
    const deadline = this.#deadline?.();
    if (deadline === undefined || !Number.isFinite(deadline)) return Number.POSITIVE_INFINITY;
    const left = deadline - now;
    // Already ended: nothing is saved by hurrying; probe at the first interval.
    if (left <= 0) return this.#options.probeIntervalMs;
    return Math.max(URGENT_PROBE_FLOOR_MS, Math.round(left / 4));
  }

  #runProbe(): Promise<void> {
    if (this.#closed || !this.#open) return Promise.resolve();
    if (this.#probing) return this.#probing;
    if (!this.#probe) {
      this.#scheduleProbe();
      return Promise.resolve();
    }
    this.#lastProbeAt = this.#clock.now();
    const probing = this.#probeOnce(this.#probe).finally(() => {
      this.#probing = undefined;
    });
    this.#probing = probing;
    return probing;
  }

  async #probeOnce(probe: Probe): Promise<void> {
    try {
      const { sealed } = await probe();
      if (this.#closed || !this.#open) return;
      this.#events.emit('circuit:probe', { ok: !sealed, sealed });
      if (sealed) {
        this.#reason = 'sealed';
        this.#scheduleProbe();
      } else {
        this.recordSuccess();
      }
    } catch {
      if (this.#closed || !this.#open) return;
      this.#events.emit('circuit:probe', { ok: false, sealed: undefined });
      this.#reason = 'unavailable';
      this.#scheduleProbe();
    }
  }
}
