/**
 * What both sources share: option checks, the region and endpoint rules of the AWS SDKs, loading the optional peer
 * SDK packages, the per-request deadline, and turning AWS SDK errors into `CredentialSourceError`s.
 */
import {
  type AwsCredentialProvider,
  type AwsCredentials,
  type Clock,
  CredentialSourceError,
  type CredentialSourceErrorCode,
  type SourceRef,
} from '@leasehold/core';

export type { SourceRef };

/** AWS credentials: fixed ones, or a provider (an AWS SDK v3 credential provider such as `fromNodeProviderChain()`). */
export type AwsCredentialsOption = AwsCredentials | AwsCredentialProvider;

/** Default deadline of one request to AWS (ms). */
export const DEFAULT_TIMEOUT_MS = 10_000;

const REGION = /^[a-z]{2}(-[a-z]+)+-\d+$/;

/** A `SOURCE_CONFIG` error (not retried). */
export function configError(source: SourceRef, message: string, cause?: unknown): CredentialSourceError {
  return new CredentialSourceError('SOURCE_CONFIG', message, {
    source,
    retryable: false,
    ...(cause !== undefined ? { cause } : {}),
  });
}

/** Throws `SOURCE_CONFIG` unless `options` is a plain object. */
export function requireObject(fn: string, options: unknown): Record<string, unknown> {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw configError({ kind: fn, name: '(options)' }, `${fn}() takes an options object`);
  }
  return options as Record<string, unknown>;
}

/** A required non-empty string option. */
export function requireString(
  source: SourceRef,
  fn: string,
  options: Record<string, unknown>,
  key: string,
): string {
  const v = options[key];
  if (typeof v !== 'string' || v.trim() === '') {
    throw configError(source, `${fn}({ ${key} }) must be a non-empty string`);
  }
  return v;
}

/** An optional positive finite number option (ms). */
export function optionalMs(
  source: SourceRef,
  fn: string,
  options: Record<string, unknown>,
  key: string,
  max = Number.MAX_SAFE_INTEGER,
): number | undefined {
  const v = options[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || v > max) {
    throw configError(source, `${fn}({ ${key} }) must be a number of milliseconds > 0 and ≤ ${max}`);
  }
  return v;
}

/** `credentials` as the SDKs take them (checked: an object with keys, or a function). */
export function credentialsOption(
  source: SourceRef,
  fn: string,
  options: Record<string, unknown>,
): AwsCredentialsOption | undefined {
  const v = options.credentials;
  if (v === undefined || typeof v === 'function') return v as AwsCredentialProvider | undefined;
  const c = v as Partial<AwsCredentials> | null;
  if (
    typeof c === 'object' &&
    c !== null &&
    typeof c.accessKeyId === 'string' &&
    c.accessKeyId !== '' &&
    typeof c.secretAccessKey === 'string' &&
    c.secretAccessKey !== ''
  ) {
    return c as AwsCredentials;
  }
  throw configError(
    source,
    `${fn}({ credentials }) must be { accessKeyId, secretAccessKey, sessionToken? } or a credential provider function (e.g. fromNodeProviderChain()); leave it out for the default chain`,
  );
}

/** The clock option (default: the system clock). */
export function clockOption(
  source: SourceRef,
  fn: string,
  options: Record<string, unknown>,
): Clock | undefined {
  const v = options.clock as Partial<Clock> | undefined;
  if (v === undefined) return undefined;
  if (
    typeof v?.now !== 'function' ||
    typeof v.setTimeout !== 'function' ||
    typeof v.clearTimeout !== 'function'
  ) {
    throw configError(source, `${fn}({ clock }) must be a Clock ({ now, setTimeout, clearTimeout })`);
  }
  return v as Clock;
}

/** `region` option, else `AWS_REGION`, else `AWS_DEFAULT_REGION`; checked. `undefined` when none is set. */
export function resolveRegion(source: SourceRef, fn: string, region: unknown): string | undefined {
  if (region !== undefined) {
    if (typeof region !== 'string' || !REGION.test(region)) {
      throw configError(source, `${fn}({ region }) must be an AWS region such as "eu-west-1"`);
    }
    return region;
  }
  const env = process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION;
  if (env === undefined) return undefined;
  if (!REGION.test(env)) {
    throw configError(
      source,
      `AWS_REGION / AWS_DEFAULT_REGION must be an AWS region such as "eu-west-1"; fix it or pass ${fn}({ region })`,
    );
  }
  return env;
}

/** `endpoint` option, else the first of `envNames` that is set; checked to be an http(s) URL. */
export function resolveEndpoint(
  source: SourceRef,
  fn: string,
  endpoint: unknown,
  envNames: readonly string[],
): string | undefined {
  let value = endpoint;
  let from = `${fn}({ endpoint })`;
  if (value === undefined) {
    const name = envNames.find((n) => process.env[n]);
    if (name === undefined) return undefined;
    value = process.env[name];
    from = name;
  }
  if (typeof value !== 'string' || !URL.canParse(value) || !/^https?:$/.test(new URL(value).protocol)) {
    throw configError(
      source,
      `${from} must be an http(s) URL such as "https://secretsmanager.eu-west-1.amazonaws.com"`,
    );
  }
  return value;
}

/** Loads an optional peer dependency, or throws `SOURCE_CONFIG` naming the package to install. */
export async function importPeer<T>(
  source: SourceRef,
  fn: string,
  name: string,
  load: () => Promise<T>,
): Promise<T> {
  try {
    return await load();
  } catch (cause) {
    throw configError(
      source,
      `${fn}() needs the optional peer dependency ${name}, which could not be loaded: install it (e.g. npm install ${name})`,
      cause,
    );
  }
}

