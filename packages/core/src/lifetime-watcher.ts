/**
 * The one renewal loop of the library, for the client token and for every lease — as Vault's Go client has one
 * `LifetimeWatcher` for both (https://github.com/hashicorp/vault/blob/main/api/lifetime_watcher.go), with the
 * renew call injected.
 *
 * The watcher owns the timer and runs **renew → report → follow**: it asks its {@link LifetimeSchedule} what to do
 * next, waits on the clock, calls the client's `renew()`, reports the outcome back to the client (events, logs,
 * state) and to the schedule, and follows the next step. When the lifetime cannot be extended any more (Vault's max
 * TTL, not renewable, renewals failing), it tells the client to end it (`ending`: re-login, re-issue).
 *
 * "When do we renew, and when do we re-issue instead?" is answered here and in {@link LifetimeSchedule}, once:
 * - renew on the schedule (⅔ of the remaining time + ⅓ of a 10–20 % grace), spread earlier by {@link spreadRenewal}
 *   when the owner passes its random source, so that clients started together do not renew together;
 * - a capped or non-renewable renewal, a renewal refused as not allowed, or a renewal backoff that runs out of
 *   time: stop renewing and end — at the schedule's grace, or at the client's own deadline ({@link
 *   LifetimeClient.endAt}, the lease's rotation margin) when it has one, whichever the client asks for;
 * - a renewal is never scheduled past that deadline (a renewal that comes back capped there would leave no time);
 * - a failed renewal waits for its backoff; {@link LifetimeWatcher.wake} (Vault answers again) moves it to a wait
 *   spread by {@link spreadWake} when the owner passes its random source (the credential is still valid), else to now.
 */
import type { RandomSource, TimerHandle, TimerSet } from './clock.js';
import {
  type ExpiringReason,
  type LifetimeSchedule,
  type LifetimeStep,
  lifetimeStart,
  spreadRenewal,
  spreadWake,
} from './lifetime.js';

/** What one successful renewal granted, validated by the client. */
export interface RenewOutcome {
  /** The lifetime granted from now, ms. */
  ttlMs: number;
  /** Vault capped the renewal (its max-TTL warning, or less than the increment asked). */
  capped: boolean;
  /** Whether Vault says it can be renewed again. */
  renewable: boolean;
}

/**
 * What a failed renewal means for the loop:
 * - `retry`: transient — back off (bounded by the time left) and renew again;
 * - `cannot-renew`: the credential may not be renewed (403, not renewable) — stop renewing, end in time;
 * - `handled`: the client has taken over (an invalid token is being replaced, a lost lease re-issued) — the loop
 *   stops.
 */
export type RenewFailure = 'retry' | 'cannot-renew' | 'handled';

/** The token manager or a lease handle: the parts of the loop that differ between them. */
export interface LifetimeClient {
  /** Sends the renewal and resolves with what Vault granted (validated); rejects on failure. */
  renew(): Promise<RenewOutcome>;
  /** Whether the loop's result still matters (the credential is still the current one, nothing closed). */
  live(): boolean;
  /**
   * Reports a renewal (state, events, logs), before the loop follows its next step. `from`: when the renewal was
   * sent — the new TTL counts from there (Vault started it no earlier), so the credential ends at `from + ttlMs`.
   */
  renewed(outcome: RenewOutcome, from: number): void;
  /** Classifies a failed renewal; for `handled` the client acts on it itself. */
  failed(error: unknown): RenewFailure;
  /**
   * Reports a failed renewal of kind `retry` / `cannot-renew`. `retryInMs`: the wait before the next renewal; `0`
   * when the lifetime ends now instead (re-login / re-issue); `undefined` when it is not renewed any more.
   */
  renewFailed(error: unknown, failure: Exclude<RenewFailure, 'handled'>, retryInMs: number | undefined): void;
  /** The lifetime cannot be extended: end it now (re-login, re-issue), with `remainingMs` of validity left. */
  ending(reason: ExpiringReason, remainingMs: number): void;
  /**
   * The instant by which the client must have replaced the credential (the lease's rotation margin before its end),
   * or `undefined` to end at the schedule's grace (the token). Read at every step: it follows renewals.
   */
  endAt?(): number | undefined;
}

/** The renewal loop of one credential. See the module documentation. */
export class LifetimeWatcher {
  readonly #schedule: LifetimeSchedule;
  readonly #client: LifetimeClient;
  readonly #timers: TimerSet;
  readonly #now: () => number;
  readonly #random: RandomSource | undefined;
  #timer: TimerHandle | undefined;
  /** A failed renewal waits for its backoff: {@link wake} renews at once. */
  #retryPending = false;
  #renewing = false;
  #stopped = false;

  constructor(
    schedule: LifetimeSchedule,
    client: LifetimeClient,
    deps: {
      timers: TimerSet;
      now: () => number;
      /** Spreads each scheduled renewal earlier ({@link spreadRenewal}); without it, renewals follow the schedule. */
      random?: RandomSource;
    },
  ) {
    this.#schedule = schedule;
    this.#client = client;
    this.#timers = deps.timers;
    this.#now = deps.now;
    this.#random = deps.random;
  }

