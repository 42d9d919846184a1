/**
 * A lease handle: one Vault lease at a time, its generations, rotation and revocation (the states and their
 * transitions: the "Lease states" section of this package's README).
 *
 * - **Renewal** is the shared {@link LifetimeWatcher} (the same loop as the token's); the handle supplies the renew
 *   call (`sys/leases/renew`), its events, and the rotation-margin rule: re-issue `rotationMarginMs` before the value
 *   ends — when Vault caps a renewal (max TTL), the lease is not renewable, or renewals keep failing — so that the
 *   new value exists while the old one is valid.
 * - **Rotate**: `rotated { previous, current, drained }` goes to every listener; the previous lease is revoked when
 *   all listeners drained, after `drainTimeoutMs`, or just before it expires — whichever comes first. A revocation
 *   that fails transiently (Vault unreachable, sealed, timed out) is retried in the background with backoff
 *   ({@link REVOKE_RETRY}) until it succeeds or the lease ends by itself; `close()` cancels the retries.
 * - **Outage**: when the renewals ended only because Vault did not answer (reason `renew-failed`), each re-issue
 *   attempt first renews the held lease if it is still valid and belongs to the current token: once Vault answers,
 *   the lease is extended and kept — same value, no rotation, no reconnects — instead of replaced.
 * - **Errors**: issue attempts back off (jittered, capped, and never past a third of the time the held value has
 *   left) and keep the current value; they probe an open circuit first and wake up when it closes (Vault is back):
 *   at once when the held value has ended, else after {@link spreadWake} of its time left — a third to two thirds
 *   when the attempt renews first, within the first third when it re-issues ({@link LeaseHandle.vaultRecovered}). A
 *   lease Vault no longer knows (`lease not found`, revoked out of band) is re-issued at once.
 * - **Token change**: a lease remembers the accessor of the token that issued it; the manager calls
 *   {@link LeaseHandle.tokenChanged} after a re-login and the lease is re-issued under the new token — at once when
 *   the old token is dead (its leases are gone), else spread over part of the time the held lease has left.
 * - **State and events**: every transition goes through the handle's {@link LeaseEventPublisher}, which checks it
 *   against the allowed-transitions table and sends the handle event, its client-wide `lease:*` mirror and the log
 *   line; this file never sets the state or emits an event itself.
 *
 * All waiting goes through the client's clock ({@link TimerSet}), so unit tests drive it with a manual clock.
 */
import { TimerSet } from '../clock.js';
import { VaultError, VaultErrorCode } from '../errors.js';
import {
  type BackoffOptions,
  drainDeadline,
  ExponentialBackoff,
  hasCappedWarning,
  LifetimeSchedule,
  lifetimeStart,
  spreadWake,
  untilNextAttempt,
  type WakeStep,
} from '../lifetime.js';
import { type LifetimeClient, LifetimeWatcher, type RenewOutcome } from '../lifetime-watcher.js';
import type { Logger } from '../logger.js';
import { leaseRenewal, parseResponse } from '../validation.js';
import type { Vault } from '../vault.js';
import { describe, LeaseEventPublisher } from './publisher.js';
import { ReadyWaiters } from './ready.js';
import type {
  Lease,
  LeaseEventMap,
  LeaseListener,
  LeaseOptions,
  LeaseReadyOptions,
  LeaseSnapshot,
  LeaseState,
  RotateReason,
} from './types.js';

/** What a source returns for one issue. */
export interface IssuedSecret<T> {
  value: T;
  /** Vault lease id, `''` when the secret has none. */
  leaseId: string;
  /** Lifetime granted, ms. */
  leaseDurationMs: number;
  renewable: boolean;
  /** Absolute end when known better than `now + leaseDurationMs` (PKI NotAfter). */
  expiresAt?: number;
}

/** How a handle obtains and gives back its secret. Engines provide one per kind. */
export interface LeaseSource<T> {
  /** Vault path issued from (for logs, events, metrics). */
  readonly path: string;
  /** `static`: no Vault lease; refresh after the value's TTL, rotate only when the value changed. */
  readonly kind: 'dynamic' | 'static' | 'certificate';
  issue(signal: AbortSignal): Promise<IssuedSecret<T>>;
  /** For `static`: whether two issued values are the same secret. */
  same?(a: T, b: T): boolean;
}

/** Defaults of {@link LeaseOptions}. */
export const LEASE_DEFAULTS = Object.freeze({
  minRotationMarginMs: 30_000,
  rotationMarginRatio: 0.2,
  retryInitialMs: 1000,
  retryMaxMs: 30_000,
  /** A previous lease not drained is revoked this long before it would expire anyway. */
  expiryGuardMs: 500,
  /** Static credentials are re-read this long after Vault's announced rotation time. */
  staticRefreshDelayMs: 500,
  /** Bound of one revocation attempt (on close / revoke(), and each background attempt of a retired lease). */
  revokeTimeoutMs: 2000,
});