/**
 * Runs `run` with a signal that aborts when `signal` does or after `timeoutMs` on `clock`; settles as soon as either
 * happens even if `run` ignores its signal. Throws `SOURCE_TIMEOUT` (retried) on the deadline, `SOURCE_CLOSED` when
 * `signal` aborted.
 */
export async function withDeadline<T>(
  source: SourceRef,
  clock: Clock,
  timeoutMs: number,
  signal: AbortSignal,
  what: string,
  run: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const controller = new AbortController();
  let timedOut = false;
  const stopped = new Promise<never>((_, reject) => {
    controller.signal.addEventListener('abort', () => reject(controller.signal.reason), { once: true });
  });
  stopped.catch(() => undefined);
  const onAbort = (): void => controller.abort(signal.reason);
  const timer = clock.setTimeout(() => {
    timedOut = true;
    controller.abort(new Error(`${what} timed out`));
  }, timeoutMs);
  signal.addEventListener('abort', onAbort, { once: true });
  if (signal.aborted) onAbort();
  try {
    const work = run(controller.signal);
    work.catch(() => undefined);
    return await Promise.race([work, stopped]);
  } catch (error) {
    if (timedOut) {
      throw new CredentialSourceError('SOURCE_TIMEOUT', `${what} did not answer within ${timeoutMs} ms`, {
        source,
        retryable: true,
      });
    }
    if (signal.aborted) {
      throw new CredentialSourceError('SOURCE_CLOSED', `${what} was cancelled: the lease was closed`, {
        source,
        retryable: false,
      });
    }
    throw error;
  } finally {
    clock.clearTimeout(timer);
    signal.removeEventListener('abort', onAbort);
  }
}

/** Exception names meaning the caller's AWS credentials or permissions were refused. */
const AUTH_FAILURES = new Set([
  'AccessDeniedException',
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'IncompleteSignatureException',
  'MissingAuthenticationTokenException',
  'InvalidClientTokenId',
  'SignatureDoesNotMatch',
  'NotAuthorized',
  'DecryptionFailure',
]);

/** Exception names meaning "try again later". */
const TRANSIENT = new Set([
  'ThrottlingException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'InternalServiceError',
  'InternalFailure',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
]);

interface AwsErrorShape {
  name?: unknown;
  message?: unknown;
  code?: unknown;
  $fault?: unknown;
  $metadata?: { httpStatusCode?: unknown };
}

/**
 * An AWS SDK (or network) error as a `CredentialSourceError`: refused credentials or permissions →
 * `SOURCE_AUTH_FAILED`; `ResourceNotFoundException` → `SOURCE_NOT_FOUND`; throttling, 5xx and network errors →
 * retryable `SOURCE_UNAVAILABLE`; other client errors (`InvalidRequestException`, …) → `SOURCE_CONFIG`. The message holds the exception name, the HTTP status and AWS's message (ids and
 * ARNs, never a secret value); `what` says what was asked.
 */
export function fromAwsError(
  source: SourceRef,
  what: string,
  error: unknown,
  hint = '',
): CredentialSourceError {
  if (CredentialSourceError.is(error)) return error;
  const e = (typeof error === 'object' && error !== null ? error : {}) as AwsErrorShape;
  const name = typeof e.name === 'string' ? e.name : 'Error';
  const status = typeof e.$metadata?.httpStatusCode === 'number' ? e.$metadata.httpStatusCode : undefined;
  const awsMessage = typeof e.message === 'string' ? e.message.split('\n')[0] : '';
  const detail = `${name}${status !== undefined ? ` (HTTP ${status})` : ''}${awsMessage ? `: ${awsMessage}` : ''}`;
  let code: CredentialSourceErrorCode;
  let retryable: boolean;
  let fix = '';
  if (AUTH_FAILURES.has(name)) {
    code = 'SOURCE_AUTH_FAILED';
    retryable = false;
    fix =
      name === 'AccessDeniedException' || name === 'DecryptionFailure'
        ? ` — grant the permission${hint}`
        : ' — check the AWS credentials the process uses (the credential chain, or the credentials option)';
  } else if (name === 'ExpiredTokenException' || name === 'ExpiredToken') {
    code = 'SOURCE_AUTH_FAILED';
    retryable = true;
    fix = ' — the session credentials expired; they are fetched again on the next attempt';
  } else if (name === 'ResourceNotFoundException') {
    code = 'SOURCE_NOT_FOUND';
    retryable = false;
    fix = ' — check the secret id (name or ARN) and the region';
  } else if (name === 'CredentialsProviderError') {
    code = 'SOURCE_UNAVAILABLE';
    retryable = true;
    fix =
      ' — no AWS credentials could be obtained; check the credential source (environment, shared config, web identity token file, ECS/EC2 metadata endpoint)';
  } else if (
    TRANSIENT.has(name) ||
    e.$fault === 'server' ||
    (status !== undefined && status >= 500) ||
    status === undefined
  ) {
    code = 'SOURCE_UNAVAILABLE';
    retryable = true;
  } else if (status === 429 || status === 408) {
    code = 'SOURCE_UNAVAILABLE';
    retryable = true;
  } else {
    // InvalidRequestException (e.g. the secret is scheduled for deletion), InvalidParameterException, …
    code = 'SOURCE_CONFIG';
    retryable = false;
    fix = ' — check the secret and the options';
  }
  return new CredentialSourceError(code, `${what} failed: ${detail}${fix}`, {
    source,
    retryable,
    cause: error,
  });
}