  /** The schedule followed (for diagnostics and tests). */
  get schedule(): LifetimeSchedule {
    return this.#schedule;
  }

  /** Starts following the schedule from the issue / login. */
  start(): void {
    this.#follow(this.#schedule.start());
  }

  /**
   * Vault answers again: a renewal waiting for its backoff runs now — or, with a random source, after a wait spread
   * by {@link spreadWake} (a third to two thirds of the time left, at most 10 s), sooner or later than its backoff.
   */
  wake(): void {
    if (!this.#retryPending || this.#stopped || this.#renewing) return;
    if (this.#random) {
      const end = Math.min(this.#schedule.expiresAt, this.#client.endAt?.() ?? Number.POSITIVE_INFINITY);
      const wait = spreadWake(end - this.#now(), this.#random);
      if (wait > 0) {
        this.#at(wait, () => void this.#renew());
        return;
      }
    }
    this.#retryPending = false;
    this.#clear();
    void this.#renew();
  }

  /** Stops the loop (the credential was replaced or closed); a renewal under way is ignored when it returns. */
  stop(): void {
    this.#stopped = true;
    this.#retryPending = false;
    this.#clear();
  }

  #follow(step: LifetimeStep): void {
    // (Liveness is checked when a timer fires or a renewal returns: a lease schedules while its issue completes.)
    if (this.#stopped) return;
    const end = this.#client.endAt?.();
    if (step.type === 'renew') {
      const due = Math.min(step.delayMs, this.#untilEnd(end));
      this.#at(this.#random ? spreadRenewal(due, this.#random) : due, () => void this.#renew());
    } else if (end !== undefined) {
      // The client ends at its own deadline: no need to watch the schedule's grace.
      this.#endAtDeadline(end, step.type === 'expiring' ? step.reason : this.#schedule.endReason);
    } else if (step.type === 'check') {
      this.#at(step.delayMs, () => {
        if (this.#client.live()) this.#follow(this.#schedule.check(this.#now()));
      });
    } else {
      this.#stopped = true;
      this.#client.ending(step.reason, step.remainingMs);
    }
  }

  #endAtDeadline(end: number, reason: ExpiringReason): void {
    this.#at(this.#untilEnd(end), () => {
      if (this.#stopped || !this.#client.live()) return;
      this.#stopped = true;
      this.#client.ending(reason, Math.max(0, this.#schedule.expiresAt - this.#now()));
    });
  }

  async #renew(): Promise<void> {
    if (this.#stopped || this.#renewing || !this.#client.live()) return;
    this.#retryPending = false;
    this.#renewing = true;
    const requestedAt = this.#now();
    let outcome: RenewOutcome;
    try {
      outcome = await this.#client.renew();
    } catch (error) {
      this.#renewing = false;
      if (this.#stopped || !this.#client.live()) return;
      this.#failed(error);
      return;
    }
    this.#renewing = false;
    if (this.#stopped || !this.#client.live()) return;
    const now = this.#now();
    // The client and the schedule count the new TTL from the same instant.
    const from = lifetimeStart(requestedAt, now);
    this.#client.renewed(outcome, from);
    this.#follow(
      this.#schedule.renewed(outcome.ttlMs, now, {
        capped: outcome.capped,
        renewable: outcome.renewable,
        requestedAt: from,
      }),
    );
  }

  #failed(error: unknown): void {
    const failure = this.#client.failed(error);
    if (failure === 'handled') {
      this.stop();
      return;
    }
    const now = this.#now();
    const step = this.#schedule.renewFailed(now, { permissionDenied: failure === 'cannot-renew' });
    if (failure === 'cannot-renew') {
      // No more renewals: watch until the end (the schedule's grace, or the client's deadline).
      this.#client.renewFailed(error, failure, undefined);
      this.#follow(step);
      return;
    }
    const end = this.#client.endAt?.();
    if (step.type !== 'renew' || (end !== undefined && now >= end)) {
      // The backoff ran out of time left, or the client's deadline has come: end now.
      this.#client.renewFailed(error, failure, 0);
      this.#stopped = true;
      this.#client.ending('renew-failed', Math.max(0, this.#schedule.expiresAt - now));
      return;
    }
    const waitMs = Math.min(step.delayMs, this.#untilEnd(end));
    this.#client.renewFailed(error, failure, waitMs);
    this.#retryPending = true;
    this.#at(waitMs, () => void this.#renew());
  }

  #untilEnd(end: number | undefined): number {
    return end === undefined || !Number.isFinite(end)
      ? Number.POSITIVE_INFINITY
      : Math.max(0, end - this.#now());
  }

  #at(ms: number, fn: () => void): void {
    this.#clear();
    this.#timer = this.#timers.set(() => {
      this.#timer = undefined;
      fn();
    }, ms);
  }

  #clear(): void {
    this.#timers.clear(this.#timer);
    this.#timer = undefined;
  }
}
