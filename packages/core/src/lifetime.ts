/**
 * The renewal schedule of Vault's Go `api/lifetime_watcher.go`, as one reusable, clock-free algorithm.
 *
 * It drives both the token (`auth/token/renew-self`) and leases (`sys/leases/renew`). The schedule
 * does no I/O and starts no timers: the owner asks it what to do next ({@link LifetimeStep}), waits `delayMs` on
 * its own {@link Clock}, performs the renewal (or not) and reports the outcome back. Randomness is injected, so
 * unit tests can pin the grace.
 *
 * The rules (https://github.com/hashicorp/vault/blob/main/api/lifetime_watcher.go):
 * - grace = uniform in [10 %, 20 %) of the lease (or of the increment, when one was asked and is smaller);
 * - sleep = ⅔ of the remaining time + ⅓ of the grace; grace is recomputed only while the lease keeps growing,
 *   so once Vault caps the TTL the remaining time shrinks towards grace and the schedule ends early;
 * - the schedule ends ("expiring": re-login / re-issue now) when remaining ≤ grace or remaining − sleep ≤ grace;
 * - a failed renewal backs off exponentially (10 s, ×2, ±50 %, ≤ 5 min) bounded by the time the lease has left.
 *
 * Beyond the Go watcher (design "Core model"), a renewal that Vault capped (the capped-TTL warning, or a returned
 * TTL below the increment asked) or that came back non-renewable switches the schedule to watching: no more
 * renewals, just wait until the grace window and end with reason `max-ttl` / `not-renewable`.
 */
import type { RandomSource } from './clock.js';

/** Parameters of an exponential backoff with jitter (cenkalti/backoff semantics). */
export interface BackoffOptions {
  /** First interval in ms. */
  initialMs: number;
  /** Growth per attempt. */
  multiplier: number;
  /** Jitter: each interval is uniform in `[i·(1−f), i·(1+f)]`. */
  randomizationFactor: number;
  /** Cap of the (un-jittered) interval in ms. */
  maxIntervalMs: number;
  /** Give up when elapsed + next interval exceeds this (ms); 0 = never give up. */
  maxElapsedMs: number;
}

/** The Go watcher's renewal-failure backoff. `maxElapsedMs` is set to the lease's remaining time. */
export const RENEW_BACKOFF: Readonly<BackoffOptions> = Object.freeze({
  initialMs: 10_000,
  multiplier: 2,
  randomizationFactor: 0.5,
  maxIntervalMs: 5 * 60_000,
  maxElapsedMs: 0,
});

/** Exponential backoff with jitter; `next()` returns `undefined` once the elapsed-time budget is spent. */
export class ExponentialBackoff {
  readonly #options: BackoffOptions;
  readonly #random: RandomSource;
  #start: number;
  #current: number;
  #attempt = 0;

  constructor(options: BackoffOptions, now: number, random: RandomSource) {
    this.#options = options;
    this.#random = random;
    this.#start = now;
    this.#current = options.initialMs;
  }

  /** Number of intervals handed out since the last reset. */
  get attempt(): number {
    return this.#attempt;
  }

  /** The next wait in ms, or `undefined` when `maxElapsedMs` would be exceeded. */
  next(now: number): number | undefined {
    const { multiplier, randomizationFactor, maxIntervalMs, maxElapsedMs } = this.#options;
    const delta = randomizationFactor * this.#current;
    const interval = this.#current - delta + this.#random() * (2 * delta);
    this.#current = Math.min(this.#current * multiplier, maxIntervalMs);
    this.#attempt += 1;
    const elapsed = now - this.#start;
    if (maxElapsedMs > 0 && elapsed + interval > maxElapsedMs) return undefined;
    return Math.max(0, Math.round(interval));
  }

  /** Starts over from the initial interval. */
  reset(now: number): void {
    this.#start = now;
    this.#current = this.#options.initialMs;
    this.#attempt = 0;
  }
}

/**
 * Go's `calculateGrace`: uniform in [10 %, 20 %) of the lease, or of the increment when one was requested and is
 * smaller than the lease. All values in ms; 0 for a lease without duration.
 */
export function calculateGrace(leaseMs: number, incrementMs: number, random: RandomSource): number {
  let base = leaseMs;
  if (incrementMs > 0 && leaseMs > incrementMs) base = incrementMs;
  if (base <= 0) return 0;
  const jitterMax = 0.1 * base;
  return jitterMax + random() * jitterMax;
}

