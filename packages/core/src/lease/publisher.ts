/**
 * The one place where a lease handle's state changes and its events go out (what Spring Vault's
 * `SecretLeaseEventPublisher` is to its lease container). One method per transition:
 *
 * 1. checks the move against {@link LEASE_TRANSITIONS} and sets the state — a move the table does not allow is a
 *    bug: it is logged at error level and the state is kept (nothing is thrown into the renewal loop);
 * 2. emits the handle event ({@link LeaseEventMap});
 * 3. emits its client-wide `lease:*` mirror ({@link VaultEvents}; the metrics of `@leasehold/core/metrics` count
 *    these, so they follow);
 * 4. writes the log line.
 *
 * Events that do not move the state (a failed attempt that is retried, a revoked previous generation) go through
 * here too, so that every event a lease sends is written once.
 *
 * **Event names.** Events state facts, in the past tense (`lease:issued`, `lease:renewed`, `lease:rotated`,
 * `lease:expired`, `lease:revoked`, `lease:issue-failed`, `lease:renew-failed`); the one announcement is
 * `expiring` (the value cannot be extended and its replacement starts now). The handle's own `issued`, `renewed` and
 * `rotated` are the same facts as `lease:issued`, `lease:renewed` and `lease:rotated`; `error` carries every
 * failed operation.
 *
 * Payloads carry lease ids, generations, codes and durations — never a secret value.
 */
import type { VaultEvents } from '../events.js';
import type { Logger } from '../logger.js';
import type {
  LeaseError,
  LeaseEventMap,
  LeaseListener,
  LeaseRotateEvent,
  LeaseSnapshot,
  LeaseState,
  RotateReason,
} from './types.js';

/**
 * The states a lease handle may move to from each state. Every change of {@link LeaseState} is checked against it;
 * the "Lease states" section of this package's README shows the same table (a unit test keeps the two equal).
 * `revoked` and `failed` are terminal.
 */
export const LEASE_TRANSITIONS: { readonly [S in LeaseState]: ReadonlySet<LeaseState> } = Object.freeze({
  issuing: new Set<LeaseState>(['issued', 'failed', 'revoked']),
  issued: new Set<LeaseState>(['issued', 'renewed', 'expiring', 'expired', 'revoked']),
  renewed: new Set<LeaseState>(['issued', 'renewed', 'expiring', 'expired', 'revoked']),
  expiring: new Set<LeaseState>(['issued', 'renewed', 'expired', 'revoked']),
  expired: new Set<LeaseState>(['issued', 'renewed', 'revoked']),
  revoked: new Set<LeaseState>(),
  failed: new Set<LeaseState>(),
});

/** Whether a lease handle may move from state `from` to state `to` ({@link LEASE_TRANSITIONS}). */
export function isLeaseTransitionAllowed(from: LeaseState, to: LeaseState): boolean {
  return LEASE_TRANSITIONS[from].has(to);
}

/** Where a `LeaseEventPublisher` sends the client-wide mirror (the client's `emit`). */
export interface LeaseEventSink {
  emit<K extends keyof VaultEvents>(event: K, payload: VaultEvents[K]): void;
}

/** Why a held Vault lease was revoked (the `reason` of the `revoked` events). */
export type LeaseRevokeReason = LeaseEventMap<unknown>['revoked']['reason'];

type AnyListener = (payload: never) => unknown;

/**
 * @internal The state and the events of one lease handle. Owns the handle's listeners; the handle calls one
 * method per transition and never sets its state or emits an event itself.
 */
export class LeaseEventPublisher<T> {
  readonly #key: string;
  readonly #path: string;
  readonly #client: LeaseEventSink;
  readonly #log: Logger;
  readonly #listeners = new Map<keyof LeaseEventMap<T>, Set<AnyListener>>();
  #state: LeaseState = 'issuing';

  /** `key` and `path` identify the handle in every client event and log line. */
  constructor(key: string, path: string, client: LeaseEventSink, log: Logger) {
    this.#key = key;
    this.#path = path;
    this.#client = client;
    this.#log = log;
  }

  /** The handle's current state. */
  get state(): LeaseState {
    return this.#state;
  }

  /** Subscribes to a handle event; returns an unsubscribe function. */
  on<K extends keyof LeaseEventMap<T>>(event: K, listener: LeaseListener<T, K>): () => void {
    let set = this.#listeners.get(event);
    if (!set) {
      set = new Set();
      this.#listeners.set(event, set);
    }
    set.add(listener as AnyListener);
    return () => this.off(event, listener);
  }

  /** Unsubscribes a handle listener. */
  off<K extends keyof LeaseEventMap<T>>(event: K, listener: LeaseListener<T, K>): void {
    this.#listeners.get(event)?.delete(listener as AnyListener);
  }

  // ── transitions (they move the state) ─────────────────────────────────────────────────────────────────────

