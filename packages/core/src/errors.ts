/**
 * One error root for everything the library throws, in the style of undici's `lib/core/errors.js`: a single
 * {@link VaultError} class with a stable string {@link VaultError.code}, the HTTP status, Vault's `errors[]`,
 * the request method and path, and the original `cause`.
 *
 * An error never carries a request or response body and never a token: only the path (without query string)
 * and Vault's error strings, which Vault itself never fills with secret values.
 */

/** Stable error codes. Match on these, never on messages. */
export const VaultErrorCode = {
  /** 403 `permission denied` from a valid token: a policy problem. Not retried. */
  PERMISSION_DENIED: 'VAULT_PERMISSION_DENIED',
  /** 403 `invalid token`: unknown, expired or revoked token. The client logs in again once and retries once. */
  INVALID_TOKEN: 'VAULT_INVALID_TOKEN',
  /** 404. */
  NOT_FOUND: 'VAULT_NOT_FOUND',
  /** 400, 405, 413, 415 and other 4xx: the request is wrong. */
  BAD_REQUEST: 'VAULT_BAD_REQUEST',
  /** 503 `Vault is sealed` (or the client's circuit knows the server is sealed). */
  SEALED: 'VAULT_SEALED',
  /** 429 rate-limit or lease-count quota. */
  RATE_LIMITED: 'VAULT_RATE_LIMITED',
  /** Network error, 502/503/504, or the circuit breaker is open. */
  UNAVAILABLE: 'VAULT_UNAVAILABLE',
  /** 500: Vault answered with an internal error (e.g. a backend's database failed). */
  SERVER_ERROR: 'VAULT_SERVER_ERROR',
  /** A request or `ready()` did not finish in time. */
  TIMEOUT: 'VAULT_TIMEOUT',
  /** The caller aborted the request with an `AbortSignal`. */
  ABORTED: 'VAULT_ABORTED',
  /** Invalid options, environment or files; the message names the option and the fix. */
  CONFIG: 'VAULT_CONFIG',
  /** An auth method's login was rejected (bad credentials, unknown role, …). */
  LOGIN_FAILED: 'VAULT_LOGIN_FAILED',
  /** Vault answered something that is not the documented shape (e.g. a login without `auth`). */
  INVALID_RESPONSE: 'VAULT_INVALID_RESPONSE',
  /** The client was closed. */
  CLOSED: 'VAULT_CLOSED',
  /** A leased secret expired before it could be renewed or re-issued. */
  LEASE_EXPIRED: 'VAULT_LEASE_EXPIRED',
  /** A KV check-and-set write lost: the key's current version is not the one given in `cas`. */
  CAS_MISMATCH: 'VAULT_CAS_MISMATCH',
} as const;

/** Union of every {@link VaultErrorCode} value. */
export type VaultErrorCode = (typeof VaultErrorCode)[keyof typeof VaultErrorCode];

/** What a {@link VaultError} may be constructed with. */
export interface VaultErrorOptions {
  /** HTTP status when Vault answered. */
  status?: number | undefined;
  /** Vault's `errors[]`, as sent. */
  errors?: readonly string[] | undefined;
  /** HTTP method of the request (`LIST` for lists). */
  method?: string | undefined;
  /** Request path relative to `/v1/`, without query string. */
  path?: string | undefined;
  /** The underlying error. */
  cause?: unknown;
  /** Whether retrying the same request later may succeed. Defaults from the code. */
  retryable?: boolean | undefined;
}

const brand = Symbol.for('leasehold.vault-error');

const RETRYABLE_CODES: ReadonlySet<VaultErrorCode> = new Set<VaultErrorCode>([
  VaultErrorCode.UNAVAILABLE,
  VaultErrorCode.SEALED,
  VaultErrorCode.RATE_LIMITED,
  VaultErrorCode.TIMEOUT,
  VaultErrorCode.SERVER_ERROR,
]);