/**
 * Backoff between the background attempts to revoke a retired (rotated-out) lease: 1 s, ×2, ±20 %, at most 30 s —
 * and, while the lease is valid, never more than a third of the time it has left ({@link untilNextAttempt}). The
 * attempts stop when one succeeds, Vault says the lease is gone, or the lease ends by itself.
 */
export const REVOKE_RETRY: Readonly<BackoffOptions> = Object.freeze({
  initialMs: 1000,
  multiplier: 2,
  randomizationFactor: 0.2,
  maxIntervalMs: 30_000,
  maxElapsedMs: 0,
});

interface Held<T> {
  snap: LeaseSnapshot<T>;
  /** Accessor of the token that issued it (undefined: unknown / agent mode). */
  accessor: string | undefined;
  /** The renewal loop (none for static credentials and values that do not end). */
  watcher: LifetimeWatcher | undefined;
  /** Lifetime granted at issue, ms (renewal increment and rotation margin are derived from it). */
  initialMs: number;
  /** Vault no longer knows this lease: never revoke it. */
  lost: boolean;
}

interface Retirement<T> {
  held: Held<T>;
  timer: ReturnType<TimerSet['set']> | undefined;
  done: Promise<void>;
  finish: () => void;
}

const LOST_LEASE = /lease not found|invalid lease|lease expired|past the max TTL|lease is not renewable/i;

/** Vault answered that it no longer knows the lease, or will not renew it any more (a 400 with such an error). */
function isLostLease(err: VaultError): boolean {
  return err.code === VaultErrorCode.BAD_REQUEST && err.errors.some((e) => LOST_LEASE.test(e));
}

/** @internal The implementation behind {@link Lease}. Created by the LeaseManager. */
export class LeaseHandle<T> implements Lease<T> {
  readonly key: string;
  readonly path: string;
  readonly #vault: Vault;
  readonly #source: LeaseSource<T>;
  readonly #options: LeaseOptions;
  readonly #log: Logger;
  readonly #timers: TimerSet;
  readonly #abort = new AbortController();
  /** The state and every event: each transition goes through it. */
  readonly #publish: LeaseEventPublisher<T>;
  readonly #retirements = new Set<Retirement<T>>();
  /** Retired leases whose revocation failed and waits for its next attempt. */
  readonly #revokeRetries = new Map<Held<T>, ReturnType<TimerSet['set']>>();
  readonly #onEnd: (handle: LeaseHandle<T>) => void;
  #held: Held<T> | undefined;
  #flight: Promise<LeaseSnapshot<T>> | undefined;
  #timer: ReturnType<TimerSet['set']> | undefined;
  #lookupTimer: ReturnType<TimerSet['set']> | undefined;
  #expiryTimer: ReturnType<TimerSet['set']> | undefined;
  /** A re-issue under a new token, spread while the held lease is still valid ({@link tokenChanged}). */
  #tokenChangeTimer: ReturnType<TimerSet['set']> | undefined;
  #wake: (() => void) | undefined;
  /** Moves the end of the backoff wait {@link #wake} cuts short to `wait` ms from now. */
  #rearmPause: ((wait: number) => void) | undefined;
  /** When that wait ends by itself (clock ms). */
  #pauseUntil = Number.POSITIVE_INFINITY;
  /** What the issue attempt under way does first when Vault answers again (see {@link spreadWake}). */
  #wakeStep: WakeStep = 'replace';
  #failure: VaultError | undefined;
  readonly #readyWaiters: ReadyWaiters<LeaseSnapshot<T>>;
  #ended = false;
  #revoking: Promise<void> | undefined;

  constructor(
    vault: Vault,
    key: string,
    source: LeaseSource<T>,
    options: LeaseOptions,
    onEnd: (handle: LeaseHandle<T>) => void,
  ) {
    this.#vault = vault;
    this.key = key;
    this.path = source.path;
    this.#source = source;
    this.#options = options;
    this.#onEnd = onEnd;
    this.#log = vault.logger('lease');
    this.#timers = new TimerSet(vault.clock);
    this.#readyWaiters = new ReadyWaiters(this.#timers);
    this.#publish = new LeaseEventPublisher<T>(key, source.path, vault, this.#log);
  }

  // ── public API ────────────────────────────────────────────────────────────────────────────────────────────

  get state(): LeaseState {
    return this.#publish.state;
  }

  /** @internal The last error of a re-issue still under way (the current value stays in use meanwhile). */
  get reissueError(): VaultError | undefined {
    return this.#held && this.#flight ? this.#failure : undefined;
  }

  /** @internal When the held value ends (ms on the clock); `undefined` when nothing is held or it does not end. */
  end(): number | undefined {
    const expiresAt = this.#ended ? undefined : this.#held?.snap.expiresAt;
    return expiresAt !== undefined && Number.isFinite(expiresAt) ? expiresAt : undefined;
  }

  /** The accessor of the token that issued the held lease (internal: used by the manager). */
  get accessor(): string | undefined {
    return this.#held?.accessor;
  }

