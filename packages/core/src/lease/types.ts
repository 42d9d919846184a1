/**
 * The public lease API: every leased secret (dynamic database credentials, PKI certificates, static database
 * credentials that Vault rotates) is a {@link Lease} handle. The handle outlives the individual Vault leases it
 * holds: it renews them, re-issues them before they end, and tells its consumers through events. Its states and
 * the moves between them are one table, `LEASE_TRANSITIONS` (`publisher.ts`), shown in the "Lease states" section
 * of this package's README.
 *
 * Values are safe to log: secret parts of `T` (passwords, private keys) are {@link Redacted}; events carry lease
 * ids, never credentials.
 */
import type { VaultError } from '../errors.js';
import type { Redacted } from '../redacted.js';
import type { CredentialSourceError } from '../source/errors.js';

/** Where a lease handle is in its life. */
export type LeaseState =
  /** No value yet: the first issue is under way (or retrying). */
  | 'issuing'
  /** A value is held and was just issued (or re-issued). */
  | 'issued'
  /** A value is held and Vault extended it at least once. */
  | 'renewed'
  /**
   * The value can no longer be extended (max TTL, not renewable, renewals failing): a re-issue is under way. After
   * renewals that failed because Vault did not answer, each attempt renews the lease first if it is still valid.
   */
  | 'expiring'
  /** The value ended before a new one could be obtained; a re-issue is still being attempted. */
  | 'expired'
  /** Revoked by {@link Lease.revoke} or `vault.close()`: terminal. */
  | 'revoked'
  /** The first issue failed permanently (permission denied, unknown role, bad request): terminal. */
  | 'failed';

/** One value held by a handle. Each re-issue produces a new snapshot with `generation + 1`. */
export interface LeaseSnapshot<T> {
  /** The secret (secret parts are {@link Redacted}). */
  readonly value: T;
  /** Vault's lease id (`database/creds/app/…`); `''` for secrets without a Vault lease (static creds, PKI without `generate_lease`). */
  readonly leaseId: string;
  /** When this value was issued (ms since epoch). */
  readonly issuedAt: number;
  /** When this value ends, as last known (ms since epoch; `Infinity` when Vault gave no TTL). Moves on renewals. */
  readonly expiresAt: number;
  /** Whether Vault can still extend it. */
  readonly renewable: boolean;
  /** 1 for the first value, +1 per re-issue. Tag resources (connections) with it. */
  readonly generation: number;
}

/** Why a handle re-issued its secret. */
export type RotateReason =
  /** Vault capped the lease at its max TTL (or the TTL stopped growing): re-issued within the rotation margin. */
  | 'max-ttl'
  /** The lease is not renewable (PKI certificates, non-renewable secrets): re-issued before it ends. */
  | 'not-renewable'
  /** Renewals kept failing and the lease got within the rotation margin. */
  | 'renew-failed'
  /** Vault no longer knows the lease (revoked out of band, `lease not found`). */
  | 'lease-lost'
  /** The token that created the lease is being replaced (re-login): re-issued under the new token. */
  | 'token-changed'
  /** Vault rotated a static role's password. */
  | 'static-rotated'
  /** {@link Lease.reissue} was called (e.g. the database rejected the credentials). */
  | 'requested'
  /** The value expired and a new one was issued afterwards. */
  | 'expired'
  /** A credential source ({@link createSourceLease}) now serves another version (a rotation at the source). */
  | 'source-changed'
  /** A credential source's value reached its refresh time before its end (e.g. a 15-minute RDS IAM token). */
  | 'refresh';

/**
 * Payload of the `rotated` event. Each listener gets its own object.
 *
 * A listener says it has stopped using `previous` ("drained") in one of three ways:
 * - return a promise: drained when it settles;
 * - read `drained` (e.g. destructure it) and call it later;
 * - neither: drained as soon as the listener returns.
 *
 * The previous Vault lease is revoked once every listener drained, or after the handle's `drainTimeoutMs`, or
 * when it is about to expire anyway — whichever comes first.
 */