  /** `issuing → issued`: the first value arrived (generation 1). `ttl`: seconds granted (0: it does not end). */
  issued(current: LeaseSnapshot<T>, ttl: number): void {
    this.#move('issued');
    this.#emit('issued', { current });
    this.#issuedMirror(current, ttl);
    this.#log.info(this.#issuedFields(current, ttl), 'lease issued');
  }

  /**
   * `→ issued` (generation + 1): a re-issued value replaced `previous`. Sends `rotated` to each listener with its
   * own event object and returns what the previous value waits for before it is revoked: one promise per listener
   * that has not drained yet (see {@link LeaseRotateEvent}).
   */
  rotated(
    previous: LeaseSnapshot<T>,
    current: LeaseSnapshot<T>,
    reason: RotateReason,
    ttl: number,
    drainBy: number,
    retirePrevious = true,
  ): Array<Promise<unknown>> {
    this.#move('issued');
    const waits = this.#emitRotate(previous, current, reason, drainBy, retirePrevious);
    this.#issuedMirror(current, ttl);
    this.#client.emit('lease:rotated', {
      key: this.#key,
      path: this.#path,
      previousLeaseId: previous.leaseId,
      leaseId: current.leaseId,
      generation: current.generation,
      reason,
    });
    this.#log.info(this.#issuedFields(current, ttl), 'lease re-issued');
    return waits;
  }

  /** `→ renewed`: Vault extended the lease (`ttlMs` granted; `capped`: cut at the lease's max TTL). */
  renewed(current: LeaseSnapshot<T>, ttlMs: number, capped: boolean): void {
    this.#move('renewed');
    this.#emit('renewed', { current, ttlMs, capped });
    const ttl = ttlMs / 1000;
    this.#client.emit('lease:renewed', {
      key: this.#key,
      path: this.#path,
      leaseId: current.leaseId,
      ttl,
      capped,
    });
    this.#log.debug({ path: this.#path, leaseId: current.leaseId, ttl, capped }, 'lease renewed');
  }

  /**
   * `→ renewed` without an event: the value was read again and is the same secret (only its end moved): static
   * credentials re-read, or a credential source answering the same version with a later end. Not a Vault renewal,
   * so neither `renewed` nor `lease:renewed` is sent.
   */
  unchanged(current: LeaseSnapshot<T>): void {
    this.#move('renewed');
    this.#log.debug(
      { path: this.#path, generation: current.generation, expiresAt: current.expiresAt },
      'value read again: unchanged',
    );
  }

  /** `→ expiring`: the value cannot be extended (`reason`); its re-issue starts now, `remainingMs` before its end. */
  expiring(current: LeaseSnapshot<T>, remainingMs: number, reason: RotateReason): void {
    this.#move('expiring');
    this.#emit('expiring', { current, remainingMs, reason });
    this.#client.emit('lease:expiring', {
      key: this.#key,
      path: this.#path,
      leaseId: current.leaseId,
      remainingMs,
      reason,
    });
    this.#log.info(
      { path: this.#path, leaseId: current.leaseId, remainingMs, reason },
      'lease expiring: re-issuing',
    );
  }

  /** `→ expired`: the held value ended while its re-issue was still under way (the handle keeps trying). */
  expired(previous: LeaseSnapshot<T>): void {
    this.#move('expired');
    this.#emit('expired', { previous });
    this.#client.emit('lease:expired', { key: this.#key, path: this.#path, leaseId: previous.leaseId });
    this.#log.error(
      { path: this.#path, leaseId: previous.leaseId },
      'lease expired before it could be replaced',
    );
  }

  /** `issuing → failed`: the first issue failed for good. Terminal. */
  failed(error: LeaseError): void {
    this.#move('failed');
    this.#emit('error', { error, operation: 'issue', retryInMs: undefined });
    this.#client.emit('lease:issue-failed', {
      key: this.#key,
      path: this.#path,
      code: error.code,
      retryInMs: undefined,
    });
    this.#log.error(
      { path: this.#path, code: error.code, err: error.message },
      'issuing the lease failed permanently',
    );
  }

  /**
   * `→ revoked`: the handle ends (`lease.revoke()`, `vault.close()`). Terminal. A handle that `failed` stays
   * `failed`. The revocation of each held Vault lease is reported by {@link revoked}.
   */
  closed(): void {
    if (this.#state === 'failed') return;
    this.#move('revoked');
    this.#log.debug({ path: this.#path }, 'lease handle closed');
  }

  // ── events that keep the state ────────────────────────────────────────────────────────────────────────────

  /** A Vault lease held by the handle was revoked (`rotated`: a previous generation after drain; `closed`). */
  revoked(leaseId: string, generation: number, reason: LeaseRevokeReason): void {
    this.#emit('revoked', { leaseId, generation, reason });
    this.#client.emit('lease:revoked', { key: this.#key, path: this.#path, leaseId, reason });
    this.#log.info({ path: this.#path, leaseId, reason }, 'lease revoked');
  }

  /** Vault no longer knows the held lease (revoked out of band, `lease not found`): reported as revoked (`lost`). */
  lost(current: LeaseSnapshot<T>): void {
    const { leaseId, generation } = current;
    this.#emit('revoked', { leaseId, generation, reason: 'lost' });
    this.#client.emit('lease:revoked', { key: this.#key, path: this.#path, leaseId, reason: 'lost' });
    this.#log.warn({ path: this.#path, leaseId }, 'Vault no longer knows the lease: re-issuing');
  }

  /** An issue attempt failed; the next one is in `retryInMs` (the current value, if any, stays in use). */
  issueFailed(error: LeaseError, retryInMs: number): void {
    this.#emit('error', { error, operation: 'issue', retryInMs });
    this.#client.emit('lease:issue-failed', {
      key: this.#key,
      path: this.#path,
      code: error.code,
      retryInMs,
    });
    this.#log.warn(
      { path: this.#path, code: error.code, retryInMs, err: error.message },
      'issuing the lease failed; retrying',
    );
  }

  /** A renewal failed; the next attempt is in `retryInMs` (the current value stays in use while valid). */
  renewFailed(current: LeaseSnapshot<T>, error: LeaseError, retryInMs: number | undefined): void {
    this.#emit('error', { error, operation: 'renew', retryInMs });
    this.#client.emit('lease:renew-failed', {
      key: this.#key,
      path: this.#path,
      leaseId: current.leaseId,
      code: error.code,
      retryInMs,
    });
    this.#log.warn(
      { path: this.#path, leaseId: current.leaseId, code: error.code, retryInMs },
      'renewing the lease failed; the current value stays in use while valid',
    );
  }

  /** Revoking `leaseId` failed; it is tried again in `retryInMs`, or not (`undefined`: the lease will expire). */
  revokeFailed(leaseId: string, error: LeaseError, retryInMs?: number): void {
    this.#emit('error', { error, operation: 'revoke', retryInMs });
    this.#log.warn(
      { path: this.#path, leaseId, code: error.code, retryInMs },
      retryInMs === undefined
        ? 'revoking the lease failed (it will expire)'
        : 'revoking the lease failed; trying again in the background',
    );
  }

  /** A `sys/leases/lookup` check failed for another reason than a lost lease; the next one is in `retryInMs`. */
  lookupFailed(error: LeaseError, retryInMs: number | undefined): void {
    this.#emit('error', { error, operation: 'lookup', retryInMs });
    this.#log.debug({ path: this.#path, code: error.code, retryInMs }, 'looking the lease up failed');
  }

  // ── internals ─────────────────────────────────────────────────────────────────────────────────────────────

  /** Sets the state to `to` when {@link LEASE_TRANSITIONS} allows it; otherwise logs the bug and keeps the state. */
  #move(to: LeaseState): void {
    const from = this.#state;
    if (isLeaseTransitionAllowed(from, to)) {
      this.#state = to;
      return;
    }
    this.#log.error({ path: this.#path, from, to }, 'lease state transition not allowed: the state is kept');
  }

  #issuedMirror(current: LeaseSnapshot<T>, ttl: number): void {
    this.#client.emit('lease:issued', {
      key: this.#key,
      path: this.#path,
      leaseId: current.leaseId,
      generation: current.generation,
      ttl,
      renewable: current.renewable,
    });
  }

  #issuedFields(current: LeaseSnapshot<T>, ttl: number): Record<string, unknown> {
    return {
      path: this.#path,
      leaseId: current.leaseId,
      generation: current.generation,
      ttl,
      renewable: current.renewable,
    };
  }

  #emit<K extends keyof LeaseEventMap<T>>(event: K, payload: LeaseEventMap<T>[K]): void {
    for (const listener of [...(this.#listeners.get(event) ?? [])]) {
      try {
        (listener as (p: LeaseEventMap<T>[K]) => unknown)(payload);
      } catch (error) {
        this.#log.error({ path: this.#path, event, err: describe(error) }, 'a lease listener threw');
      }
    }
  }

  /** Sends `rotated` to each listener with its own event; returns the drains still awaited. */
  #emitRotate(
    previous: LeaseSnapshot<T>,
    current: LeaseSnapshot<T>,
    reason: RotateReason,
    drainBy: number,
    retirePrevious: boolean,
  ): Array<Promise<unknown>> {
    const waits: Array<Promise<unknown>> = [];
    for (const listener of [...(this.#listeners.get('rotated') ?? [])]) {
      let deferred = false;
      let markDrained: () => void = () => {};
      const drainedPromise = new Promise<void>((resolve) => {
        markDrained = resolve;
      });
      const event: LeaseRotateEvent<T> = Object.freeze({
        previous,
        current,
        reason,
        retirePrevious,
        drainBy,
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
        this.#log.error({ path: this.#path, err: describe(error) }, 'a rotated listener threw');
      }
    }
    return waits;
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

function noop(): void {}

/** A thrown value, for a log line (name and message only). */
export function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : 'non-error thrown';
}
