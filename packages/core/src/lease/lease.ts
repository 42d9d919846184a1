/**
 * The lease state machine: one handle, one readable file (in the spirit of Vault's `api/lifetime_watcher.go`).
 *
 * A handle holds one Vault lease at a time and moves through
 * `issuing → issued → renewed* → expiring → (re-issue: issued, generation + 1) | expired | revoked`.
 *
 * - **Renew** on the {@link LifetimeSchedule} (⅔ of the remaining time + ⅓ of a 10–20 % grace), with
 *   `sys/leases/renew`.
 * - **Capped** (Vault's max-TTL warning or a TTL below the increment asked), **not renewable**, or **renewals
 *   failing**: re-issue `rotationMarginMs` before the end, so the new value exists while the old one is valid.
 * - **Rotate**: `rotate { previous, current, drained }` goes to every listener; the previous lease is revoked when
 *   all listeners drained, after `drainTimeoutMs`, or just before it expires — whichever comes first.
 * - **Errors**: back off (jittered, capped) and keep the current value; wake up at once when the circuit closes
 *   (Vault is back). A lease Vault no longer knows (`lease not found`, revoked out of band) is re-issued at once.
 * - **Token change**: a lease remembers the accessor of the token that issued it; the manager calls
 *   {@link LeaseHandle.tokenChanged} after a re-login and the lease is re-issued under the new token.
 *
 * All waiting goes through the client's clock ({@link TimerSet}), so unit tests drive it with a manual clock.
 */
import { TimerSet } from '../clock.js';
import { VaultError, VaultErrorCode } from '../errors.js';
import { ExponentialBackoff, hasCappedWarning, LifetimeSchedule, type LifetimeStep } from '../lifetime.js';
import type { Logger } from '../logger.js';
import { leaseRenewal, parseOptions, parseResponse } from '../validation.js';
import type { Vault } from '../vault.js';
import { leaseReadyOptionsSchema } from './options.js';
import type {
  Lease,
  LeaseEventMap,
  LeaseListener,
  LeaseOptions,
  LeaseReadyOptions,
  LeaseRotateEvent,
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
  /** Issue attempts before a held value ends are never closer together than this (ms). */
  lastAttemptsFloorMs: 500,
  /** Bound of one revocation on close / revoke(). */
  revokeTimeoutMs: 2000,
});

