/**
 * Credential sources other than Vault (AWS Secrets Manager, RDS IAM tokens, Doppler, …) implement
 * {@link CredentialSource}; {@link createSourceLease} turns one into the same {@link Lease} handle the Vault engines
 * return, so `@leasehold/pg`, Knex, Prisma, the ORMs and the framework adapters follow it unchanged: `rotated` with
 * a drain, `reissue()` when the database refuses a login, generations, `ready()`, the same events and states.
 *
 * Nothing here knows about Vault. A source holds no timers: the handle polls, refreshes, retries with backoff and
 * rotates on the client's clock.
 */
import type { Clock, RandomSource } from '../clock.js';
import type { LeaseEventSink } from '../lease/publisher.js';
import type { Lease } from '../lease/types.js';
import type { Logger } from '../logger.js';

/** Why the handle asks a source for its value. */
export type SourceFetchReason =
  /** The first value. */
  | 'initial'
  /** A poll: {@link CredentialSource.version} reported a version other than the one held (or there is no `version()`). */
  | 'changed'
  /** The held value reaches its `refreshAt` / `expiresAt` (e.g. a 15-minute RDS IAM token). */
  | 'refresh'
  /** A consumer called `lease.reissue()` — typically the database refused the login (28P01). */
  | 'requested';

/** One value read from a source. */
export interface SourcedValue<T> {
  /** The value; secret parts are `Redacted`. Frozen by the handle. */
  readonly value: T;
  /**
   * The source's id of this value (Secrets Manager `VersionId`, a Doppler ETag or content hash, a token's issue
   * time). Two fetches with the same version are the same value: the handle does not rotate.
   */
  readonly version: string;
  /** When the value stops being valid (ms on the clock), if it does (RDS IAM tokens: 15 minutes). */
  readonly expiresAt?: number;
  /** When to fetch again regardless of polling (ms on the clock); default: before `expiresAt` by the margin. */
  readonly refreshAt?: number;
}

/**
 * How long a value is needed once a newer one exists:
 * - `session`: connections opened with the old value use it for their whole life (a password that is changed or a
 *   user that is dropped): a rotation drains them, as for a Vault re-issue;
 * - `login`: the value only matters when a connection logs in (RDS IAM tokens): open connections stay, only new
 *   logins take the new value.
 */
export type CredentialBinding = 'session' | 'login';

/** A source of a secret that changes over time. Implemented by `@leasehold/aws`, `@leasehold/doppler`, … */
export interface CredentialSource<T> {
  /** Kind of source, for errors, logs and metrics: `aws-secrets-manager`, `rds-iam`, `doppler`. */
  readonly kind: string;
  /** What is read, for errors, logs and metrics (a secret id, `host:port/user`, `project/config`) — never a secret. */
  readonly name: string;
  /** See {@link CredentialBinding}. */
  readonly binding: CredentialBinding;
  /**
   * Reads the current value. `reason` `changed` is a poll: {@link version} reported another version, or the source
   * has no `version()` (then every poll fetches and the handle compares versions). Throws a
   * {@link CredentialSourceError} (retried with backoff when `retryable`, a terminal failure of the first fetch
   * otherwise; after the first value every failure is retried and the held value stays in use). Anything else
   * thrown is treated as a retryable `SOURCE_UNAVAILABLE`. `signal` aborts when the handle is closed.
   */
  fetch(signal: AbortSignal, reason: SourceFetchReason): Promise<SourcedValue<T>>;
  /**
   * Optional cheap change check (Secrets Manager `DescribeSecret` stages, a Doppler `ETag` request): the version
   * current at the source now. The handle calls it every `pollIntervalMs` and fetches when it differs from the
   * held version. Without it the handle fetches on every poll and compares versions.
   */
  version?(signal: AbortSignal): Promise<string>;
  /** Releases what the source holds (HTTP agents). Called once when the handle ends. */
  close?(): Promise<void> | void;
}

/** Options of {@link createSourceLease}. */
export interface SourceLeaseOptions {
  /** Check the source for a new version this often (ms; default 60 000; 0 = only on refresh and `reissue()`). */
  pollIntervalMs?: number;
  /** Fetch this long before a value's `expiresAt` (ms; default 20 % of its lifetime, at least 30 s, at most half). */
  refreshMarginMs?: number;
  /** Longest wait for `rotated` listeners to drain (ms; default: no limit for `session`, 0 for `login` binding). */
  drainTimeoutMs?: number;
  /** Backoff of failed fetches and polls: first wait (default 1000 ms) and cap (default 30 000 ms). */
  retry?: { initialMs?: number; maxMs?: number };
  /** Timers and time (default: the system clock, timers `unref()`ed). */
  clock?: Clock;
  /** Jitter source (default `Math.random`). */
  random?: RandomSource;
  /** pino-compatible logger (default: silent). */
  logger?: Logger;
  /**
   * Where the client-wide `lease:*` events go (e.g. a Vault client, so its metrics count this lease too; anything
   * with `emit(event, payload)`). Default: none — the handle's own events are sent either way.
   */
  events?: LeaseEventSink;
}

/** A {@link Lease} built from a {@link CredentialSource}. `revoke()` ends it (nothing is revoked at the source). */
export interface SourceLease<T> extends Lease<T> {
  /** The source's kind and name. */
  readonly source: { readonly kind: string; readonly name: string };
  /** Same as `revoke()`: stops polling and refreshing, closes the source. Idempotent. */
  close(): Promise<void>;
}

/** Stable codes of {@link CredentialSourceError}. */
export type CredentialSourceErrorCode =
  /** Options or environment are wrong; the message names the option and the fix. Not retried. */
  | 'SOURCE_CONFIG'
  /** The source refused the credentials the library used (bad token, missing IAM permission). Not retried. */
  | 'SOURCE_AUTH_FAILED'
  /** The secret does not exist (or is not visible to the caller). Not retried. */
  | 'SOURCE_NOT_FOUND'
  /** Network error, throttling, 5xx: retried with backoff. */
  | 'SOURCE_UNAVAILABLE'
  /** The answer (or the secret's content) is not the documented shape; names the field, never its value. */
  | 'SOURCE_INVALID_RESPONSE'
  /** A fetch did not finish in time. Retried. */
  | 'SOURCE_TIMEOUT'
  /** The lease was closed. */
  | 'SOURCE_CLOSED';