  ready(options: LeaseReadyOptions = {}): Promise<LeaseSnapshot<T>> {
    if (this.#held && !this.#ended) return Promise.resolve(this.#held.snap);
    if (this.#ended) return Promise.reject(this.#endedError());
    return this.#readyWaiters.wait(options, 30_000, (timeoutMs) => {
      const last = this.#failure ? ` (last error ${this.#failure.code}: ${this.#failure.message})` : '';
      return new VaultError(
        VaultErrorCode.TIMEOUT,
        `The lease for ${this.path} was not issued within ${timeoutMs} ms${last}`,
        { cause: this.#failure, path: this.path },
      );
    });
  }

  current(): LeaseSnapshot<T> {
    const snap = this.peek();
    if (snap) return snap;
    throw this.#ended
      ? this.#endedError()
      : new VaultError(
          VaultErrorCode.LEASE_EXPIRED,
          `The lease for ${this.path} has no value yet; await lease.ready() first`,
          { path: this.path, retryable: true },
        );
  }

  peek(): LeaseSnapshot<T> | undefined {
    return this.#ended ? undefined : this.#held?.snap;
  }

  on<K extends keyof LeaseEventMap<T>>(event: K, listener: LeaseListener<T, K>): () => void {
    return this.#publish.on(event, listener);
  }

  off<K extends keyof LeaseEventMap<T>>(event: K, listener: LeaseListener<T, K>): void {
    this.#publish.off(event, listener);
  }

  reissue(options: { reason?: string; ifGeneration?: number } = {}): Promise<LeaseSnapshot<T>> {
    if (this.#ended) return Promise.reject(this.#endedError());
    if (this.#flight) return this.#flight;
    const held = this.#held;
    if (!held) return this.ready();
    if (options.ifGeneration !== undefined && held.snap.generation !== options.ifGeneration) {
      return Promise.resolve(held.snap);
    }
    this.#log.info(
      { path: this.path, leaseId: held.snap.leaseId, reason: options.reason ?? 'requested' },
      're-issue requested',
    );
    return this.#startIssue('requested');
  }

  revoke(): Promise<void> {
    return this.close(true, LEASE_DEFAULTS.revokeTimeoutMs);
  }

  // ── internal API (manager) ───────────────────────────────────────────────────────────────────────────────

  /** @internal Starts the first issue. */
  start(): void {
    this.#startIssue('requested').catch(() => undefined);
  }

  /** @internal Cuts a backoff wait short (close, or a renewal waiting for its backoff). */
  wake(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
    if (!this.#ended && !this.#flight) this.#held?.watcher?.wake();
  }

  /**
   * @internal Vault answers again (the circuit closed). An issue attempt waiting for its backoff goes at once when
   * the handle holds no usable value. While the held value is still valid it goes after {@link spreadWake} of the
   * time that value has left (`renew` when the attempt renews first, else `replace`) — sooner or later than its
   * backoff: every client of a fleet sees Vault return within a probe interval of the others, and all their
   * re-issues (or renewals) then, or at their backoffs of a second or two, would be a burst of several times the
   * steady rate, while each of them still serves. A renewal waiting for its backoff is moved by the watcher's own
   * spread.
   */
  vaultRecovered(): void {
    if (this.#ended) return;
    if (!this.#rearmPause) {
      if (!this.#flight) this.#held?.watcher?.wake();
      return;
    }
    this.#repause(spreadWake(this.#valueLeft(), this.#vault.random, this.#wakeStep));
  }

  /**
   * @internal The token with `accessor` is being replaced. `dead` (it is already unusable: revoked, expired, or it
   * ended before the new login): its leases are gone too and are not revoked: re-issued at once — a re-issue already
   * under way stops waiting for its backoff or spread wait. Otherwise the held lease stays valid until its
   * own end or the old token's (`tokenEnd`, ms; Vault revokes a token's leases when it ends), whichever comes first,
   * so the re-issue under the new token waits {@link spreadWake} of that time (`replace`: within its first third, at
   * most 10 s): a fleet that logs in again together — every client at Vault's return after an outage — does not
   * re-issue every lease in the same instant, ahead of the clients whose leases have ended and who cannot serve until
   * theirs is issued. A re-issue already under way is moved to that spread wait when it would otherwise wait past the
   * old token's end.
   */
  tokenChanged(accessor: string, dead: boolean, tokenEnd: number): void {
    const held = this.#held;
    if (this.#ended || !held || held.accessor !== accessor || this.#source.kind === 'static') return;
    // Only Vault leases are children of the token (a PKI certificate without a lease outlives it).
    if (!held.snap.leaseId) return;
    const now = this.#vault.clock.now();
    if (dead) held.lost = true;
    const left = Math.min(this.#valueLeft(), tokenEnd - now);
    if (this.#flight) {
      // A re-issue is under way (its attempt waits for a backoff or a spread wait): it goes at once when the lease is
      // gone, and never waits past the old token's end.
      if (!this.#rearmPause) return;
      const wait = spreadWake(left, this.#vault.random, 'replace');
      if (now + wait < this.#pauseUntil) this.#repause(wait);
      return;
    }
    this.#timers.clear(this.#tokenChangeTimer);
    this.#tokenChangeTimer = undefined;
    const reissue = (): void => {
      this.#log.info(
        { path: this.path, leaseId: held.snap.leaseId, accessor },
        're-issuing the lease under the new token',
      );
      this.#startIssue('token-changed').catch(() => undefined);
    };
    const wait = held.lost ? 0 : spreadWake(left, this.#vault.random, 'replace');
    if (wait === 0) {
      reissue();
      return;
    }
    this.#tokenChangeTimer = this.#timers.set(() => {
      this.#tokenChangeTimer = undefined;
      // Re-issued meanwhile (for another reason, under the new token), or ended: nothing left to do.
      if (this.#ended || this.#flight || this.#held !== held) return;
      reissue();
    }, wait);
  }

  /** @internal Ends the handle; revokes held leases when `revoke` (bounded by `timeoutMs` each). */
  close(revoke: boolean, timeoutMs: number): Promise<void> {
    if (this.#revoking) return this.#revoking;
    this.#revoking = (async () => {
      this.#ended = true;
      this.#publish.closed();
      this.#timers.clearAll();
      this.#abort.abort(new VaultError(VaultErrorCode.CLOSED, `The lease for ${this.path} was revoked`));
      this.wake();
      this.#readyWaiters.rejectAll(this.#endedError());
      await this.#flight?.catch(() => undefined);
      const pending: Array<Promise<unknown>> = [];
      for (const r of [...this.#retirements]) {
        this.#retirements.delete(r);
        r.finish();
        if (revoke) pending.push(this.#revokeHeld(r.held, 'rotated', timeoutMs));
      }
      // Retired leases waiting for another revocation attempt: no more retries; `revoke()` makes one last attempt.
      for (const [held, timer] of [...this.#revokeRetries]) {
        this.#timers.clear(timer);
        this.#revokeRetries.delete(held);
        if (revoke) pending.push(this.#revokeHeld(held, 'rotated', timeoutMs));
      }
      const held = this.#held;
      if (held && revoke) pending.push(this.#revokeHeld(held, 'closed', timeoutMs));
      await Promise.all(pending);
      this.#onEnd(this);
    })();
    return this.#revoking;
  }

  // ── issuing ──────────────────────────────────────────────────────────────────────────────────────────────

  #startIssue(reason: RotateReason): Promise<LeaseSnapshot<T>> {
    if (this.#flight) return this.#flight;
    this.#clearTimer();
    this.#held?.watcher?.stop();
    const flight = this.#issueLoop(reason).finally(() => {
      if (this.#flight === flight) this.#flight = undefined;
    });
    this.#flight = flight;
    return flight;
  }

  async #issueLoop(reason: RotateReason): Promise<LeaseSnapshot<T>> {
    const clock = this.#vault.clock;
    const backoff = new ExponentialBackoff(
      {
        initialMs: this.#options.retry?.initialMs ?? LEASE_DEFAULTS.retryInitialMs,
        maxIntervalMs: this.#options.retry?.maxMs ?? LEASE_DEFAULTS.retryMaxMs,
        multiplier: 2,
        randomizationFactor: 0.5,
        maxElapsedMs: 0,
      },
      clock.now(),
      this.#vault.random,
    );
    const previous = this.#held;
    if (previous) this.#watchExpiry(previous);
    for (;;) {
      this.#assertLive();
      this.#wakeStep = reason === 'renew-failed' ? 'renew' : 'replace';
      // Vault seen as down (circuit open): ask for a probe first, so that a Vault that is back is used now rather
      // than at the next scheduled probe (shared and rate-limited by the circuit).
      if (await this.#vault.probeIfOpen()) {
        // This probe saw Vault return: while the held value still serves, re-issue after a spread wait (as when the
        // circuit closes during a backoff), not at the instant the whole fleet sees Vault back.
        this.#assertLive();
        const wait = spreadWake(this.#valueLeft(), this.#vault.random, this.#wakeStep);
        if (wait > 0) await this.#pause(wait);
      }
      this.#assertLive();
      // Renewals failed only because Vault could not be reached: a lease that is still valid is renewed now that
      // Vault answers, not replaced — its value (and every connection opened with it) stays in use.
      if (reason === 'renew-failed') {
        const renewed = await this.#renewInstead();
        this.#assertLive();
        if (renewed) return renewed;
        // Vault answered that the lease is gone (revoked meanwhile, or with its token): that is the rotation's cause.
        if (this.#held?.lost) reason = 'lease-lost';
      }
      try {
        const before = this.#tokenAccessor();
        const requestedAt = clock.now();
        const issued = await this.#source.issue(this.#abort.signal);
        this.#assertLive();
        const after = this.#tokenAccessor();
        // A login during the request: the request may have used either token; assume the older one (a spurious
        // handover is cheap, a missed one is an outage). No token before: the request triggered the first login.
        return this.#install(issued, before ?? after, reason, requestedAt);
      } catch (error) {
        if (this.#ended) throw this.#endedError();
        const err = asVaultError(error, this.path);
        this.#failure = err;
        const permanent = !err.retryable && !VaultError.is(err, VaultErrorCode.INVALID_TOKEN);
        if (permanent && !this.#held) {
          this.#fail(err);
          throw err;
        }
        const end = this.end();
        const wait = untilNextAttempt(
          backoff.next(clock.now()) ?? LEASE_DEFAULTS.retryMaxMs,
          end === undefined ? undefined : end - clock.now(),
        );
        this.#publish.issueFailed(err, wait);
        await this.#pause(wait);
      }
    }
  }

  /**
   * Holds a newly issued value. `requestedAt`: when its request was sent. Its TTL counts from there, not from the
   * answer's arrival: Vault started it no earlier, so a slow answer (a loaded link or machine) shortens the time the
   * lease believes it has instead of letting it outlive Vault's end — which would eat the rotation margin.
   */
  #install(
    issued: IssuedSecret<T>,
    accessor: string | undefined,
    reason: RotateReason,
    requestedAt: number,
  ): LeaseSnapshot<T> {
    const now = this.#vault.clock.now();
    const from = lifetimeStart(requestedAt, now);
    const prev = this.#held;
    this.#timers.clear(this.#expiryTimer);
    this.#expiryTimer = undefined;
    this.#failure = undefined;
    // A dynamic secret without a TTL (lease_duration 0) does not expire: hold it, renew nothing.
    const endless =
      this.#source.kind !== 'static' && issued.expiresAt === undefined && issued.leaseDurationMs <= 0;
    const expiresAt = endless
      ? Number.POSITIVE_INFINITY
      : (issued.expiresAt ?? from + issued.leaseDurationMs);

    // Static credentials: the same secret re-read is not a rotation.
    if (prev && this.#source.kind === 'static' && this.#source.same?.(prev.snap.value, issued.value)) {
      prev.snap = { ...prev.snap, expiresAt };
      this.#publish.unchanged(prev.snap);
      this.#scheduleAfterIssue(prev, issued, from);
      return prev.snap;
    }

    const snap: LeaseSnapshot<T> = Object.freeze({
      value: issued.value,
      leaseId: issued.leaseId,
      issuedAt: now,
      expiresAt,
      renewable: issued.renewable,
      generation: (prev?.snap.generation ?? 0) + 1,
    });
    const held: Held<T> = { snap, accessor, watcher: undefined, lost: false, initialMs: expiresAt - now };
    this.#held = held;
    const ttl = endless ? 0 : Math.round((expiresAt - now) / 1000);
    if (prev) {
      const rotateReason =
        reason === 'requested' || reason === 'token-changed' ? reason : prevReason(prev, now, reason);
      prev.watcher?.stop();
      const drainBy = drainDeadline(
        prev.snap.expiresAt - LEASE_DEFAULTS.expiryGuardMs,
        this.#options.drainTimeoutMs,
        now,
      );
      this.#retire(prev, this.#publish.rotated(prev.snap, snap, rotateReason, ttl, drainBy), drainBy);
    } else {
      this.#publish.issued(snap, ttl);
    }
    // A listener may have revoked the handle: then nothing more is scheduled.
    if (this.#ended) return snap;
    this.#scheduleAfterIssue(held, issued, from);
    this.#readyWaiters.resolveAll(snap);
    // Issued while a re-login happened: the token that issued it is already being replaced.
    const nowAccessor = this.#tokenAccessor();
    if (accessor !== undefined && nowAccessor !== undefined && nowAccessor !== accessor) {
      // The end of the token that issued it is not known here: re-issued at once, as before the spread. On a timer,
      // not a microtask: the issue under way (this one) must have ended, or tokenChanged() would leave it to that.
      this.#timers.set(() => this.tokenChanged(accessor, false, this.#vault.clock.now()), 0);
    }
    return snap;
  }

  /**
   * One renewal of the held lease in place of a re-issue, when its renewals ended because Vault was unreachable or
   * sealed (reason `renew-failed`): the held snapshot, extended, when Vault renewed it past the rotation margin — its
   * renewal schedule starts again and nothing rotates. `undefined` — re-issue instead — when there is no such lease
   * (ended, lost, not renewable, static or a certificate), when it belongs to a token that is no longer the current
   * one (its leases end with that token), when the renewal fails (`lease not found`: it is lost; anything else: the
   * issue that follows reports it), or when Vault capped it short of the margin.
   */
  async #renewInstead(): Promise<LeaseSnapshot<T> | undefined> {
    const held = this.#held;
    if (!held || held.lost || this.#source.kind !== 'dynamic' || !held.snap.leaseId) return undefined;
    if (!held.snap.renewable || this.#valueLeft() <= 0) return undefined;
    if (held.accessor !== undefined && held.accessor !== this.#tokenAccessor()) return undefined;
    const clock = this.#vault.clock;
    const requestedAt = clock.now();
    let outcome: RenewOutcome;
    try {
      outcome = await this.#sendRenewal(held, false);
    } catch (error) {
      if (isLostLease(asVaultError(error, 'sys/leases/renew'))) this.#lost(held);
      return undefined;
    }
    if (outcome.capped || this.#ended || this.#held !== held) return undefined;
    const from = lifetimeStart(requestedAt, clock.now());
    if (from + outcome.ttlMs - this.#margin(held) <= clock.now()) return undefined;
    this.#timers.clear(this.#expiryTimer);
    this.#expiryTimer = undefined;
    this.#failure = undefined;
    this.#renewedTo(held, outcome, from);
    this.#log.info(
      { path: this.path, leaseId: held.snap.leaseId, ttl: outcome.ttlMs / 1000 },
      'Vault answers again: renewed the lease instead of re-issuing it',
    );
    const { value, leaseId } = held.snap;
    this.#scheduleAfterIssue(
      held,
      { value, leaseId, leaseDurationMs: outcome.ttlMs, renewable: outcome.renewable },
      from,
    );
    return held.snap;
  }

  #fail(err: VaultError): void {
    this.#publish.failed(err);
    this.#readyWaiters.rejectAll(err);
    this.close(false, 0).catch(() => undefined);
  }

  // ── schedule ─────────────────────────────────────────────────────────────────────────────────────────────

  #scheduleAfterIssue(held: Held<T>, issued: IssuedSecret<T>, requestedAt: number): void {
    const now = this.#vault.clock.now();
    this.#scheduleLookup();
    if (held.snap.expiresAt === Number.POSITIVE_INFINITY) return;
    if (this.#source.kind === 'static') {
      const at = held.snap.expiresAt + LEASE_DEFAULTS.staticRefreshDelayMs;
      this.#setTimer(
        () => this.#startIssue('static-rotated').catch(() => undefined),
        Math.max(1000, at - now),
      );
      return;
    }
    const schedule = new LifetimeSchedule({
      leaseDurationMs: issued.leaseDurationMs,
      incrementMs: this.#incrementSeconds(issued) * 1000,
      // A lease Vault will not renew (or a certificate without a lease) is only watched until its end.
      renewable: issued.renewable && issued.leaseId !== '',
      now,
      // The lease's TTL counts from its request (see #install); a PKI certificate's end is its own expiration.
      requestedAt: issued.expiresAt === undefined ? requestedAt : now,
      random: this.#vault.random,
      backoff: {
        initialMs: this.#options.retry?.initialMs ?? LEASE_DEFAULTS.retryInitialMs,
        maxIntervalMs: this.#options.retry?.maxMs ?? LEASE_DEFAULTS.retryMaxMs,
      },
    });
    held.watcher = new LifetimeWatcher(schedule, this.#lifetimeClient(held), {
      timers: this.#timers,
      now: () => this.#vault.clock.now(),
      random: this.#vault.random,
    });
    held.watcher.start();
  }

  /**
   * The lease's side of its renewal loop: `sys/leases/renew`, its events, and the rotation-margin rule — the value
   * is re-issued `rotationMarginMs` before it ends (the new one exists while the old one is valid), and no renewal is
   * scheduled past that instant (Vault's max TTL is unknown until a renewal comes back capped, and one that does
   * inside the margin would leave no time to re-issue).
   */
  #lifetimeClient(held: Held<T>): LifetimeClient {
    return {
      live: () => !this.#ended && this.#held === held && !this.#flight,
      endAt: () => held.snap.expiresAt - this.#margin(held),
      renew: () => this.#sendRenewal(held),
      renewed: (outcome, from) => this.#renewedTo(held, outcome, from),
      failed: (error) => {
        const err = asVaultError(error, 'sys/leases/renew');
        if (isLostLease(err)) {
          const maxTtl = err.errors.some((e) => /past the max TTL|not renewable/i.test(e));
          if (maxTtl) {
            this.#log.warn(
              { path: this.path, leaseId: held.snap.leaseId, err: err.message },
              'lease cannot be renewed any more: re-issuing',
            );
          } else {
            this.#lost(held);
          }
          this.#startIssue(maxTtl ? 'max-ttl' : 'lease-lost').catch(() => undefined);
          return 'handled';
        }
        return err.code === VaultErrorCode.PERMISSION_DENIED ? 'cannot-renew' : 'retry';
      },
      renewFailed: (error, _failure, retryInMs) => {
        this.#publish.renewFailed(held.snap, asVaultError(error, 'sys/leases/renew'), retryInMs);
      },
      ending: (reason) => this.#expiring(held, reason),
    };
  }

  /**
   * One `sys/leases/renew` of `held` asking for its initial lifetime again: what Vault granted, validated (`capped`:
   * Vault's capped-TTL warning, or less than was asked). `retry: false` sends it once, without the transport's retries.
   */
  async #sendRenewal(held: Held<T>, retry?: false): Promise<RenewOutcome> {
    const increment = this.#incrementSeconds({ leaseDurationMs: held.initialMs });
    const res = await this.#vault.request('PUT', 'sys/leases/renew', {
      body: { lease_id: held.snap.leaseId, increment },
      ...(retry === false ? { retry } : {}),
      signal: this.#abort.signal,
      template: 'sys/leases/renew',
    });
    const env = parseResponse(leaseRenewal, res.body, {
      method: 'PUT',
      path: 'sys/leases/renew',
      status: res.status,
    });
    const ttlS = env.lease_duration;
    const capped = hasCappedWarning(env.warnings) || (increment > 0 && ttlS < increment);
    return { ttlMs: ttlS * 1000, capped, renewable: env.renewable };
  }

  /** `held` was renewed by a request sent at `from`: its new end and renewability, and the `renewed` events. */
  #renewedTo(held: Held<T>, { ttlMs, capped, renewable }: RenewOutcome, from: number): void {
    held.snap = Object.freeze({ ...held.snap, expiresAt: from + ttlMs, renewable });
    this.#publish.renewed(held.snap, ttlMs, capped);
  }

  #expiring(held: Held<T>, reason: RotateReason): void {
    if (this.#ended || this.#held !== held) return;
    const remainingMs = Math.max(0, held.snap.expiresAt - this.#vault.clock.now());
    this.#publish.expiring(held.snap, remainingMs, reason);
    this.#startIssue(reason).catch(() => undefined);
  }

  #lost(held: Held<T>): void {
    if (held.lost) return;
    held.lost = true;
    this.#publish.lost(held.snap);
  }

  /** While re-issuing: the held value is marked `expired` when its end passes. */
  #watchExpiry(held: Held<T>): void {
    if (this.#expiryTimer || !Number.isFinite(held.snap.expiresAt)) return;
    const ms = held.snap.expiresAt - this.#vault.clock.now();
    const fire = (): void => {
      this.#expiryTimer = undefined;
      if (this.#ended || this.#held !== held || !this.#flight) return;
      this.#publish.expired(held.snap);
    };
    this.#expiryTimer = this.#timers.set(fire, Math.max(0, ms));
  }

  #scheduleLookup(): void {
    const interval = this.#options.lookupIntervalMs ?? 0;
    if (interval <= 0 || this.#source.kind === 'static') return;
    this.#timers.clear(this.#lookupTimer);
    this.#lookupTimer = this.#timers.set(() => {
      this.#lookupTimer = undefined;
      this.#lookup().finally(() => {
        if (!this.#ended && !this.#lookupTimer) this.#scheduleLookup();
      });
    }, interval);
  }

  async #lookup(): Promise<void> {
    const held = this.#held;
    if (this.#ended || !held || !held.snap.leaseId || this.#flight) return;
    try {
      await this.#vault.request('PUT', 'sys/leases/lookup', {
        body: { lease_id: held.snap.leaseId },
        signal: this.#abort.signal,
        template: 'sys/leases/lookup',
      });
    } catch (error) {
      if (this.#ended || this.#held !== held) return;
      const err = asVaultError(error, 'sys/leases/lookup');
      if (isLostLease(err)) {
        this.#lost(held);
        this.#startIssue('lease-lost').catch(() => undefined);
        return;
      }
      this.#publish.lookupFailed(err, this.#options.lookupIntervalMs);
    }
  }

  // ── rotation: drain, then revoke the previous lease ──────────────────────────────────────────────────────

  /**
   * The previous value is revoked once `waits` (the `rotated` listeners that have not drained) settle, or at
   * `drainBy` (`drainTimeoutMs` after the rotation, or just before it expires — whichever comes first).
   */
  #retire(prev: Held<T>, waits: Array<Promise<unknown>>, drainBy: number): void {
    let finish: () => void = () => {};
    const done = new Promise<void>((resolve) => {
      finish = resolve;
    });
    const retirement: Retirement<T> = { held: prev, timer: undefined, done, finish };
    this.#retirements.add(retirement);
    const timeout = Math.max(0, drainBy - this.#vault.clock.now());
    // (A previous value without TTL and no drain timeout waits for its listeners only.)
    if (waits.length > 0 && Number.isFinite(timeout)) retirement.timer = this.#timers.set(finish, timeout);
    else if (waits.length === 0) finish();
    Promise.race([Promise.all(waits), done]).then(() => {
      this.#timers.clear(retirement.timer);
      if (!this.#retirements.delete(retirement)) return; // closed meanwhile: close() revokes it
      void this.#revokeRetired(prev);
    });
  }

  /**
   * Revokes a retired lease in the background: a transient failure (Vault unreachable, sealed, rate-limited, timed
   * out) is retried on {@link REVOKE_RETRY} until an attempt succeeds, Vault answers that the lease is gone or may not
   * be revoked (not retryable), or the next attempt would come after the lease's end (it ends by itself).
   */
  async #revokeRetired(
    held: Held<T>,
    backoff = new ExponentialBackoff(REVOKE_RETRY, this.#vault.clock.now(), this.#vault.random),
  ): Promise<void> {
    const failed = await this.#revokeHeld(held, 'rotated', LEASE_DEFAULTS.revokeTimeoutMs, (error, now) => {
      if (!error.retryable || this.#ended || this.#vault.closed) return undefined;
      const left = held.snap.expiresAt - now;
      const wait = untilNextAttempt(backoff.next(now) ?? REVOKE_RETRY.maxIntervalMs, left);
      return wait < left ? wait : undefined;
    });
    if (!failed || this.#ended) return;
    const timer = this.#timers.set(() => {
      this.#revokeRetries.delete(held);
      void this.#revokeRetired(held, backoff);
    }, failed.retryInMs);
    this.#revokeRetries.set(held, timer);
  }

  /**
   * One revocation attempt. Resolves (never rejects) with `undefined` when done or skipped, or with the wait before
   * the next attempt that `retryIn` chose for the failure (then the failure was reported with that wait).
   */
  async #revokeHeld(
    held: Held<T>,
    reason: 'rotated' | 'closed',
    timeoutMs: number,
    retryIn?: (error: VaultError, now: number) => number | undefined,
  ): Promise<{ retryInMs: number } | undefined> {
    const leaseId = held.snap.leaseId;
    if (!leaseId || held.lost || this.#source.kind === 'static') return undefined;
    if (reason === 'closed' && this.#options.revokeOnClose === false) return undefined;
    if (this.#vault.closed && reason !== 'closed') return undefined;
    try {
      await this.#vault.request('PUT', 'sys/leases/revoke', {
        body: { lease_id: leaseId },
        retry: false,
        timeoutMs: Math.max(1, timeoutMs),
        template: 'sys/leases/revoke',
      });
      held.lost = true;
      this.#publish.revoked(leaseId, held.snap.generation, reason);
      return undefined;
    } catch (error) {
      const err = asVaultError(error, 'sys/leases/revoke');
      const retryInMs = retryIn?.(err, this.#vault.clock.now());
      this.#publish.revokeFailed(leaseId, err, retryInMs);
      return retryInMs === undefined ? undefined : { retryInMs };
    }
  }

  // ── helpers ──────────────────────────────────────────────────────────────────────────────────────────────

  #margin(held: Held<T>): number {
    const initial = Math.max(0, held.initialMs);
    const wanted =
      this.#options.rotationMarginMs ??
      Math.max(LEASE_DEFAULTS.rotationMarginRatio * initial, LEASE_DEFAULTS.minRotationMarginMs);
    return Math.min(wanted, initial / 2);
  }

  #incrementSeconds(issued: { leaseDurationMs: number }): number {
    return this.#options.incrementSeconds ?? Math.max(0, Math.round(issued.leaseDurationMs / 1000));
  }

  #tokenAccessor(): string | undefined {
    return this.#vault.health().token?.accessor;
  }