interface Held<T> {
  snap: LeaseSnapshot<T>;
  /** Accessor of the token that issued it (undefined: unknown / agent mode). */
  accessor: string | undefined;
  schedule: LifetimeSchedule | undefined;
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

type AnyListener = (payload: never) => unknown;

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
  readonly #listeners = new Map<keyof LeaseEventMap<T>, Set<AnyListener>>();
  readonly #retirements = new Set<Retirement<T>>();
  readonly #onEnd: (handle: LeaseHandle<T>) => void;
  #state: LeaseState = 'issuing';
  #held: Held<T> | undefined;
  #flight: Promise<LeaseSnapshot<T>> | undefined;
  #timer: ReturnType<TimerSet['set']> | undefined;
  #lookupTimer: ReturnType<TimerSet['set']> | undefined;
  #expiryTimer: ReturnType<TimerSet['set']> | undefined;
  #wake: (() => void) | undefined;
  /** Set while a failed renewal waits for its backoff: {@link wake} renews at once. */
  #renewRetry: Held<T> | undefined;
  #failure: VaultError | undefined;
  #readyWaiters: Array<{ resolve: (s: LeaseSnapshot<T>) => void; reject: (e: unknown) => void }> = [];
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
  }

  // ── public API ────────────────────────────────────────────────────────────────────────────────────────────

  get state(): LeaseState {
    return this.#state;
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
    let timeoutMs: number;
    try {
      timeoutMs = parseOptions(leaseReadyOptionsSchema, options, 'lease.ready').timeoutMs ?? 30_000;
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise<LeaseSnapshot<T>>((resolve, reject) => {
      const waiter = {
        resolve: (s: LeaseSnapshot<T>) => {
          cleanup();
          resolve(s);
        },
        reject: (e: unknown) => {
          cleanup();
          reject(e);
        },
      };
      const timer = this.#timers.set(() => {
        const last = this.#failure ? ` (last error ${this.#failure.code}: ${this.#failure.message})` : '';
        waiter.reject(
          new VaultError(
            VaultErrorCode.TIMEOUT,
            `The lease for ${this.path} was not issued within ${timeoutMs} ms${last}`,
            { cause: this.#failure, path: this.path },
          ),
        );
      }, timeoutMs);
      const onAbort = (): void => waiter.reject(options.signal?.reason);
      const cleanup = (): void => {
        this.#timers.clear(timer);
        options.signal?.removeEventListener('abort', onAbort);
        this.#readyWaiters = this.#readyWaiters.filter((w) => w !== waiter);
      };
      if (options.signal?.aborted) {
        onAbort();
        return;
      }
      options.signal?.addEventListener('abort', onAbort, { once: true });
      this.#readyWaiters.push(waiter);
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
    let set = this.#listeners.get(event);
    if (!set) {
      set = new Set();
      this.#listeners.set(event, set);
    }
    set.add(listener as AnyListener);
    return () => this.off(event, listener);
  }

  off<K extends keyof LeaseEventMap<T>>(event: K, listener: LeaseListener<T, K>): void {
    this.#listeners.get(event)?.delete(listener as AnyListener);
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

  /** @internal Vault is reachable again: cut any backoff wait short. */
  wake(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
    const held = this.#renewRetry;
    this.#renewRetry = undefined;
    if (held && held === this.#held && !this.#ended && !this.#flight) {
      this.#clearTimer();
      this.#renew(held).catch(() => undefined);
    }
  }

  /**
   * @internal The token with `accessor` is being replaced. `dead`: it is already unusable (revoked / expired), so
   * its leases are gone too and are not revoked.
   */
  tokenChanged(accessor: string, dead: boolean): void {
    const held = this.#held;
    if (this.#ended || !held || held.accessor !== accessor || this.#source.kind === 'static') return;
    // Only Vault leases are children of the token (a PKI certificate without a lease outlives it).
    if (!held.snap.leaseId) return;
    if (dead) held.lost = true;
    if (this.#flight) return;
    this.#log.info(
      { path: this.path, leaseId: held.snap.leaseId, accessor },
      're-issuing the lease under the new token',
    );
    this.#startIssue('token-changed').catch(() => undefined);
  }

  /** @internal Ends the handle; revokes held leases when `revoke` (bounded by `timeoutMs` each). */
  close(revoke: boolean, timeoutMs: number): Promise<void> {
    if (this.#revoking) return this.#revoking;
    this.#revoking = (async () => {
      const wasFailed = this.#state === 'failed';
      this.#ended = true;
      this.#state = wasFailed ? 'failed' : 'revoked';
      this.#timers.clearAll();
      this.#abort.abort(new VaultError(VaultErrorCode.CLOSED, `The lease for ${this.path} was revoked`));
      this.wake();
      for (const w of [...this.#readyWaiters]) w.reject(this.#endedError());
      await this.#flight?.catch(() => undefined);
      const pending: Array<Promise<void>> = [];
      for (const r of [...this.#retirements]) {
        this.#retirements.delete(r);
        r.finish();
        if (revoke) pending.push(this.#revokeHeld(r.held, 'rotated', timeoutMs));
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
      // Vault seen as down (circuit open): ask for a probe first, so that a Vault that is back is used now rather
      // than at the next scheduled probe (shared and rate-limited by the circuit).
      await this.#vault.probeIfOpen();
      this.#assertLive();
      try {
        const before = this.#tokenAccessor();
        const issued = await this.#source.issue(this.#abort.signal);
        this.#assertLive();
        const after = this.#tokenAccessor();
        // A login during the request: the request may have used either token; assume the older one (a spurious
        // handover is cheap, a missed one is an outage). No token before: the request triggered the first login.
        return this.#install(issued, before ?? after, reason);
      } catch (error) {
        if (this.#ended) throw this.#endedError();
        const err = asVaultError(error, this.path);
        this.#failure = err;
        const permanent = !err.retryable && !VaultError.is(err, VaultErrorCode.INVALID_TOKEN);
        if (permanent && !this.#held) {
          this.#fail(err);
          throw err;
        }
        const wait = this.#untilNextAttempt(backoff.next(clock.now()) ?? LEASE_DEFAULTS.retryMaxMs);
        this.#log.warn(
          { path: this.path, code: err.code, retryInMs: wait, err: err.message },
          'issuing the lease failed; retrying',
        );
        this.#emit('error', { error: err, operation: 'issue', retryInMs: wait });
        this.#vault.emit('lease:issue-failed', {
          key: this.key,
          path: this.path,
          code: err.code,
          retryInMs: wait,
        });
        await this.#pause(wait);
      }
    }
  }

  #install(issued: IssuedSecret<T>, accessor: string | undefined, reason: RotateReason): LeaseSnapshot<T> {
    const now = this.#vault.clock.now();
    const prev = this.#held;
    this.#timers.clear(this.#expiryTimer);
    this.#expiryTimer = undefined;
    this.#failure = undefined;
    // A dynamic secret without a TTL (lease_duration 0) does not expire: hold it, renew nothing.
    const endless =
      this.#source.kind !== 'static' && issued.expiresAt === undefined && issued.leaseDurationMs <= 0;
    const expiresAt = endless ? Number.POSITIVE_INFINITY : (issued.expiresAt ?? now + issued.leaseDurationMs);

    // Static credentials: the same secret re-read is not a rotation.
    if (prev && this.#source.kind === 'static' && this.#source.same?.(prev.snap.value, issued.value)) {
      prev.snap = { ...prev.snap, expiresAt };
      this.#state = 'renewed';
      this.#scheduleAfterIssue(prev, issued);
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
    const held: Held<T> = { snap, accessor, schedule: undefined, lost: false, initialMs: expiresAt - now };
    this.#held = held;
    this.#state = 'issued';
    const ttl = endless ? 0 : Math.round((expiresAt - now) / 1000);
    this.#log.info(
      { path: this.path, leaseId: snap.leaseId, generation: snap.generation, ttl, renewable: snap.renewable },
      prev ? 'lease re-issued' : 'lease issued',
    );
    this.#vault.emit('lease:issued', {
      key: this.key,
      path: this.path,
      leaseId: snap.leaseId,
      generation: snap.generation,
      ttl,
      renewable: snap.renewable,
    });
    this.#scheduleAfterIssue(held, issued);
    if (prev) {
      const rotateReason =
        reason === 'requested' || reason === 'token-changed' ? reason : prevReason(prev, now, reason);
      this.#vault.emit('lease:rotated', {
        key: this.key,
        path: this.path,
        previousLeaseId: prev.snap.leaseId,
        leaseId: snap.leaseId,
        generation: snap.generation,
        reason: rotateReason,
      });
      this.#retire(prev, snap, rotateReason);
    } else {
      this.#emit('issue', { current: snap });
    }
    for (const w of [...this.#readyWaiters]) w.resolve(snap);
    // Issued while a re-login happened: the token that issued it is already being replaced.
    const nowAccessor = this.#tokenAccessor();
    if (accessor !== undefined && nowAccessor !== undefined && nowAccessor !== accessor) {
      queueMicrotask(() => this.tokenChanged(accessor, false));
    }
    return snap;
  }

  #fail(err: VaultError): void {
    this.#state = 'failed';
    this.#log.error(
      { path: this.path, code: err.code, err: err.message },
      'issuing the lease failed permanently',
    );
    this.#emit('error', { error: err, operation: 'issue', retryInMs: undefined });
    this.#vault.emit('lease:issue-failed', {
      key: this.key,
      path: this.path,
      code: err.code,
      retryInMs: undefined,
    });
    for (const w of [...this.#readyWaiters]) w.reject(err);
    this.close(false, 0).catch(() => undefined);
  }

  // ── schedule ─────────────────────────────────────────────────────────────────────────────────────────────

  #scheduleAfterIssue(held: Held<T>, issued: IssuedSecret<T>): void {
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
    if (!issued.renewable || !issued.leaseId) {
      this.#rotateBeforeEnd(held, 'not-renewable');
      return;
    }
    const increment = this.#incrementSeconds(issued);
    held.schedule = new LifetimeSchedule({
      leaseDurationMs: issued.leaseDurationMs,
      incrementMs: increment * 1000,
      renewable: true,
      now,
      random: this.#vault.random,
      backoff: {
        initialMs: this.#options.retry?.initialMs ?? LEASE_DEFAULTS.retryInitialMs,
        maxIntervalMs: this.#options.retry?.maxMs ?? LEASE_DEFAULTS.retryMaxMs,
      },
    });
    this.#follow(held, held.schedule.start());
  }

  #follow(held: Held<T>, step: LifetimeStep): void {
    if (step.type === 'renew') {
      // Vault's max TTL is unknown until a renewal is capped: renew on schedule, and rotate once one is. Never
      // let a renewal land inside the rotation margin, though: a renewal that comes back capped there leaves no time
      // to re-issue (short TTLs: ⅔ of the TTL can be past the margin).
      const latest = held.snap.expiresAt - this.#margin(held) - this.#vault.clock.now();
      const delayMs = Number.isFinite(latest) ? Math.max(0, Math.min(step.delayMs, latest)) : step.delayMs;
      this.#setTimer(() => this.#renew(held), delayMs);
    } else if (step.type === 'check') {
      this.#rotateBeforeEnd(held, 'not-renewable');
    } else {
      this.#rotateBeforeEnd(held, step.reason === 'renew-failed' ? 'renew-failed' : step.reason);
    }
  }

  /** Re-issue `rotationMarginMs` before the held value ends (now, when already inside the margin). */
  #rotateBeforeEnd(held: Held<T>, reason: RotateReason): void {
    const now = this.#vault.clock.now();
    const at = held.snap.expiresAt - this.#margin(held);
    this.#setTimer(() => this.#expiring(held, reason), Math.max(0, at - now));
  }

  #expiring(held: Held<T>, reason: RotateReason): void {
    if (this.#ended || this.#held !== held) return;
    const remainingMs = Math.max(0, held.snap.expiresAt - this.#vault.clock.now());
    this.#state = 'expiring';
    this.#log.info(
      { path: this.path, leaseId: held.snap.leaseId, remainingMs, reason },
      'lease expiring: re-issuing',
    );
    this.#emit('expiring', { current: held.snap, remainingMs, reason });
    this.#vault.emit('lease:expiring', {
      key: this.key,
      path: this.path,
      leaseId: held.snap.leaseId,
      remainingMs,
      reason,
    });
    this.#startIssue(reason).catch(() => undefined);
  }

  async #renew(held: Held<T>): Promise<void> {
    if (this.#ended || this.#held !== held || this.#flight || !held.schedule) return;
    this.#renewRetry = undefined;
    const clock = this.#vault.clock;
    const increment = this.#incrementSeconds({ leaseDurationMs: held.initialMs });
    try {
      const res = await this.#vault.request('PUT', 'sys/leases/renew', {
        body: { lease_id: held.snap.leaseId, increment },
        signal: this.#abort.signal,
        template: 'sys/leases/renew',
      });
      if (this.#ended || this.#held !== held) return;
      const env = parseResponse(leaseRenewal, res.body, {
        method: 'PUT',
        path: 'sys/leases/renew',
        status: res.status,
      });
      const now = clock.now();
      const ttlS = env.lease_duration;
      const capped = hasCappedWarning(env.warnings) || (increment > 0 && ttlS < increment);
      const renewable = env.renewable;
      held.snap = Object.freeze({ ...held.snap, expiresAt: now + ttlS * 1000, renewable });
      this.#state = 'renewed';
      this.#log.debug({ path: this.path, leaseId: held.snap.leaseId, ttl: ttlS, capped }, 'lease renewed');
      this.#emit('renew', { current: held.snap, ttlMs: ttlS * 1000, capped });
      this.#vault.emit('lease:renewed', {
        key: this.key,
        path: this.path,
        leaseId: held.snap.leaseId,
        ttl: ttlS,
        capped,
      });
      const step = held.schedule.renewed(ttlS * 1000, now, { capped, renewable });
      if (capped || !renewable) this.#rotateBeforeEnd(held, capped ? 'max-ttl' : 'not-renewable');
      else this.#follow(held, step);
    } catch (error) {
      if (this.#ended || this.#held !== held) return;
      const err = asVaultError(error, 'sys/leases/renew');
      const now = clock.now();
      if (err.code === VaultErrorCode.BAD_REQUEST && err.errors.some((e) => LOST_LEASE.test(e))) {
        const maxTtl = err.errors.some((e) => /past the max TTL|not renewable/i.test(e));
        this.#log.warn(
          { path: this.path, leaseId: held.snap.leaseId, err: err.message },
          maxTtl
            ? 'lease cannot be renewed any more: re-issuing'
            : 'Vault no longer knows the lease: re-issuing',
        );
        if (!maxTtl) this.#lost(held);
        this.#startIssue(maxTtl ? 'max-ttl' : 'lease-lost').catch(() => undefined);
        return;
      }
      const denied = err.code === VaultErrorCode.PERMISSION_DENIED;
      const step = held.schedule.renewFailed(now, { permissionDenied: denied });
      const retryInMs = step.type === 'expiring' ? 0 : step.delayMs;
      this.#log.warn(
        { path: this.path, leaseId: held.snap.leaseId, code: err.code, retryInMs },
        'renewing the lease failed; the current value stays in use while valid',
      );
      this.#emit('error', { error: err, operation: 'renew', retryInMs: denied ? undefined : retryInMs });
      this.#vault.emit('lease:renew-failed', {
        key: this.key,
        path: this.path,
        leaseId: held.snap.leaseId,
        code: err.code,
        retryInMs: denied ? undefined : retryInMs,
      });
      if (denied) {
        this.#rotateBeforeEnd(held, 'not-renewable');
      } else if (step.type === 'expiring' || now >= held.snap.expiresAt - this.#margin(held)) {
        this.#expiring(held, 'renew-failed');
      } else {
        this.#renewRetry = held;
        this.#setTimer(() => this.#renew(held), step.delayMs);
      }
    }
  }

  #lost(held: Held<T>): void {
    if (held.lost) return;
    held.lost = true;
    this.#emit('revoked', { leaseId: held.snap.leaseId, generation: held.snap.generation, reason: 'lost' });
    this.#vault.emit('lease:revoked', {
      key: this.key,
      path: this.path,
      leaseId: held.snap.leaseId,
      reason: 'lost',
    });
  }

  /** While re-issuing: the held value is marked `expired` when its end passes. */
  #watchExpiry(held: Held<T>): void {
    if (this.#expiryTimer || !Number.isFinite(held.snap.expiresAt)) return;
    const ms = held.snap.expiresAt - this.#vault.clock.now();
    const fire = (): void => {
      this.#expiryTimer = undefined;
      if (this.#ended || this.#held !== held || !this.#flight) return;
      this.#state = 'expired';
      this.#log.error(
        { path: this.path, leaseId: held.snap.leaseId },
        'lease expired before it could be replaced',
      );
      this.#emit('expired', { previous: held.snap });
      this.#vault.emit('lease:expired', { key: this.key, path: this.path, leaseId: held.snap.leaseId });
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
      if (err.code === VaultErrorCode.BAD_REQUEST && err.errors.some((e) => LOST_LEASE.test(e))) {
        this.#log.warn(
          { path: this.path, leaseId: held.snap.leaseId },
          'Vault no longer knows the lease: re-issuing',
        );
        this.#lost(held);
        this.#startIssue('lease-lost').catch(() => undefined);
        return;
      }
      this.#emit('error', { error: err, operation: 'lookup', retryInMs: this.#options.lookupIntervalMs });
    }
  }

  // ── rotation: drain, then revoke the previous lease ──────────────────────────────────────────────────────

  #retire(prev: Held<T>, current: LeaseSnapshot<T>, reason: RotateReason): void {
    prev.schedule = undefined;
    const waits: Array<Promise<unknown>> = [];
    for (const listener of [...(this.#listeners.get('rotate') ?? [])]) {
      let deferred = false;
      let markDrained: () => void = () => {};
      const drainedPromise = new Promise<void>((resolve) => {
        markDrained = resolve;
      });
      const event: LeaseRotateEvent<T> = Object.freeze({
        previous: prev.snap,
        current,
        reason,
        get drained() {
          deferred = true;
          return markDrained;
        },
      });
      try {
        const result = (listener as (e: LeaseRotateEvent<T>) => unknown)(event);
        if (isThenable(result)) {
          waits.push(Promise.race([Promise.resolve(result).then(noop, noop), drainedPromise]));
        } else if (deferred) {
          waits.push(drainedPromise);
        }
      } catch (error) {
        this.#log.error({ path: this.path, err: describe(error) }, 'a rotate listener threw');
      }
    }
    let finish: () => void = () => {};
    const done = new Promise<void>((resolve) => {
      finish = resolve;
    });
    const retirement: Retirement<T> = { held: prev, timer: undefined, done, finish };
    this.#retirements.add(retirement);
    const now = this.#vault.clock.now();
    const untilExpiry = prev.snap.expiresAt - LEASE_DEFAULTS.expiryGuardMs - now;
    const timeout = Math.max(
      0,
      Math.min(this.#options.drainTimeoutMs ?? Number.POSITIVE_INFINITY, untilExpiry),
    );
    // (A previous value without TTL and no drain timeout waits for its listeners only.)
    if (waits.length > 0 && Number.isFinite(timeout)) retirement.timer = this.#timers.set(finish, timeout);
    else if (waits.length === 0) finish();
    Promise.race([Promise.all(waits), done]).then(() => {
      this.#timers.clear(retirement.timer);
      if (!this.#retirements.delete(retirement)) return; // closed meanwhile: close() revokes it
      this.#revokeHeld(prev, 'rotated', LEASE_DEFAULTS.revokeTimeoutMs).catch(() => undefined);
    });
  }

  async #revokeHeld(held: Held<T>, reason: 'rotated' | 'closed', timeoutMs: number): Promise<void> {
    const leaseId = held.snap.leaseId;
    if (!leaseId || held.lost || this.#source.kind === 'static') return;
    if (reason === 'closed' && this.#options.revokeOnClose === false) return;
    if (this.#vault.closed && reason !== 'closed') return;
    try {
      await this.#vault.request('PUT', 'sys/leases/revoke', {
        body: { lease_id: leaseId },
        retry: false,
        timeoutMs: Math.max(1, timeoutMs),
        template: 'sys/leases/revoke',
      });
      held.lost = true;
      this.#log.info({ path: this.path, leaseId, reason }, 'lease revoked');
      this.#emit('revoked', { leaseId, generation: held.snap.generation, reason });
      this.#vault.emit('lease:revoked', { key: this.key, path: this.path, leaseId, reason });
    } catch (error) {
      const err = asVaultError(error, 'sys/leases/revoke');
      this.#log.warn(
        { path: this.path, leaseId, code: err.code },
        'revoking the lease failed (it will expire)',
      );
      this.#emit('error', { error: err, operation: 'revoke', retryInMs: undefined });
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

  /**
   * The wait before the next issue attempt: the backoff, but while a held value is still valid never more than a
   * third of the time it has left (at least {@link LEASE_DEFAULTS.lastAttemptsFloorMs}), so the last attempts
   * before it ends are made in time — a backoff that has grown to 30 s must not sleep through the end of a lease.
   */
  #untilNextAttempt(backoffMs: number): number {
    const end = this.end();
    if (end === undefined) return backoffMs;
    const left = end - this.#vault.clock.now();
    if (left <= 0) return backoffMs;
    return Math.min(backoffMs, Math.max(LEASE_DEFAULTS.lastAttemptsFloorMs, Math.round(left / 3)));
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

  /** Waits `ms` on the clock; {@link wake} or close cut it short. */
  #pause(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = this.#timers.set(() => {
        this.#wake = undefined;
        resolve();
      }, ms);
      this.#wake = () => {
        this.#timers.clear(timer);
        resolve();
      };
    });
  }

  #emit<K extends keyof LeaseEventMap<T>>(event: K, payload: LeaseEventMap<T>[K]): void {
    for (const listener of [...(this.#listeners.get(event) ?? [])]) {
      try {
        (listener as (p: LeaseEventMap<T>[K]) => unknown)(payload);
      } catch (error) {
        this.#log.error({ path: this.path, event, err: describe(error) }, 'a lease listener threw');
      }
    }
  }

  #assertLive(): void {
    if (this.#ended) throw this.#endedError();
  }

  #endedError(): VaultError {
    if (this.#state === 'failed' && this.#failure) return this.#failure;
    return new VaultError(VaultErrorCode.LEASE_EXPIRED, `The lease for ${this.path} was revoked`, {
      path: this.path,
    });
  }
}

function prevReason(prev: Held<unknown>, now: number, reason: RotateReason): RotateReason {
  return prev.snap.expiresAt <= now && reason !== 'lease-lost' ? 'expired' : reason;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

function noop(): void {}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : 'non-error thrown';
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
