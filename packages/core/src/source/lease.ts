/**
 * {@link createSourceLease}: a {@link Lease} whose values come from a {@link CredentialSource} instead of Vault.
 *
 * The handle goes through the same states and sends the same events as a Vault lease — every transition goes
 * through the shared {@link LeaseEventPublisher} and its `LEASE_TRANSITIONS` table — so `@leasehold/pg`, Knex,
 * Prisma and the adapters follow it unchanged. What differs is where values come from and when they change:
 *
 * - **first value**: `fetch(signal, 'initial')` → `issued` (generation 1); a retryable failure is retried with
 *   backoff, a non-retryable one ends the handle in `failed` (`ready()` rejects with it);
 * - **poll**: every `pollIntervalMs` (after the previous check ended) `source.version()` — or, for a source without
 *   it, a fetch — and a fetch when the version differs from the one held → `rotated` (reason `source-changed`);
 * - **refresh**: a value with `expiresAt` (or `refreshAt`) is fetched again at `refreshAt`, default `expiresAt −
 *   refreshMarginMs` → `expiring` (values with an end) then `rotated` (reason `refresh`);
 * - **reissue()**: fetch with reason `requested` → `rotated` (reason `requested`). When the source still answers the
 *   version held (a rotation at the source that is not finished: Secrets Manager's `AWSPENDING` not yet promoted),
 *   the call resolves with the current snapshot, nothing rotates, and the handle checks the source again soon —
 *   `retry.initialMs`, doubling, at most `retry.maxMs`, {@link SOURCE_DEFAULTS.confirmChecks} times — before it
 *   falls back to its poll interval;
 * - **retire**: after a rotation, the previous generation is reported `revoked` (reason `rotated`; nothing is revoked
 *   at the source) once every `rotated` listener drained, after `drainTimeoutMs` (default: none for `session`
 *   binding, 0 for `login`), or when the previous value ends — whichever comes first. The rotated event's
 *   `retirePrevious` is `false` for `login` binding: connections opened with the previous value stay;
 * - **close()** / **revoke()**: stops every timer, aborts a fetch under way, rejects `ready()` waiters with
 *   `SOURCE_CLOSED`, closes the source once. Never rejects.
 *
 * Every wait goes through the injected {@link Clock} ({@link TimerSet}: any length, `unref()`ed, cleared on close).
 * Events and logs name the source (`kind:name`) and carry generations and codes — never the value.
 */
import { type Clock, defaultRandom, type RandomSource, systemClock, TimerSet } from '../clock.js';
import { LeaseEventPublisher, type LeaseEventSink } from '../lease/publisher.js';
import { ReadyWaiters } from '../lease/ready.js';
import type {
  LeaseEventMap,
  LeaseListener,
  LeaseReadyOptions,
  LeaseSnapshot,
  LeaseState,
  RotateReason,
} from '../lease/types.js';
import { drainDeadline, ExponentialBackoff, untilNextAttempt } from '../lifetime.js';
import { componentLogger, type Logger, silentLogger } from '../logger.js';
import { asSourceError, CredentialSourceError, type SourceRef } from './errors.js';
import { checkSource, parseSourceLeaseOptions } from './options.js';
import type {
  CredentialSource,
  SourcedValue,
  SourceFetchReason,
  SourceLease,
  SourceLeaseOptions,
} from './types.js';

/** Defaults of {@link SourceLeaseOptions}. */
export const SOURCE_DEFAULTS = Object.freeze({
  pollIntervalMs: 60_000,
  retryInitialMs: 1000,
  retryMaxMs: 30_000,
  /** Refresh margin: this share of a value's lifetime … */
  refreshMarginRatio: 0.2,
  /** … at least this long (and never more than half the lifetime). */
  minRefreshMarginMs: 30_000,
  /** Checks of the source after a `reissue()` that found the version unchanged (then the poll interval again). */
  confirmChecks: 5,
  /** Bound of `ready()` without `timeoutMs`. */
  readyTimeoutMs: 30_000,
});

const NOOP_SINK: LeaseEventSink = { emit: () => undefined };

interface Held<T> {
  snap: LeaseSnapshot<T>;
  version: string;
  /** When to fetch again before the end (ms on the clock), if the value ends or asked for it. */
  refreshAt: number | undefined;
}

