/**
 * Every error of this package is a core `CredentialSourceError` made here, with `kind: 'doppler'` and the name of
 * what was read. Messages name the problem and the fix, never the token or a secret value.
 */
import type { CredentialSourceErrorCode } from '@leasehold/core';

/** Codes that the handle retries with backoff. */
const RETRYABLE: ReadonlySet<CredentialSourceErrorCode> = new Set(['SOURCE_UNAVAILABLE', 'SOURCE_TIMEOUT']);

/** Placeholder until the core's `CredentialSourceError` is merged: same fields. */
export class CredentialSourceError extends Error {
  readonly code: CredentialSourceErrorCode;
  readonly retryable: boolean;
  readonly source: { readonly kind: string; readonly name: string };
  constructor(
    code: CredentialSourceErrorCode,
    message: string,
    options: { source: { kind: string; name: string }; retryable?: boolean; cause?: unknown },
  ) {
    super(message, options.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = 'CredentialSourceError';
    this.code = code;
    this.retryable = options.retryable ?? RETRYABLE.has(code);
    this.source = options.source;
  }
}

/** A typed error of the Doppler source `name`. */
export function dopplerError(
  code: CredentialSourceErrorCode,
  name: string,
  message: string,
  cause?: unknown,
): CredentialSourceError {
  return new CredentialSourceError(code, `doppler (${name}): ${message}`, {
    source: { kind: 'doppler', name },
    retryable: RETRYABLE.has(code),
    ...(cause !== undefined ? { cause } : {}),
  });
}
