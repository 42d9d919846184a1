/**
 * The shape of {@link DatabaseCredentials} as a credential source delivers it, checked once: sources call
 * {@link checkDatabaseCredentials} on what they parsed; database clients (`@leasehold/pg`) check it again with
 * {@link databaseCredentialsProblem} before they connect with it. Messages name the field, never its value.
 */
import type { DatabaseCredentials } from '../lease/types.js';
import { Redacted } from '../redacted.js';
import { CredentialSourceError, type SourceRef } from './errors.js';

/** The longest host name (RFC 1035: 253 characters). */
const MAX_HOST = 253;

/**
 * What is wrong with `value` as {@link DatabaseCredentials} (`"port" must be an integer from 1 to 65535`), or
 * `undefined` when it is fine. Never quotes a value.
 */
export function databaseCredentialsProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return 'the value must be an object';
  const v = value as Record<string, unknown>;
  if (typeof v.username !== 'string' || v.username.length === 0)
    return '"username" must be a non-empty string';
  if (!Redacted.isRedacted(v.password) || typeof v.password.reveal() !== 'string') {
    return '"password" must be a Redacted<string> (Redacted.of(password))';
  }
  if (
    v.host !== undefined &&
    (typeof v.host !== 'string' || v.host.length === 0 || v.host.length > MAX_HOST || /[\s/]/.test(v.host))
  ) {
    return `"host" must be a host name or address (1–${MAX_HOST} characters, no spaces or slashes), or absent`;
  }
  if (
    v.port !== undefined &&
    !(Number.isInteger(v.port) && (v.port as number) >= 1 && (v.port as number) <= 65535)
  ) {
    return '"port" must be an integer from 1 to 65535, or absent';
  }
  if (v.database !== undefined && (typeof v.database !== 'string' || v.database.length === 0)) {
    return '"database" must be a non-empty string, or absent';
  }
  return undefined;
}

/**
 * Checks that `value` is {@link DatabaseCredentials} (`username`, a `Redacted` `password`, and optional `host`,
 * `port` 1–65535, `database`); throws a non-retryable `SOURCE_INVALID_RESPONSE` {@link CredentialSourceError}
 * naming the source and the field otherwise. For source implementations, on the value they parsed.
 *
 * @example
 * ```ts
 * const value = checkDatabaseCredentials(
 *   { username: json.username, password: Redacted.of(json.password), host: json.host, port: json.port },
 *   { kind: 'aws-secrets-manager', name: secretId },
 * );
 * ```
 */
export function checkDatabaseCredentials(value: unknown, source: SourceRef): DatabaseCredentials {
  const problem = databaseCredentialsProblem(value);
  if (problem) {
    throw new CredentialSourceError(
      'SOURCE_INVALID_RESPONSE',
      `the database credentials are not usable: ${problem}. Fix the secret's content at the source.`,
      { source, retryable: false },
    );
  }
  return value as DatabaseCredentials;
}