type Outcome = 'rotated' | 'same' | 'extended';

/**
 * Creates a {@link SourceLease}: a lease handle that follows `source`. It starts fetching at once; await
 * `lease.ready()` for the first value. Options are checked at once (a `SOURCE_CONFIG` {@link CredentialSourceError}
 * naming the option and the fix).
 *
 * @example
 * ```ts
 * import { createSourceLease, type CredentialSource, type DatabaseCredentials, Redacted } from '@leasehold/core';
 * import { createRotatingPool } from '@leasehold/pg';
 *
 * const source: CredentialSource<DatabaseCredentials> = {
 *   kind: 'file',
 *   name: '/run/secrets/db',
 *   binding: 'session',
 *   async fetch() {
 *     const { username, password, version } = await readMySecret();
 *     return { value: { username, password: Redacted.of(password) }, version };
 *   },
 * };
 * const lease = createSourceLease(source, { pollIntervalMs: 30_000 });
 * const pool = createRotatingPool({ lease, host: 'db', database: 'app' });
 * ```
 */
export function createSourceLease<T>(
  source: CredentialSource<T>,
  options: SourceLeaseOptions = {},
): SourceLease<T> {
  checkSource(source);
  const parsed = parseSourceLeaseOptions(options, source);
  const handle = new SourceLeaseHandle<T>(source, parsed);
  handle.start();
  return handle;
}

/** @internal The implementation behind {@link createSourceLease}. */
class SourceLeaseHandle<T> implements SourceLease<T> {
  readonly key: string;
  readonly path: string;
  readonly source: SourceRef;
  readonly #src: CredentialSource<T>;
  readonly #options: SourceLeaseOptions;
  readonly #clock: Clock;
  readonly #random: RandomSource;
  readonly #log: Logger;
  readonly #timers: TimerSet;
  readonly #abort = new AbortController();
  readonly #publish: LeaseEventPublisher<T>;
  readonly #retirements = new Set<() => void>();
  #held: Held<T> | undefined;
  #flight: Promise<LeaseSnapshot<T>> | undefined;
  #pollTimer: ReturnType<TimerSet['set']> | undefined;
  #refreshTimer: ReturnType<TimerSet['set']> | undefined;
  #expiryTimer: ReturnType<TimerSet['set']> | undefined;
  #wake: (() => void) | undefined;
  /** Backoff of failed polls (reset by a poll that succeeds). */
  readonly #pollBackoff: ExponentialBackoff;
  /** Quick checks left after a `reissue()` that found the same version (then back to the poll interval). */
  #confirmLeft = 0;
  #confirmBackoff: ExponentialBackoff | undefined;
  #failure: CredentialSourceError | undefined;
  readonly #readyWaiters: ReadyWaiters<LeaseSnapshot<T>>;
  #ended = false;
  #closing: Promise<void> | undefined;

  constructor(source: CredentialSource<T>, options: SourceLeaseOptions) {
    this.#src = source;
    this.source = Object.freeze({ kind: source.kind, name: source.name });
    this.path = `${source.kind}:${source.name}`;
    this.key = `source:${this.path}`;
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? defaultRandom;
    this.#log = componentLogger(options.logger ?? silentLogger, 'source-lease');
    this.#timers = new TimerSet(this.#clock);
    this.#readyWaiters = new ReadyWaiters(this.#timers);
    this.#publish = new LeaseEventPublisher<T>(this.key, this.path, options.events ?? NOOP_SINK, this.#log);
    this.#pollBackoff = this.#backoff();
  }

  // ── Lease API ────────────────────────────────────────────────────────────────────────────────────────────

  get state(): LeaseState {
    return this.#publish.state;
  }

  ready(options: LeaseReadyOptions = {}): Promise<LeaseSnapshot<T>> {
    if (this.#held && !this.#ended) return Promise.resolve(this.#held.snap);
    if (this.#ended) return Promise.reject(this.#endedError());
    return this.#readyWaiters.wait(options, SOURCE_DEFAULTS.readyTimeoutMs, (timeoutMs) => {
      const last = this.#failure ? ` (last error ${this.#failure.code}: ${this.#failure.message})` : '';
      return new CredentialSourceError('SOURCE_TIMEOUT', `no value within ${timeoutMs} ms${last}`, {
        source: this.source,
        cause: this.#failure,
      });
    });
  }

