/**
 * {@link CredentialSourceError}: what a credential source (AWS Secrets Manager, RDS IAM tokens, Doppler, …) and the
 * lease built on it ({@link createSourceLease}) throw. Like `VaultError` it has a stable `code`, says whether a later
 * attempt may succeed (`retryable`), keeps the original `cause`, and is recognised across copies of the library
 * (ESM and CommonJS builds) by a `Symbol.for` brand. Its message names the source (kind and name) and never holds a
 * secret value: a source builds it from ids, field names, status codes and the provider's error codes only.
 */
import type { CredentialSourceErrorCode } from './types.js';

/** The kind and name of a source, as errors, logs and events name it. */
export interface SourceRef {
  readonly kind: string;
  readonly name: string;
}

/** What a {@link CredentialSourceError} may be constructed with. */
export interface CredentialSourceErrorOptions {
  /** The source the error belongs to (named in the message). */
  source: SourceRef;
  /** Whether a later attempt may succeed. Default: true for `SOURCE_UNAVAILABLE` and `SOURCE_TIMEOUT`. */
  retryable?: boolean | undefined;
  /** The underlying error (an SDK error, a network error). Never put a secret in it. */
  cause?: unknown;
}

const brand = Symbol.for('leasehold.credential-source-error');

const RETRYABLE: ReadonlySet<CredentialSourceErrorCode> = new Set<CredentialSourceErrorCode>([
  'SOURCE_UNAVAILABLE',
  'SOURCE_TIMEOUT',
]);

const CODES: ReadonlySet<string> = new Set<CredentialSourceErrorCode>([
  'SOURCE_CONFIG',
  'SOURCE_AUTH_FAILED',
  'SOURCE_NOT_FOUND',
  'SOURCE_UNAVAILABLE',
  'SOURCE_INVALID_RESPONSE',
  'SOURCE_TIMEOUT',
  'SOURCE_CLOSED',
]);

/**
 * The error of a credential source. `message` starts with the source (`aws-secrets-manager "prod/db": …`).
 *
 * @example
 * ```ts
 * throw new CredentialSourceError('SOURCE_NOT_FOUND', 'the secret does not exist. Check the secret id.', {
 *   source: { kind: 'aws-secrets-manager', name: 'prod/db' },
 * });
 * ```
 */
export class CredentialSourceError extends Error {
  override readonly name = 'CredentialSourceError';
  /** Stable machine-readable code. */
  readonly code: CredentialSourceErrorCode;
  /** The source's kind and name. */
  readonly source: SourceRef;
  /** Whether a later attempt may succeed (the lease retries these with backoff). */
  readonly retryable: boolean;

  /** `message` is the problem (and the fix); the source is prefixed to it. */
  constructor(code: CredentialSourceErrorCode, message: string, options: CredentialSourceErrorOptions) {
    const source = Object.freeze({ kind: String(options.source.kind), name: String(options.source.name) });
    super(
      `${source.kind} "${source.name}": ${message}`,
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.code = CODES.has(code) ? code : 'SOURCE_UNAVAILABLE';
    this.source = source;
    this.retryable = options.retryable ?? RETRYABLE.has(this.code);
    Object.defineProperty(this, brand, { value: true });
  }

  /** `instanceof` recognises the error from any copy of this library (a subclass keeps the prototype check). */
  static override [Symbol.hasInstance](value: unknown): boolean {
    // biome-ignore lint/complexity/noThisInStatic: `this` is the class instanceof was asked about (maybe a subclass).
    if (this !== CredentialSourceError) return Function.prototype[Symbol.hasInstance].call(this, value);
    return CredentialSourceError.is(value);
  }

  /** True for a `CredentialSourceError` from any copy of this library, optionally with `code`. */
  static is(value: unknown, code?: CredentialSourceErrorCode): value is CredentialSourceError {
    if (typeof value !== 'object' || value === null || (value as Record<symbol, unknown>)[brand] !== true) {
      return false;
    }
    return code === undefined || (value as CredentialSourceError).code === code;
  }
}

/**
 * Anything a source threw, as a {@link CredentialSourceError}: one is returned as is; any other value becomes a
 * retryable `SOURCE_UNAVAILABLE` naming the source (its message is the thrown error's name and message — a source
 * must not throw secrets).
 */
export function asSourceError(
  error: unknown,
  source: SourceRef,
  what = 'fetching the value failed',
): CredentialSourceError {
  if (CredentialSourceError.is(error)) return error;
  const detail = error instanceof Error ? `${error.name}: ${error.message}` : 'a non-error was thrown';
  return new CredentialSourceError('SOURCE_UNAVAILABLE', `${what} (${detail})`, {
    source,
    cause: error,
    retryable: true,
  });
}