/** The one error class the library throws. */
export class VaultError extends Error {
  override readonly name = 'VaultError';
  /** Stable machine-readable code. */
  readonly code: VaultErrorCode;
  /** HTTP status, when Vault answered. */
  readonly status: number | undefined;
  /** Vault's `errors[]` (empty when Vault did not answer). */
  readonly errors: readonly string[];
  /** Request method, when the error belongs to a request. */
  readonly method: string | undefined;
  /** Request path relative to `/v1/` (never a query string or body). */
  readonly path: string | undefined;
  /** Whether the same request may succeed later. */
  readonly retryable: boolean;

  constructor(code: VaultErrorCode, message: string, options: VaultErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = options.status;
    this.errors = Object.freeze([...(options.errors ?? [])]);
    this.method = options.method;
    this.path = options.path === undefined ? undefined : stripQuery(options.path);
    this.retryable = options.retryable ?? RETRYABLE_CODES.has(code);
    Object.defineProperty(this, brand, { value: true });
  }

  /**
   * `error instanceof VaultError` is true for a `VaultError` from any copy of this library — the ESM and the
   * CommonJS build, or two installed versions — as undici does for its errors: the class is recognised by a
   * `Symbol.for` brand, not by its prototype chain. (A subclass keeps the ordinary prototype check.)
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    // biome-ignore lint/complexity/noThisInStatic: `this` is the class instanceof was asked about (maybe a subclass).
    if (this !== VaultError) return Function.prototype[Symbol.hasInstance].call(this, value);
    return VaultError.is(value);
  }

  /** True for a `VaultError` from any copy of this library (ESM and CommonJS builds), optionally with `code`. */
  static is(value: unknown, code?: VaultErrorCode): value is VaultError {
    if (typeof value !== 'object' || value === null || (value as Record<symbol, unknown>)[brand] !== true) {
      return false;
    }
    return code === undefined || (value as VaultError).code === code;
  }
}

/** Shorthand for a {@link VaultErrorCode.CONFIG} error. */
export function configError(option: string, problem: string, fix: string, cause?: unknown): VaultError {
  return new VaultError(VaultErrorCode.CONFIG, `Invalid option "${option}": ${problem}. ${fix}`, { cause });
}

function stripQuery(path: string): string {
  const q = path.indexOf('?');
  return q === -1 ? path : path.slice(0, q);
}

/** True when Vault's errors say the token itself is bad (unknown, expired, revoked), not just lacking policy. */
export function isInvalidTokenMessage(errors: readonly string[]): boolean {
  return errors.some((e) => /invalid token|bad token|token not found|token expired/i.test(e));
}

/** True when Vault's errors say the server is sealed. */
export function isSealedMessage(errors: readonly string[]): boolean {
  return errors.some((e) => /vault is sealed/i.test(e));
}

/**
 * Maps an HTTP error status and Vault's `errors[]` to a {@link VaultError}
 * (https://developer.hashicorp.com/vault/api-docs#http-status-codes).
 * The message is built from the method, path, status and Vault's own error strings only.
 */
export function errorFromResponse(
  status: number,
  errors: readonly string[],
  method: string,
  path: string,
): VaultError {
  let code: VaultErrorCode;
  if (status === 403) {
    code = isInvalidTokenMessage(errors) ? VaultErrorCode.INVALID_TOKEN : VaultErrorCode.PERMISSION_DENIED;
  } else if (status === 404) {
    code = VaultErrorCode.NOT_FOUND;
  } else if (status === 429) {
    code = VaultErrorCode.RATE_LIMITED;
  } else if (status === 503 && isSealedMessage(errors)) {
    code = VaultErrorCode.SEALED;
  } else if (status === 500) {
    code = VaultErrorCode.SERVER_ERROR;
  } else if (status >= 500) {
    code = status === 501 ? VaultErrorCode.SERVER_ERROR : VaultErrorCode.UNAVAILABLE;
  } else if (status === 412) {
    code = VaultErrorCode.UNAVAILABLE;
  } else {
    code = VaultErrorCode.BAD_REQUEST;
  }
  const detail = errors.length > 0 ? errors.map((e) => e.trim()).join('; ') : 'no error message';
  const cleanPath = stripQuery(path);
  return new VaultError(code, `${method} ${cleanPath} failed with ${status}: ${detail}`, {
    status,
    errors,
    method,
    path: cleanPath,
  });
}