  current(): LeaseSnapshot<T> {
    const snap = this.peek();
    if (snap) return snap;
    throw this.#ended
      ? this.#endedError()
      : new CredentialSourceError('SOURCE_UNAVAILABLE', 'no value yet; await lease.ready() first', {
          source: this.source,
        });
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
      { source: this.path, generation: held.snap.generation, reason: options.reason ?? 'requested' },
      'new value requested',
    );
    return this.#startFetch('requested');
  }

  revoke(): Promise<void> {
    return this.close();
  }

  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closing = (async () => {
      this.#ended = true;
      this.#publish.closed();
      this.#timers.clearAll();
      this.#abort.abort(this.#closedError());
      this.#wake?.();
      this.#readyWaiters.rejectAll(this.#endedError());
      await this.#flight?.catch(() => undefined);
      for (const finish of [...this.#retirements]) finish();
      const held = this.#held;
      if (held && this.#publish.state !== 'failed') this.#publish.revoked('', held.snap.generation, 'closed');
      try {
        await this.#src.close?.();
      } catch (error) {
        const err = asSourceError(error, this.source, 'closing the source failed');
        this.#log.warn({ source: this.path, code: err.code, err: err.message }, 'closing the source failed');
      }
    })();
    return this.#closing;
  }

  /** @internal Starts the first fetch. */
  start(): void {
    this.#startFetch('initial').catch(() => undefined);
  }

  // ── fetching ─────────────────────────────────────────────────────────────────────────────────────────────

  #startFetch(reason: SourceFetchReason): Promise<LeaseSnapshot<T>> {
    if (this.#flight) return this.#flight;
    this.#timers.clear(this.#refreshTimer);
    this.#refreshTimer = undefined;
    const flight = this.#fetchLoop(reason);
    this.#flight = flight;
    // A flight that fails (closed, failed) ends here; one that succeeds ends in #landed(), synchronously with the
    // value, so that whoever awaited it sees the flight over and the next poll / refresh armed.
    flight.catch(() => {
      if (this.#flight === flight) this.#flight = undefined;
    });
    return flight;
  }

  /** The flight under way succeeded with `snap`: it is over; arm the next poll and refresh. */
  #landed(snap: LeaseSnapshot<T>): LeaseSnapshot<T> {
    this.#flight = undefined;
    this.#schedule();
    return snap;
  }

  async #fetchLoop(reason: SourceFetchReason): Promise<LeaseSnapshot<T>> {
    const backoff = this.#backoff();
    const held = this.#held;
    if (held) this.#watchExpiry(held);
    if (held && reason === 'refresh' && Number.isFinite(held.snap.expiresAt)) {
      const remainingMs = Math.max(0, held.snap.expiresAt - this.#clock.now());
      this.#publish.expiring(held.snap, remainingMs, 'refresh');
    }
    for (;;) {
      this.#assertLive();
      let value: SourcedValue<T>;
      try {
        value = checkSourcedValue(
          await abortable(this.#src.fetch(this.#abort.signal, reason), this.#abort.signal),
          this.source,
        );
      } catch (error) {
        this.#assertLive();
        const err = asSourceError(error, this.source);
        this.#failure = err;
        if (!err.retryable && !this.#held) {
          this.#fail(err);
          throw err;
        }
        await this.#retryAfter(err, backoff);
        continue;
      }
      this.#assertLive();
      const outcome = this.#install(value, reason);
      const snap = (this.#held as Held<T>).snap;
      if (outcome !== 'same') return this.#landed(snap);
      const held = this.#held as Held<T>;
      if (reason === 'refresh' && !Number.isFinite(held.snap.expiresAt)) {
        // A value that does not end asked to be refreshed and is unchanged: keep it; refresh again only when the
        // source gave a later `refreshAt` (else polling alone follows it).
        if (held.refreshAt !== undefined && held.refreshAt <= this.#clock.now()) held.refreshAt = undefined;
        return this.#landed(snap);
      }
      if (reason === 'refresh') {
        // The source still serves the value that is about to end: try again (it may be mid-rotation).
        const err = new CredentialSourceError(
          'SOURCE_UNAVAILABLE',
          'the source still serves the value that is about to end; fetching again',
          { source: this.source, retryable: true },
        );
        this.#failure = err;
        await this.#retryAfter(err, backoff);
        continue;
      }
      // Asked for a new value, or told of a new version, and still given the held one: the source may be
      // mid-rotation (or its reads lag behind): check it again soon.
      if (reason === 'requested' || (reason === 'changed' && this.#src.version)) this.#startConfirming();
      return this.#landed(snap);
    }
  }

  /** Reports a failed attempt and waits for the next one (backoff, never past a third of the value's time left). */
  async #retryAfter(err: CredentialSourceError, backoff: ExponentialBackoff): Promise<void> {
    const now = this.#clock.now();
    const end = this.#held?.snap.expiresAt;
    const wait = untilNextAttempt(
      backoff.next(now) ?? this.#retryMaxMs(),
      end !== undefined && Number.isFinite(end) ? end - now : undefined,
    );
    this.#publish.issueFailed(err, wait);
    await this.#pause(wait);
  }

  /** Installs a fetched value: the first (`issued`), a new version (`rotated`), or the same one. */
  #install(value: SourcedValue<T>, reason: SourceFetchReason): Outcome {
    const now = this.#clock.now();
    const prev = this.#held;
    const expiresAt = value.expiresAt ?? Number.POSITIVE_INFINITY;
    if (prev && prev.version === value.version) {
      if (!(expiresAt > prev.snap.expiresAt)) {
        // A value without an end may still move its refresh time.
        if (!Number.isFinite(expiresAt) && value.refreshAt !== undefined) {
          const next = this.#refreshAt(value, now);
          if (next !== undefined && next > (prev.refreshAt ?? Number.NEGATIVE_INFINITY))
            prev.refreshAt = next;
        }
        return 'same';
      }
      // The same value with a later end: not a rotation.
      prev.snap = Object.freeze({ ...prev.snap, expiresAt });
      prev.refreshAt = this.#refreshAt(value, now);
      this.#clearExpiryWatch();
      this.#failure = undefined;
      this.#publish.unchanged(prev.snap);
      return 'extended';
    }
    this.#clearExpiryWatch();
    this.#failure = undefined;
    this.#stopConfirming();
    const snap: LeaseSnapshot<T> = Object.freeze({
      value: freeze(value.value),
      leaseId: '',
      issuedAt: now,
      expiresAt,
      renewable: false,
      generation: (prev?.snap.generation ?? 0) + 1,
    });
    const held: Held<T> = { snap, version: value.version, refreshAt: this.#refreshAt(value, now) };
    this.#held = held;
    const ttl = Number.isFinite(expiresAt) ? Math.max(0, Math.round((expiresAt - now) / 1000)) : 0;
    if (prev) {
      const retire = this.#src.binding === 'session';
      const rotateReason: RotateReason =
        prev.snap.expiresAt <= now
          ? 'expired'
          : reason === 'requested'
            ? 'requested'
            : reason === 'refresh'
              ? 'refresh'
              : 'source-changed';
      const drainBy = drainDeadline(
        prev.snap.expiresAt,
        this.#options.drainTimeoutMs ?? (this.#src.binding === 'login' ? 0 : undefined),
        now,
      );
      this.#retire(prev, this.#publish.rotated(prev.snap, snap, rotateReason, ttl, drainBy, retire), drainBy);
    } else {
      this.#publish.issued(snap, ttl);
    }
    if (this.#ended) return 'rotated';
    this.#readyWaiters.resolveAll(snap);
    return 'rotated';
  }

  #fail(err: CredentialSourceError): void {
    this.#publish.failed(err);
    this.#readyWaiters.rejectAll(err);
    this.close().catch(() => undefined);
  }

  // ── schedule: poll and refresh ──────────────────────────────────────────────────────────────────────────

  /** (Re)arms the refresh timer and, when none is pending, the poll timer. */
  #schedule(): void {
    const held = this.#held;
    if (this.#ended || !held || this.#flight) return;
    const now = this.#clock.now();
    this.#timers.clear(this.#refreshTimer);
    this.#refreshTimer = undefined;
    if (held.refreshAt !== undefined) {
      this.#refreshTimer = this.#timers.set(
        () => {
          this.#refreshTimer = undefined;
          this.#startFetch('refresh').catch(() => undefined);
        },
        Math.max(0, held.refreshAt - now),
      );
    }
    if (this.#pollTimer === undefined) this.#schedulePoll(this.#nextPollDelay());
  }

  #nextPollDelay(): number | undefined {
    if (this.#confirmLeft > 0 && this.#confirmBackoff) {
      return this.#confirmBackoff.next(this.#clock.now()) ?? this.#retryMaxMs();
    }
    const interval = this.#options.pollIntervalMs ?? SOURCE_DEFAULTS.pollIntervalMs;
    return interval > 0 ? interval : undefined;
  }

  #schedulePoll(ms: number | undefined): void {
    this.#timers.clear(this.#pollTimer);
    this.#pollTimer = undefined;
    if (ms === undefined || this.#ended) return;
    this.#pollTimer = this.#timers.set(() => {
      this.#pollTimer = undefined;
      void this.#poll();
    }, ms);
  }

  /** One check of the source: `version()` (or a fetch), and a fetch when the version differs. */
  async #poll(): Promise<void> {
    const held = this.#held;
    if (this.#ended || !held) return;
    if (this.#confirmLeft > 0) this.#confirmLeft--;
    if (this.#flight) {
      this.#schedulePoll(this.#nextPollDelay());
      return;
    }
    if (this.#src.version) {
      let version: string;
      try {
        version = checkVersion(
          await abortable(this.#src.version(this.#abort.signal), this.#abort.signal),
          this.source,
          'version()',
        );
      } catch (error) {
        if (this.#ended) return;
        const err = asSourceError(error, this.source, 'checking the version failed');
        const now = this.#clock.now();
        const wait = Math.min(
          this.#pollBackoff.next(now) ?? this.#retryMaxMs(),
          this.#nextPollDelay() ?? Number.POSITIVE_INFINITY,
        );
        this.#publish.lookupFailed(err, wait);
        this.#schedulePoll(wait);
        return;
      }
      if (this.#ended) return;
      this.#pollBackoff.reset(this.#clock.now());
      if (version === this.#held?.version) {
        this.#schedulePoll(this.#nextPollDelay());
        return;
      }
    }
    // A new version (or no version() to ask): fetch; the flight's end re-arms the poll.
    await this.#startFetch('changed').catch(() => undefined);
  }

  #startConfirming(): void {
    this.#confirmLeft = SOURCE_DEFAULTS.confirmChecks;
    this.#confirmBackoff = this.#backoff();
    this.#timers.clear(this.#pollTimer);
    this.#pollTimer = undefined;
    this.#log.info(
      { source: this.path, checks: this.#confirmLeft },
      'the source still serves the same version: checking it again soon',
    );
  }

  #stopConfirming(): void {
    if (this.#confirmLeft === 0) return;
    this.#confirmLeft = 0;
    this.#confirmBackoff = undefined;
    this.#timers.clear(this.#pollTimer);
    this.#pollTimer = undefined;
  }

  /** When to refresh `value` fetched at `now`: its `refreshAt`, else before `expiresAt` by the margin. */
  #refreshAt(value: SourcedValue<T>, now: number): number | undefined {
    if (value.refreshAt !== undefined) {
      return value.expiresAt === undefined ? value.refreshAt : Math.min(value.refreshAt, value.expiresAt);
    }
    if (value.expiresAt === undefined) return undefined;
    const lifetime = Math.max(0, value.expiresAt - now);
    const wanted =
      this.#options.refreshMarginMs ??
      Math.max(SOURCE_DEFAULTS.refreshMarginRatio * lifetime, SOURCE_DEFAULTS.minRefreshMarginMs);
    return value.expiresAt - Math.min(wanted, lifetime / 2);
  }

  /** While fetching a replacement: the held value is reported `expired` when its end passes. */
  #watchExpiry(held: Held<T>): void {
    if (this.#expiryTimer || !Number.isFinite(held.snap.expiresAt)) return;
    this.#expiryTimer = this.#timers.set(
      () => {
        this.#expiryTimer = undefined;
        if (this.#ended || this.#held !== held || !this.#flight) return;
        this.#publish.expired(held.snap);
      },
      Math.max(0, held.snap.expiresAt - this.#clock.now()),
    );
  }

  #clearExpiryWatch(): void {
    this.#timers.clear(this.#expiryTimer);
    this.#expiryTimer = undefined;
  }

  // ── retire the previous generation ──────────────────────────────────────────────────────────────────────

  /**
   * The previous generation is retired (`revoked`, reason `rotated`) once `waits` settle, after `drainTimeoutMs`
   * (default: none for `session`, 0 for `login` binding), or when the previous value ends.
   */
  #retire(prev: Held<T>, waits: Array<Promise<unknown>>, drainBy: number): void {
    let timer: ReturnType<TimerSet['set']> | undefined;
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      this.#timers.clear(timer);
      this.#retirements.delete(finish);
      if (!this.#ended) this.#publish.revoked('', prev.snap.generation, 'rotated');
    };
    if (waits.length === 0) {
      finish();
      return;
    }
    this.#retirements.add(finish);
    const timeout = Math.max(0, drainBy - this.#clock.now());
    if (Number.isFinite(timeout)) timer = this.#timers.set(finish, timeout);
    Promise.all(waits).then(finish, finish);
  }

  // ── helpers ──────────────────────────────────────────────────────────────────────────────────────────────

  #backoff(): ExponentialBackoff {
    return new ExponentialBackoff(
      {
        initialMs: this.#options.retry?.initialMs ?? SOURCE_DEFAULTS.retryInitialMs,
        maxIntervalMs: this.#retryMaxMs(),
        multiplier: 2,
        randomizationFactor: 0.5,
        maxElapsedMs: 0,
      },
      this.#clock.now(),
      this.#random,
    );
  }

  #retryMaxMs(): number {
    return this.#options.retry?.maxMs ?? SOURCE_DEFAULTS.retryMaxMs;
  }

  /** Waits `ms` on the clock; close cuts it short. */
  #pause(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = this.#timers.set(() => {
        this.#wake = undefined;
        resolve();
      }, ms);
      this.#wake = () => {
        this.#wake = undefined;
        this.#timers.clear(timer);
        resolve();
      };
    });
  }

  #assertLive(): void {
    if (this.#ended) throw this.#endedError();
  }

  #closedError(): CredentialSourceError {
    return new CredentialSourceError('SOURCE_CLOSED', 'the lease was closed', {
      source: this.source,
      retryable: false,
    });
  }

  #endedError(): CredentialSourceError {
    if (this.#publish.state === 'failed' && this.#failure) return this.#failure;
    return this.#closedError();
  }
}

