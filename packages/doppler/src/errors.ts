/**
 * Every error of this package is the core's `CredentialSourceError`, made here with `kind: 'doppler'` and the name
 * of what is read. Messages name the problem and the fix, never the token or a secret value.
 */
import { CredentialSourceError, type CredentialSourceErrorCode } from '@leasehold/core';

/** The source's kind, as errors, logs and metrics name it. */
export const DOPPLER_KIND = 'doppler';

/** A typed error of the Doppler source `name` (retryable as the core decides by code). */
export function dopplerError(
  code: CredentialSourceErrorCode,
  name: string,
  message: string,
  cause?: unknown,
): CredentialSourceError {
  return new CredentialSourceError(code, message, {
    source: { kind: DOPPLER_KIND, name },
    ...(cause !== undefined ? { cause } : {}),
  });
}