export interface LeaseRotateEvent<T> {
  readonly previous: LeaseSnapshot<T>;
  readonly current: LeaseSnapshot<T>;
  readonly reason: RotateReason;
  /**
   * Whether resources made with `previous` must be retired (connections closed once released). `true` for every
   * Vault lease (the previous lease is revoked after the drain) and for credential sources with `session` binding;
   * `false` for `login` binding (RDS IAM tokens): the value only mattered at login, open connections stay valid and
   * only new ones use `current`.
   */
  readonly retirePrevious: boolean;
  /**
   * When `previous` is retired at the latest, whether or not this listener drained (ms since epoch, on the
   * client's clock): the handle's `drainTimeoutMs` after the rotation, or just before `previous.expiresAt` —
   * whichever comes first; `Infinity` when neither bounds it. A consumer that replaces its resources gradually
   * (a pool reconnecting a few connections at a time) must finish before this instant: the previous Vault lease
   * is revoked then, and its database role dropped.
   */
  readonly drainBy: number;
  /** Call when nothing uses `previous` any more. Idempotent. Reading this property defers the drain until called. */
  readonly drained: () => void;
}

/**
 * Events of one handle, by name. Each is mirrored by a client-wide `lease:*` event of the same name (`issued` →
 * `lease:issued`, `renewed`, `rotated`, `expiring`, `expired`, `revoked`; `error` → `lease:issue-failed` /
 * `lease:renew-failed`). Names are in the past tense: they state facts that happened — except `expiring`, the
 * announcement that a re-issue starts.
 */
export interface LeaseEventMap<T> {
  /** The first value was issued (also resolves {@link Lease.ready}). */
  issued: { readonly current: LeaseSnapshot<T> };
  /** Vault extended the lease. `capped`: Vault cut the TTL at the lease's max TTL. */
  renewed: { readonly current: LeaseSnapshot<T>; readonly ttlMs: number; readonly capped: boolean };
  /** A new value replaced the previous one. See {@link LeaseRotateEvent}. */
  rotated: LeaseRotateEvent<T>;
  /** The current value cannot be extended; a re-issue starts now (`remainingMs` of validity left). */
  expiring: {
    readonly current: LeaseSnapshot<T>;
    readonly remainingMs: number;
    readonly reason: RotateReason;
  };
  /** The current value ended before a replacement could be issued. The handle keeps trying. */
  expired: { readonly previous: LeaseSnapshot<T> };
  /**
   * A Vault lease held by this handle was revoked: `rotated` (a previous generation, after drain), `closed`
   * (`vault.close()` / {@link Lease.revoke}), `lost` (Vault no longer knew it).
   */
  revoked: {
    readonly leaseId: string;
    readonly generation: number;
    readonly reason: 'rotated' | 'closed' | 'lost';
  };
  /** A renewal, re-issue or revocation failed. `retryInMs`: when the handle tries again (undefined: it does not). */
  error: {
    readonly error: LeaseError;
    readonly operation: 'issue' | 'renew' | 'revoke' | 'lookup';
    readonly retryInMs: number | undefined;
  };
}

/** A listener of {@link LeaseEventMap} event `K`. `rotated` listeners may return a promise (see {@link LeaseRotateEvent}). */
export type LeaseListener<T, K extends keyof LeaseEventMap<T>> = (
  payload: LeaseEventMap<T>[K],
) => K extends 'rotated' ? unknown : void;

/** Lifecycle options of a lease handle (per call, defaults from `createVault({ leases })`). */
export interface LeaseOptions {
  /**
   * How long before the end of a value that cannot be extended the handle re-issues it, so the new secret exists
   * while the old one is still valid. Default: 20 % of the lease duration, at least 30 s, at most half the lease.
   */
  rotationMarginMs?: number;
  /**
   * Longest wait for `rotated` listeners to drain before the previous lease is revoked. Default: until the previous
   * lease is about to expire (it is never revoked under a listener that has not drained before that).
   */
  drainTimeoutMs?: number;
  /** Increment asked on each renewal, seconds (default: the lease duration granted at issue). */
  incrementSeconds?: number;
  /**
   * Poll `sys/leases/lookup` this often to notice a lease revoked out of band (ms; 0 = off, the default). A lost
   * lease is otherwise noticed at the next renewal or when a consumer calls {@link Lease.reissue}.
   */
  lookupIntervalMs?: number;
  /** Backoff of failed renewals and re-issues: first wait (default 1000 ms) and cap (default 30 000 ms). */
  retry?: { initialMs?: number; maxMs?: number };
  /** Revoke the held lease on `vault.close()` (default true). */
  revokeOnClose?: boolean;
}

