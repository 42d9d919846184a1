/**
 * The errors a rotating pool raises at run time (option mistakes are `VAULT_CONFIG` `VaultError`s from
 * `@leasehold/core`). Messages never hold a password: only generations, SQLSTATEs, durations and the messages of
 * the underlying errors (PostgreSQL's and Vault's own, which name users and paths, not secrets).
 */

/** Stable codes of {@link RotatingPoolError}. Match on these, never on messages. */
export const RotatingPoolErrorCode = {
  /**
   * No usable credentials within the pool's wait bound (`connectionTimeoutMillis`, or 30 s when it is 0): the
   * database refused the login (or the role was dropped) and Vault did not issue new credentials in time, or the
   * first credentials were not issued in time. `cause` is the last Vault error, else the database's.
   */
  CREDENTIALS_UNAVAILABLE: 'POOL_CREDENTIALS_UNAVAILABLE',
  /**
   * A statement was refused (SQLSTATE 42501) because the database role of its connection was dropped (its lease
   * or the token that owns it was revoked out of band), confirmed by a rejected login with the same credentials.
   * The statement did not run. `pool.query()` retries such a statement itself; inside an explicit transaction the
   * error reaches the caller: roll back, release the client and run the whole transaction again.
   */
  ROLE_DROPPED: 'POOL_ROLE_DROPPED',
} as const;

/** Union of every {@link RotatingPoolErrorCode} value. */
export type RotatingPoolErrorCode = (typeof RotatingPoolErrorCode)[keyof typeof RotatingPoolErrorCode];

const brand = Symbol.for('leasehold.rotating-pool-error');

/** What a {@link RotatingPoolError} is constructed with. */
export interface RotatingPoolErrorOptions {
  /** Credential generation of the connection (or of the credentials) concerned. */
  generation?: number | undefined;
  /** SQLSTATE of the database error behind this one (`42501`, `28P01`, …). */
  sqlState?: string | undefined;
  /** `ROLE_DROPPED`: whether the connection was inside an explicit transaction (then nothing is retried). */
  inTransaction?: boolean | undefined;
  cause?: unknown;
}

/** A run-time fault of a rotating pool, with a stable {@link RotatingPoolError.code}. */
export class RotatingPoolError extends Error {
  override readonly name = 'RotatingPoolError';
  readonly code: RotatingPoolErrorCode;
  /** Credential generation concerned, when known. */
  readonly generation: number | undefined;
  /** SQLSTATE of the underlying database error, when there is one. */
  readonly sqlState: string | undefined;
  /** `ROLE_DROPPED` only: the connection was inside an explicit transaction. */
  readonly inTransaction: boolean;
  /** Always true: the same work can succeed later (on new credentials). */
  readonly retryable = true;

  constructor(code: RotatingPoolErrorCode, message: string, options: RotatingPoolErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.generation = options.generation;
    this.sqlState = options.sqlState;
    this.inTransaction = options.inTransaction ?? false;
    Object.defineProperty(this, brand, { value: true });
  }

  /** True for a `RotatingPoolError` from any copy of this package (ESM and CommonJS builds), optionally with `code`. */
  static is(value: unknown, code?: RotatingPoolErrorCode): value is RotatingPoolError {
    if (typeof value !== 'object' || value === null || (value as Record<symbol, unknown>)[brand] !== true) {
      return false;
    }
    return code === undefined || (value as RotatingPoolError).code === code;
  }
}