/** Go's sleep rule: ⅔ of the remaining time plus ⅓ of the grace (ms). */
export function calculateSleep(remainingMs: number, graceMs: number): number {
  return (2 / 3) * remainingMs + (1 / 3) * graceMs;
}

/**
 * How much of the wait before a renewal is spread: a renewal due in `d` ms (Go's ⅔ + ⅓·grace rule, or the lease's
 * rotation deadline) is sent uniformly in `[(1 − RENEW_SPREAD)·d, d]` instead of at `d` — see {@link spreadRenewal}.
 */
export const RENEW_SPREAD = 0.5;

/**
 * The spread wait before a renewal: uniform in `[(1 − RENEW_SPREAD)·delayMs, delayMs]` (`random` in `[0, 1)`).
 *
 * Many clients started together (a fleet, a deployment) would otherwise renew in lockstep forever: every wait is the
 * same fraction of the same TTL, so Vault sees their renewals (and so their logins) in bursts. Go's watcher only
 * jitters the grace (10–20 % of the lease), which keeps them within a few per cent of each other. The spread only
 * ever renews **earlier** than Go's schedule (never later, so renewal stays well before expiry and the schedule's end
 * rule is unchanged); it costs on average a quarter more renewals. Waits of successive renewals are independent, so
 * clients in lockstep drift apart within a few renewals and stay apart.
 */
export function spreadRenewal(delayMs: number, random: RandomSource): number {
  if (!(delayMs > 0) || !Number.isFinite(delayMs)) return delayMs;
  return Math.round(delayMs * (1 - RENEW_SPREAD * random()));
}

/**
 * When a lifetime granted by a request sent at `requestedAt` and answered at `now` starts counting (ms): the send
 * time — Vault started the TTL when it handled the request, which is no earlier, so counting from there never
 * overestimates the time left however long the answer took — and never later than the answer (a clock that
 * stepped back meanwhile).
 */
export function lifetimeStart(requestedAt: number | undefined, now: number): number {
  return Math.min(requestedAt ?? now, now);
}

/**
 * When a value replaced at `now` is revoked at the latest, whether or not its consumers drained (ms since epoch):
 * `drainTimeoutMs` after the rotation, or at `until` (just before the value ends), whichever comes first; never
 * before `now`. `Infinity` when neither bounds it.
 */
export function drainDeadline(until: number, drainTimeoutMs: number | undefined, now: number): number {
  return Math.max(now, Math.min(until, now + (drainTimeoutMs ?? Number.POSITIVE_INFINITY)));
}

/** Renewals and replacements woken by Vault's return wait at most this long (ms): see {@link spreadWake}. */
export const WAKE_SPREAD_MS = 10_000;

/**
 * What a credential woken by Vault's return does first, for {@link spreadWake}: `renew` when its renewals failed only
 * because Vault could not be reached (it is renewed, and replaced only if that fails); `replace` when it can no longer
 * be extended (its max TTL is near, it is not renewable, or its token is being replaced) and must be re-issued or
 * logged in again.
 */
export type WakeStep = 'renew' | 'replace';

/**
 * The wait before a renewal (or a replacement) that failed while Vault was unreachable or sealed, once Vault answers
 * again, for a credential that still has `leftMs` of validity (`random` in `[0, 1)`):
 *
 * - `renew` (the default): {@link spreadRenewal} of two thirds of `leftMs` capped at {@link WAKE_SPREAD_MS}, i.e.
 *   uniform in a third to two thirds of what is left, at most 10 s. It is the rule of a steady renewal applied from
 *   Vault's return: Go's schedule would renew a credential with `leftMs` remaining after ⅔ of it (leaving a third
 *   for retries, and for a replacement if the renewal is refused), and the steady spread sends it in the later half
 *   of that wait.
 * - `replace`: uniform in the first third of what is left, at most 10 s. The credential is past the point where its
 *   schedule wanted it replaced (that is why it is being replaced); at least two thirds of what is left remain for
 *   the re-issue or login, its retries, and its consumers (a pool's new connections) to move before it ends.
 *
 * Every client of a fleet sees Vault return within a probe interval of the others; renewing all their still-valid
 * tokens and leases at that instant would be a burst of several times the steady rate. A uniform wait from zero
 * still crowds the first second (every client has some chance to land there, and those with little time left land
 * nowhere else); waiting from a third of the time left on spreads the fleet evenly over the time it has. Replacements
 * are the few credentials whose end is near; they keep the end in sight rather than spread as far. A credential that
 * has already ended is replaced at once (0).
 */