/** Options of {@link Lease.ready}. */
export interface LeaseReadyOptions {
  /** Reject with `VAULT_TIMEOUT` after this long (default 30 000 ms). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/**
 * A handle on a leased secret. Obtain it from an engine (`vault.database.credentials('app')`,
 * `vault.pki.certificate('web', { common_name })`); asking twice with the same arguments returns the same handle.
 *
 * @example
 * ```ts
 * const creds = vault.database.credentials('app-rw');
 * const { value, generation } = await creds.ready();
 * creds.on('rotated', async ({ previous, current }) => {
 *   await pool.switchTo(current.value);   // the previous lease is revoked when this settles
 * });
 * ```
 */
export interface Lease<T> {
  /** Stable key of the handle (`database/creds/app-rw`, plus options). */
  readonly key: string;
  /** The Vault path the secret is issued from. */
  readonly path: string;
  /** Current state. */
  readonly state: LeaseState;
  /**
   * Resolves with the current value once one is held. Rejects (with a {@link LeaseError}) when the first issue fails
   * permanently or times out.
   */
  ready(options?: LeaseReadyOptions): Promise<LeaseSnapshot<T>>;
  /**
   * The current value. Throws `VAULT_LEASE_EXPIRED` before the first issue, and after the handle was revoked or
   * failed. A value past its `expiresAt` (Vault unreachable) is still returned: check `expiresAt` if it matters.
   */
  current(): LeaseSnapshot<T>;
  /** Like {@link current} but returns `undefined` instead of throwing. */
  peek(): LeaseSnapshot<T> | undefined;
  /** Subscribes; returns an unsubscribe function. */
  on<K extends keyof LeaseEventMap<T>>(event: K, listener: LeaseListener<T, K>): () => void;
  /** Unsubscribes. */
  off<K extends keyof LeaseEventMap<T>>(event: K, listener: LeaseListener<T, K>): void;
  /**
   * Forces a re-issue now, e.g. when the database rejects the credentials (SQLSTATE 28P01). Single flight: calls
   * while a re-issue is under way share it. `ifGeneration`: only re-issue if the current generation is still this
   * one (so N connections failing at once with generation 3 cause one re-issue, not N). Resolves with the value in
   * use afterwards; the previous lease goes through the normal `rotated` → drain → revoke path.
   */
  reissue(options?: { reason?: string; ifGeneration?: number }): Promise<LeaseSnapshot<T>>;
  /** Stops renewing, revokes the held lease(s) (bounded), and ends the handle (`revoked`). Idempotent. */
  revoke(): Promise<void>;
}

/**
 * Database credentials: Vault's dynamic and static credentials (`database/creds/:role`), or a credential source's
 * value. A source may also say where to connect (an RDS secret in Secrets Manager carries `host`, `port` and
 * `dbname`): a database client then connects there, and its own options are the fallback for what is absent.
 */
export interface DatabaseCredentials {
  readonly username: string;
  readonly password: Redacted<string>;
  /** Host to connect to (wins over the pool's `host`). */
  readonly host?: string;
  /** Port to connect to, 1–65535 (wins over the pool's `port`). */
  readonly port?: number;
  /** Database name (wins over the pool's `database`). */
  readonly database?: string;
}

/** A PKI certificate with its private key (`pki/issue/:role`). */
export interface Certificate {
  /** PEM certificate. */
  readonly certificate: string;
  /** PEM private key. */
  readonly privateKey: Redacted<string>;
  readonly privateKeyType: string;
  /** PEM of the issuing CA. */
  readonly issuingCa: string;
  /** PEM chain (may be empty). */
  readonly caChain: readonly string[];
  readonly serialNumber: string;
  /** NotAfter, ms since epoch. */
  readonly notAfter: number;
}

/**
 * What a lease's `error` event carries and its `ready()` rejects with: a {@link VaultError} for Vault leases, a
 * {@link CredentialSourceError} for leases built on a credential source. Both have `code`, `retryable`, `message`.
 */
export type LeaseError = VaultError | CredentialSourceError;