  #setTimer(fn: () => void, ms: number): void {
    this.#clearTimer();
    this.#timer = this.#timers.set(() => {
      this.#timer = undefined;
      fn();
    }, ms);
  }

  #clearTimer(): void {
    this.#timers.clear(this.#timer);
    this.#timer = undefined;
  }

  /** How long the held value still serves (ms; 0 or less when there is none, it ended or its token is gone). */
  #valueLeft(): number {
    const held = this.#held;
    return held && !held.lost ? held.snap.expiresAt - this.#vault.clock.now() : 0;
  }

  /** Moves the end of the backoff wait under way to `wait` ms from now: at once (`0`) ends it. */
  #repause(wait: number): void {
    if (wait === 0) this.wake();
    else this.#rearmPause?.(wait);
  }

  /** Waits `ms` on the clock; {@link wake} or close cut it short, {@link vaultRecovered} moves its end. */
  #pause(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      let timer: ReturnType<TimerSet['set']>;
      const done = (): void => {
        this.#timers.clear(timer);
        this.#wake = undefined;
        this.#rearmPause = undefined;
        resolve();
      };
      const arm = (wait: number): void => {
        this.#timers.clear(timer);
        this.#pauseUntil = this.#vault.clock.now() + wait;
        timer = this.#timers.set(done, wait);
      };
      arm(ms);
      this.#wake = done;
      this.#rearmPause = arm;
    });
  }

  #assertLive(): void {
    if (this.#ended) throw this.#endedError();
  }

  #endedError(): VaultError {
    if (this.#publish.state === 'failed' && this.#failure) return this.#failure;
    return new VaultError(VaultErrorCode.LEASE_EXPIRED, `The lease for ${this.path} was revoked`, {
      path: this.path,
    });
  }
}

function prevReason(prev: Held<unknown>, now: number, reason: RotateReason): RotateReason {
  return prev.snap.expiresAt <= now && reason !== 'lease-lost' ? 'expired' : reason;
}

/** Normalises anything thrown into a {@link VaultError} (non-Vault errors become `VAULT_UNAVAILABLE`, retryable). */
export function asVaultError(error: unknown, path: string): VaultError {
  if (VaultError.is(error)) return error;
  return new VaultError(VaultErrorCode.UNAVAILABLE, `${path}: ${describe(error)}`, {
    cause: error,
    path,
    retryable: true,
  });
}
