/**
 * Typed events. Every state transition of the client is an event; metrics and health are built on them.
 *
 * The emitter is deliberately not Node's `EventEmitter`: there is no special `error` event that crashes the
 * process, a throwing listener is logged and isolated, and `on()` returns an unsubscribe function.
 *
 * Payloads never contain a secret: tokens are identified by their accessor only.
 */
import type { VaultErrorCode } from './errors.js';
import type { CredentialSourceErrorCode } from './source/types.js';

/** Why the client logged in. */
export type LoginReason = 'initial' | 'expiring' | 'invalid-token' | 'renew-failed' | 'expired';

/** Every event the client emits, by name (the lease and cache modules' `lease:*` / `cache:*` events included). */
export interface VaultEvents {
  /** A login succeeded and the client now uses a new token. `previousAccessor` is the token it replaces. */
  login: {
    method: string;
    mount: string;
    accessor: string;
    previousAccessor: string | undefined;
    /**
     * When the replaced token ends, as this client last knew it (ms since epoch on the client's clock): `undefined`
     * when there is no previous token or it never expires. A lease issued under it lives at most until then.
     */
    previousExpiresAt: number | undefined;
    reason: LoginReason;
    /** Token TTL in seconds (0 = no expiry). */
    ttl: number;
    renewable: boolean;
    policies: readonly string[];
  };
  /** A login attempt failed; the next attempt is allowed in `retryInMs` (login backoff). */
  'login:failed': {
    method: string;
    mount: string;
    code: VaultErrorCode;
    message: string;
    attempt: number;
    retryInMs: number | undefined;
  };
  /** `renew-self` succeeded. `capped` is true when Vault capped the TTL at the token's max TTL. */
  'token:renewed': { accessor: string; ttl: number; renewable: boolean; capped: boolean };
  /** `renew-self` failed; the current token stays in use while it is valid. */
  'token:renew-failed': {
    accessor: string;
    code: VaultErrorCode;
    message: string;
    retryInMs: number | undefined;
  };
  /**
   * The token cannot be extended any more (max TTL, not renewable, renewals failing): a re-login follows. After
   * renewals that failed because Vault did not answer, each attempt renews the token first if it is still usable.
   */
  'token:expiring': {
    accessor: string;
    remainingMs: number;
    reason: 'max-ttl' | 'not-renewable' | 'renew-failed';
  };
  /** The current token expired before a new one could be obtained. */
  'token:expired': { accessor: string };
  /** Vault said the token is invalid (revoked out of band or expired). */
  'token:invalid': { accessor: string };
  /** A token the library obtained was revoked (on `close()`). */
  'token:revoked': { accessor: string };
  /** A request is retried after `delayMs`. */
  'request:retry': {
    method: string;
    path: string;
    attempt: number;
    delayMs: number;
    status: number | undefined;
    code: VaultErrorCode;
  };
  /** The circuit breaker opened: callers fail fast until a background probe sees Vault answer. */
  'circuit:open': { reason: 'unavailable' | 'sealed'; failures: number };
  /** A background probe ran while the circuit is open. */
  'circuit:probe': { ok: boolean; sealed: boolean | undefined };
  /** The circuit closed again: Vault answers. */
  'circuit:close': { openForMs: number };
  /** `close()` finished. */
  closed: Record<string, never>;
  /** A request finished (success or error). `template`: the path with names replaced (`database/creds/:role`). */
  request: {
    method: string;
    template: string;
    status: number | undefined;
    durationMs: number;
    code: VaultErrorCode | undefined;
  };
  /** A lease handle obtained a value (`generation` 1 = first issue; higher = re-issue). */
  'lease:issued': {
    key: string;
    path: string;
    leaseId: string;
    generation: number;
    ttl: number;
    renewable: boolean;
  };
  /**
   * Issuing failed; the handle retries in `retryInMs` (undefined: it gave up — permanent error). A lease built on a
   * credential source reports its `SOURCE_*` codes.
   */
  'lease:issue-failed': {
    key: string;
    path: string;
    code: VaultErrorCode | CredentialSourceErrorCode;
    retryInMs: number | undefined;
  };
  /** `sys/leases/renew` succeeded. `capped`: Vault cut the TTL at the lease's max TTL. */
  'lease:renewed': { key: string; path: string; leaseId: string; ttl: number; capped: boolean };
  /** `sys/leases/renew` failed; the current value stays in use while valid. */
  'lease:renew-failed': {
    key: string;
    path: string;
    leaseId: string;
    code: VaultErrorCode | CredentialSourceErrorCode;
    retryInMs: number | undefined;
  };
  /** The lease cannot be extended; a re-issue starts (`remainingMs` of validity left). */
  'lease:expiring': { key: string; path: string; leaseId: string; remainingMs: number; reason: string };
  /** A new value replaced the previous one. */
  'lease:rotated': {
    key: string;
    path: string;
    previousLeaseId: string;
    leaseId: string;
    generation: number;
    reason: string;
  };
  /** The value ended before a replacement was issued. */
  'lease:expired': { key: string; path: string; leaseId: string };
  /** A lease was revoked (`rotated`: previous generation after drain; `closed`; `lost`: Vault no longer knew it). */
  'lease:revoked': { key: string; path: string; leaseId: string; reason: 'rotated' | 'closed' | 'lost' };
  /** A static secret was served from the cache. */
  'cache:hit': { mount: string; path: string };
  /** A static secret was read from Vault. */
  'cache:miss': { mount: string; path: string };
  /** Vault failed and a cached value past its TTL was served (within the stale window). */
  'cache:stale': { mount: string; path: string; ageMs: number; code: VaultErrorCode };
}

/** A listener for event `K` of map `E`. */
export type Listener<E, K extends keyof E> = (payload: E[K]) => void;

/** A minimal typed event emitter. */
export class TypedEmitter<E extends object> {
  readonly #listeners = new Map<keyof E, Set<(payload: never) => void>>();
  readonly #onListenerError: (event: keyof E, error: unknown) => void;

  /** `onListenerError` receives exceptions thrown by listeners (default: ignored). */
  constructor(onListenerError: (event: keyof E, error: unknown) => void = () => {}) {
    this.#onListenerError = onListenerError;
  }

  /** Subscribes; returns a function that unsubscribes. */
  on<K extends keyof E>(event: K, listener: Listener<E, K>): () => void {
    let set = this.#listeners.get(event);
    if (!set) {
      set = new Set();
      this.#listeners.set(event, set);
    }
    set.add(listener as (payload: never) => void);
    return () => this.off(event, listener);
  }

  /** Subscribes for one emission. */
  once<K extends keyof E>(event: K, listener: Listener<E, K>): () => void {
    const off = this.on(event, (payload) => {
      off();
      listener(payload);
    });
    return off;
  }

  /** Unsubscribes a listener added with {@link on}. */
  off<K extends keyof E>(event: K, listener: Listener<E, K>): void {
    this.#listeners.get(event)?.delete(listener as (payload: never) => void);
  }

  /** Emits synchronously; a throwing listener does not affect others or the emitter. */
  emit<K extends keyof E>(event: K, payload: E[K]): void {
    const set = this.#listeners.get(event);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        (listener as Listener<E, K>)(payload);
      } catch (error) {
        this.#onListenerError(event, error);
      }
    }
  }

  /** Number of listeners for an event. */
  listenerCount(event: keyof E): number {
    return this.#listeners.get(event)?.size ?? 0;
  }

  /** Removes every listener. */
  removeAll(): void {
    this.#listeners.clear();
  }
}