export function spreadWake(leftMs: number, random: RandomSource, step: WakeStep = 'renew'): number {
  if (!(leftMs > 0)) return 0;
  if (step === 'replace') return Math.round(Math.min(WAKE_SPREAD_MS, leftMs / 3) * random());
  return spreadRenewal(Math.min(WAKE_SPREAD_MS, (2 / 3) * leftMs), random);
}

/** What the owner of a schedule must do next. */
export type LifetimeStep =
  /** Renew after `delayMs`, then report {@link LifetimeSchedule.renewed} or {@link LifetimeSchedule.renewFailed}. */
  | { type: 'renew'; delayMs: number }
  /** Do not call Vault; after `delayMs` call {@link LifetimeSchedule.check}. */
  | { type: 'check'; delayMs: number }
  /** The lifetime cannot be extended: re-login / re-issue now, while `remainingMs` of validity is left. */
  | { type: 'expiring'; remainingMs: number; reason: ExpiringReason };

/** Why a schedule ended. */
export type ExpiringReason = 'max-ttl' | 'not-renewable' | 'renew-failed';

/** Inputs of a {@link LifetimeSchedule}. */
export interface LifetimeScheduleOptions {
  /** Duration granted at issue/login, ms (Vault's `lease_duration` × 1000). */
  leaseDurationMs: number;
  /** Increment asked on each renewal, ms (0 = let Vault choose). */
  incrementMs?: number;
  /** Whether Vault said the lease/token is renewable. */
  renewable: boolean;
  /** Issue time, ms: when the answer that granted the lifetime arrived. */
  now: number;
  /**
   * When the request that granted the lifetime was sent, ms (default {@link now}). Vault starts the TTL when it
   * handles the request, which is no earlier: counting from the send time never overestimates the time left, however
   * long the answer took (a slow or loaded link must not eat the rotation margin).
   */
  requestedAt?: number;
  random: RandomSource;
  /** Renewal-failure backoff (default {@link RENEW_BACKOFF}); `maxElapsedMs` is always the time left. */
  backoff?: Partial<BackoffOptions>;
}

/** Outcome details of a successful renewal. */
export interface RenewedInfo {
  /** Vault's capped-TTL warning was present, or the TTL came back below the increment asked. */
  capped?: boolean;
  /** Vault's `renewable` in the renewal response (default: unchanged). */
  renewable?: boolean;
  /** When the renewal request was sent, ms (default: the `now` it is reported at): the new TTL counts from there. */
  requestedAt?: number;
}

/**
 * One lease's (or token's) renewal schedule. Construct it at issue time and call {@link start}; then follow
 * the returned steps.
 */
export class LifetimeSchedule {
  readonly #random: RandomSource;
  readonly #incrementMs: number;
  readonly #backoffOptions: BackoffOptions;
  #renewable: boolean;
  /** When the current lifetime started counting (the granting request's send time), ms. */
  #start: number;
  /** When the schedule was created (the answer's arrival), ms. */
  readonly #createdAt: number;
  #lastLeaseMs: number;
  #priorMs: number;
  #graceMs: number;
  #backoff: ExponentialBackoff | undefined;
  #endReason: ExpiringReason | undefined;

  constructor(options: LifetimeScheduleOptions) {
    this.#random = options.random;
    this.#incrementMs = Math.max(0, options.incrementMs ?? 0);
    this.#backoffOptions = { ...RENEW_BACKOFF, ...options.backoff };
    this.#renewable = options.renewable;
    this.#createdAt = options.now;
    this.#start = lifetimeStart(options.requestedAt, options.now);
    this.#lastLeaseMs = Math.max(0, options.leaseDurationMs);
    this.#priorMs = this.#lastLeaseMs;
    this.#graceMs = calculateGrace(this.#lastLeaseMs, this.#incrementMs, this.#random);
  }

  /** Current grace in ms (for tests and diagnostics). */
  get graceMs(): number {
    return this.#graceMs;
  }

  /** Whether renewals are still attempted. */
  get renewable(): boolean {
    return this.#renewable;
  }