/** Rejects with the signal's reason when it aborts first; a late settlement of `promise` is handled. */
function abortable<V>(promise: Promise<V>, signal: AbortSignal): Promise<V> {
  promise.catch(() => undefined);
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<V>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

function invalid(source: SourceRef, what: string): CredentialSourceError {
  return new CredentialSourceError(
    'SOURCE_INVALID_RESPONSE',
    `${what}. This is a bug of the source implementation (see CredentialSource in @leasehold/core).`,
    { source, retryable: false },
  );
}

function checkVersion(version: unknown, source: SourceRef, where: string): string {
  if (typeof version !== 'string' || version.length === 0) {
    throw invalid(source, `${where} must give "version" as a non-empty string`);
  }
  return version;
}

/** Checks what `fetch()` resolved with: an object with `value`, a `version`, and finite `expiresAt` / `refreshAt`. */
function checkSourcedValue<T>(sv: unknown, source: SourceRef): SourcedValue<T> {
  if (typeof sv !== 'object' || sv === null || !('value' in sv)) {
    throw invalid(source, 'fetch() must resolve with { value, version }');
  }
  const v = sv as SourcedValue<T>;
  checkVersion(v.version, source, 'fetch()');
  for (const field of ['expiresAt', 'refreshAt'] as const) {
    const at = v[field];
    if (at !== undefined && (typeof at !== 'number' || !Number.isFinite(at))) {
      throw invalid(source, `fetch() gave "${field}" that is not a finite number of ms on the clock`);
    }
  }
  return v;
}

function freeze<V>(value: V): V {
  return typeof value === 'object' && value !== null ? Object.freeze(value) : value;
}