  /** Why the schedule would end now: `max-ttl`, `not-renewable` or `renew-failed`. */
  get endReason(): ExpiringReason {
    return this.#reason();
  }

  /** Absolute expiry time (ms) as last known. */
  get expiresAt(): number {
    return this.#start + this.#lastLeaseMs;
  }

  /** First step after issue. Unlike Go's watcher, the issue itself counts as the first renewal. */
  start(): LifetimeStep {
    return this.#next(this.expiresAt - this.#createdAt, this.#createdAt);
  }

  /** Reports a successful renewal granting `leaseDurationMs` at `now`. */
  renewed(leaseDurationMs: number, now: number, info: RenewedInfo = {}): LifetimeStep {
    this.#backoff = undefined;
    this.#start = lifetimeStart(info.requestedAt, now);
    this.#lastLeaseMs = Math.max(0, leaseDurationMs);
    if (info.capped) {
      this.#renewable = false;
      this.#endReason = 'max-ttl';
    } else if (info.renewable === false) {
      this.#renewable = false;
      this.#endReason = 'not-renewable';
    }
    return this.#next(this.expiresAt - now, now);
  }

  /**
   * Reports a failed renewal at `now`. `permissionDenied`: the credential may not renew itself (Go: switch to
   * watching it until expiry).
   */
  renewFailed(now: number, options: { permissionDenied?: boolean } = {}): LifetimeStep {
    const remaining = this.expiresAt - now;
    if (options.permissionDenied) {
      this.#renewable = false;
      this.#endReason = 'not-renewable';
      this.#backoff = undefined;
      return this.#next(remaining, now);
    }
    if (!this.#backoff) {
      this.#backoff = new ExponentialBackoff(
        { ...this.#backoffOptions, maxElapsedMs: Math.max(1, remaining) },
        now,
        this.#random,
      );
    }
    return this.#next(remaining, now);
  }

  /** For `check` steps: re-evaluates the remaining time without calling Vault. */
  check(now: number): LifetimeStep {
    return this.#next(this.expiresAt - now, now);
  }

  #reason(): ExpiringReason {
    if (this.#backoff) return 'renew-failed';
    return this.#endReason ?? (this.#renewable ? 'max-ttl' : 'not-renewable');
  }

  #next(remainingMs: number, now: number): LifetimeStep {
    let sleep: number;
    if (this.#backoff) {
      const wait = this.#backoff.next(now);
      if (wait === undefined) {
        return { type: 'expiring', remainingMs: Math.max(0, remainingMs), reason: 'renew-failed' };
      }
      sleep = wait;
    } else {
      if (remainingMs > this.#priorMs) {
        this.#graceMs = calculateGrace(remainingMs, this.#incrementMs, this.#random);
      }
      sleep = calculateSleep(remainingMs, this.#graceMs);
    }
    this.#priorMs = remainingMs;
    if (remainingMs <= this.#graceMs || remainingMs - sleep <= this.#graceMs) {
      return { type: 'expiring', remainingMs: Math.max(0, remainingMs), reason: this.#reason() };
    }
    return { type: this.#renewable ? 'renew' : 'check', delayMs: Math.round(sleep) };
  }
}

/** Vault's capped-TTL warning on a renewal (`CalculateTTL` in https://github.com/hashicorp/vault/blob/main/sdk/framework/lease.go). */
export function hasCappedWarning(warnings: readonly string[] | null | undefined): boolean {
  return (warnings ?? []).some((w) => /exceeded the effective max_ttl/i.test(w));
}

/** Retries before a credential ends are never closer together than this (ms). */
export const LAST_ATTEMPTS_FLOOR_MS = 500;

/**
 * The wait before the next attempt to replace a credential (re-issue, re-login): `backoffMs`, but while the
 * credential still has `leftMs` of validity never more than a third of it (at least {@link LAST_ATTEMPTS_FLOOR_MS}),
 * so that a backoff grown to 30 s does not sleep through the end and the last attempts are made in time. Once the
 * credential has ended (or has no end, `undefined`) the backoff alone.
 */
export function untilNextAttempt(backoffMs: number, leftMs: number | undefined): number {
  if (leftMs === undefined || !(leftMs > 0)) return backoffMs;
  return Math.min(backoffMs, Math.max(LAST_ATTEMPTS_FLOOR_MS, Math.round(leftMs / 3)));
}
