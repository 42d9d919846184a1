/**
 * `createVault()` options: validation (zod) and defaults from the environment variables the Vault CLI reads
 * (https://developer.hashicorp.com/vault/docs/commands#configure-environment-variables). Every mistake throws `VAULT_CONFIG` naming the option (or variable) and the fix.
 */

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { agent, appRole, token } from './auth/methods.js';
import type { AuthMethod } from './auth/types.js';
import type { CacheOptions } from './cache/secret-cache.js';
import type { Clock, RandomSource } from './clock.js';
import { VaultError, VaultErrorCode } from './errors.js';
import { cacheOptionsSchema, leaseOptionsSchema } from './lease/options.js';
import type { LeaseOptions } from './lease/types.js';
import type { BackoffOptions } from './lifetime.js';
import type { Logger } from './logger.js';
import { Redacted } from './redacted.js';
import type { CircuitBreakerOptions } from './transport/circuit.js';
import { type ParsedAddress, parseAddress, type RetryOptions, type TlsMaterial } from './transport/http.js';
import type { Transport } from './transport/types.js';
import {
  nonNegativeInt,
  parseDurationMs,
  parseGoBool,
  parseOptions,
  positiveInt,
  strictBoolean,
} from './validation.js';

/** PEM material given inline or as files. */
export interface TlsOptions {
  /** CA certificate(s) in PEM to trust (instead of the system store). */
  ca?: string | Buffer | Array<string | Buffer>;
  /** CA bundle file (`VAULT_CACERT`); takes precedence over `caPath`. */
  caFile?: string;
  /** Directory of CA PEM files (`VAULT_CAPATH`). */
  caPath?: string;
  /** Client certificate PEM for mTLS (and `auth.cert`). */
  cert?: string | Buffer;
  /** Client certificate file (`VAULT_CLIENT_CERT`). */
  certFile?: string;
  /** Client private key PEM. */
  key?: string | Buffer | Redacted<string>;
  /** Client private key file (`VAULT_CLIENT_KEY`). */
  keyFile?: string;
  /** TLS server name (SNI and verification) (`VAULT_TLS_SERVER_NAME`). */
  serverName?: string;
  /** Disable certificate verification (`VAULT_SKIP_VERIFY`). Never in production. */
  skipVerify?: boolean;
}

/** Options of `createVault()`. Every one is optional; defaults come from the environment. */
export interface VaultOptions {
  /** Vault address: `https://host:8200`, `http://…` or `unix:///path/agent.sock` (`VAULT_AGENT_ADDR`, `VAULT_ADDR`). */
  address?: string;
  /** Enterprise/OpenBao namespace sent as `X-Vault-Namespace` (`VAULT_NAMESPACE`). */
  namespace?: string;
  /** How to obtain a token (default: `VAULT_TOKEN`, else `VAULT_ROLE_ID` + `VAULT_SECRET_ID(_FILE)`, else agent mode with `VAULT_AGENT_ADDR`). */
  auth?: AuthMethod;
  /** TLS settings (defaults from `VAULT_CACERT`, `VAULT_CAPATH`, `VAULT_CLIENT_CERT`, `VAULT_CLIENT_KEY`, …). */
  tls?: TlsOptions;
  /** Per-attempt request timeout in ms (default 60000, `VAULT_CLIENT_TIMEOUT`). */
  timeoutMs?: number;
  /** Retry policy; `false` disables retries. `maxRetries` defaults to `VAULT_MAX_RETRIES` or 2. */
  retry?: Partial<RetryOptions> | false;
  /** Circuit breaker tuning; `false` disables it. */
  circuitBreaker?: Partial<CircuitBreakerOptions> | false;
  /** Token lifecycle. */
  token?: {
    /** Revoke a token obtained by login on `close()` (default true). A user-supplied token is never revoked. */
    revokeOnClose?: boolean;
    /** Renew with `renew-self` (default true). */
    renew?: boolean;
    /** Increment asked on renewals, seconds (default: the TTL granted at login). */
    incrementSeconds?: number;
    /** Backoff of failed logins. */
    loginBackoff?: Partial<BackoffOptions>;
    /** Backoff of failed renewals (default Vault's: 10 s, ×2, ±50 %, ≤ 5 min). */
    renewBackoff?: Partial<BackoffOptions>;
  };
  /** A pino-compatible logger (default: silent). The library never logs a secret. */
  logger?: Logger;
  /** Environment to read defaults from (default `process.env`). */
  env?: Record<string, string | undefined>;
  /** Injected clock (tests). */
  clock?: Clock;
  /** Injected randomness for jitter (tests). */
  random?: RandomSource;
  /** Injected transport (tests); replaces HTTP entirely. */
  transport?: Transport;
  /** Defaults of every lease handle (rotation margin, drain timeout, …); each engine call may override them. */
  leases?: LeaseOptions;
  /** Defaults of the static-secret cache (`kv.get`). */
  cache?: CacheOptions;
}

/** Fully resolved configuration. */
export interface ResolvedConfig {
  address: ParsedAddress;
  addressText: string;
  namespace: string | undefined;
  auth: AuthMethod;
  tls: TlsMaterial;
  timeoutMs: number;
  retry: RetryOptions;
  circuitBreaker: CircuitBreakerOptions | undefined;
  token: {
    revokeOnClose: boolean;
    renew: boolean;
    incrementSeconds: number | undefined;
    loginBackoff: Partial<BackoffOptions> | undefined;
    renewBackoff: Partial<BackoffOptions> | undefined;
  };
}

const pem = z.union([z.string().min(1, 'must not be empty'), z.instanceof(Buffer)]);

const backoffSchema = z
  .strictObject({
    initialMs: positiveInt,
    multiplier: z.number({ error: 'must be a number >= 1' }).min(1, 'must be a number >= 1'),
    randomizationFactor: z
      .number({ error: 'must be a number from 0 to 1' })
      .min(0, 'must be a number from 0 to 1')
      .max(1, 'must be a number from 0 to 1'),
    maxIntervalMs: positiveInt,
    maxElapsedMs: nonNegativeInt,
  })
  .partial();

const optionsSchema = z.strictObject({
  leases: leaseOptionsSchema.optional(),
  cache: cacheOptionsSchema.optional(),
  address: z.string().min(1, 'must not be empty').optional(),
  namespace: z.string().optional(),
  auth: z
    .custom<AuthMethod>(
      (v) =>
        typeof v === 'object' &&
        v !== null &&
        typeof (v as AuthMethod).login === 'function' &&
        typeof (v as AuthMethod).type === 'string',
      { message: 'must be an auth method such as auth.appRole({ roleId, secretIdFile })' },
    )
    .optional(),
  tls: z
    .strictObject({
      ca: z.union([pem, z.array(pem)]).optional(),
      caFile: z.string().min(1, 'must not be empty').optional(),
      caPath: z.string().min(1, 'must not be empty').optional(),
      cert: pem.optional(),
      certFile: z.string().min(1, 'must not be empty').optional(),
      key: z
        .union([pem, z.custom<Redacted<string>>((v) => Redacted.isRedacted(v), { message: 'must be PEM' })])
        .optional(),
      keyFile: z.string().min(1, 'must not be empty').optional(),
      serverName: z.string().min(1, 'must not be empty').optional(),
      skipVerify: strictBoolean.optional(),
    })
    .optional(),
  timeoutMs: positiveInt.optional(),
  retry: z
    .union([
      z.literal(false),
      z
        .strictObject({
          maxRetries: nonNegativeInt,
          initialDelayMs: positiveInt,
          maxDelayMs: positiveInt,
          maxElapsedMs: positiveInt,
        })
        .partial(),
    ])
    .optional(),
  circuitBreaker: z
    .union([
      z.literal(false),
      z
        .strictObject({
          failureThreshold: positiveInt,
          probeIntervalMs: positiveInt,
          maxProbeIntervalMs: positiveInt,
        })
        .partial(),
    ])
    .optional(),
  token: z
    .strictObject({
      revokeOnClose: strictBoolean.optional(),
      renew: strictBoolean.optional(),
      incrementSeconds: positiveInt.optional(),
      loginBackoff: backoffSchema.optional(),
      renewBackoff: backoffSchema.optional(),
    })
    .optional(),
  logger: z
    .custom<Logger>(
      (v) =>
        typeof v === 'object' &&
        v !== null &&
        ['debug', 'info', 'warn', 'error'].every(
          (m) => typeof (v as Record<string, unknown>)[m] === 'function',
        ),
      { message: 'must be a pino-compatible logger with debug/info/warn/error methods' },
    )
    .optional(),
  env: z.record(z.string(), z.string().optional()).optional(),
  clock: z
    .custom<Clock>(
      (v) =>
        typeof v === 'object' &&
        v !== null &&
        ['now', 'setTimeout', 'clearTimeout'].every(
          (m) => typeof (v as Record<string, unknown>)[m] === 'function',
        ),
      { message: 'must implement now/setTimeout/clearTimeout' },
    )
    .optional(),
  random: z
    .custom<RandomSource>((v) => typeof v === 'function', { message: 'must be a function' })
    .optional(),
  transport: z
    .custom<Transport>(
      (v) =>
        typeof v === 'object' &&
        v !== null &&
        typeof (v as Transport).request === 'function' &&
        typeof (v as Transport).close === 'function',
      {
        message: 'must implement request() and close()',
      },
    )
    .optional(),
});

function fail(option: string, problem: string, fix: string): never {
  throw new VaultError(VaultErrorCode.CONFIG, `Invalid option "${option}": ${problem}. ${fix}`);
}

function readPemFile(path: string, option: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (cause) {
    const code = (cause as { code?: string }).code ?? 'error';
    return fail(option, `cannot read ${path} (${code})`, 'Check the path and the file permissions');
  }
}

function readCaDir(dir: string, option: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (cause) {
    const code = (cause as { code?: string }).code ?? 'error';
    return fail(option, `cannot list ${dir} (${code})`, 'Give a directory of PEM CA certificates');
  }
  const pems: string[] = [];
  for (const name of names.sort()) {
    const file = join(dir, name);
    try {
      if (!statSync(file).isFile()) continue;
      const text = readFileSync(file, 'utf8');
      if (text.includes('-----BEGIN CERTIFICATE-----')) pems.push(text);
    } catch {
      // unreadable entries are skipped, as the Vault CLI does with non-PEM files
    }
  }
  if (pems.length === 0)
    fail(option, `${dir} holds no PEM certificate`, 'Put the CA certificates (PEM) in it');
  return pems;
}

const toText = (v: string | Buffer): string => (typeof v === 'string' ? v : v.toString('utf8'));

/** Validates options, fills defaults from the environment and loads TLS files. */
export function resolveConfig(input: VaultOptions | undefined): ResolvedConfig {
  const o = parseOptions(optionsSchema, input ?? {}, '', 'See the createVault() options in the README.');
  const env = o.env ?? process.env;
  const envStr = (name: string): string | undefined => {
    const v = env[name];
    return v === undefined || v === '' ? undefined : v;
  };

  // Address
  const addressText =
    o.address ?? envStr('VAULT_AGENT_ADDR') ?? envStr('VAULT_ADDR') ?? 'https://127.0.0.1:8200';
  const addressOption = o.address
    ? 'address'
    : envStr('VAULT_AGENT_ADDR')
      ? 'VAULT_AGENT_ADDR'
      : 'VAULT_ADDR';
  let address: ParsedAddress;
  try {
    address = parseAddress(addressText);
  } catch (cause) {
    return fail(
      addressOption,
      `"${addressText}" is not a Vault address (${(cause as Error).message})`,
      'Use https://host:8200, http://127.0.0.1:8200 or unix:///path/to/agent.sock',
    );
  }

  // TLS
  const t = o.tls ?? {};
  const skipEnv = envStr('VAULT_SKIP_VERIFY');
  let skipVerify = t.skipVerify;
  if (skipVerify === undefined && skipEnv !== undefined) {
    skipVerify = parseGoBool(skipEnv);
    if (skipVerify === undefined)
      fail('VAULT_SKIP_VERIFY', `"${skipEnv}" is not a boolean`, 'Use true or false');
  }
  let ca: string[] | undefined;
  if (t.ca !== undefined) ca = (Array.isArray(t.ca) ? t.ca : [t.ca]).map(toText);
  else if (t.caFile) ca = [readPemFile(t.caFile, 'tls.caFile')];
  else if (t.caPath) ca = readCaDir(t.caPath, 'tls.caPath');
  else {
    const caCert = envStr('VAULT_CACERT');
    const caDir = envStr('VAULT_CAPATH');
    if (caCert) ca = [readPemFile(caCert, 'VAULT_CACERT')];
    else if (caDir) ca = readCaDir(caDir, 'VAULT_CAPATH');
  }
  const certFileOption = t.certFile ? 'tls.certFile' : 'VAULT_CLIENT_CERT';
  const keyFileOption = t.keyFile ? 'tls.keyFile' : 'VAULT_CLIENT_KEY';
  const certFile = t.certFile ?? (t.cert === undefined ? envStr('VAULT_CLIENT_CERT') : undefined);
  const keyFile = t.keyFile ?? (t.key === undefined ? envStr('VAULT_CLIENT_KEY') : undefined);
  const cert =
    t.cert !== undefined ? toText(t.cert) : certFile ? readPemFile(certFile, certFileOption) : undefined;
  const key =
    t.key !== undefined
      ? Redacted.isRedacted(t.key)
        ? (t.key.reveal() as string)
        : toText(t.key as string | Buffer)
      : keyFile
        ? readPemFile(keyFile, keyFileOption)
        : undefined;
  if ((cert === undefined) !== (key === undefined)) {
    fail(
      cert === undefined ? 'tls.cert' : 'tls.key',
      'a client certificate needs both the certificate and its private key',
      'Set both tls.cert/tls.certFile and tls.key/tls.keyFile (or VAULT_CLIENT_CERT and VAULT_CLIENT_KEY)',
    );
  }
  const tls: TlsMaterial = {
    ca,
    cert,
    key,
    serverName: t.serverName ?? envStr('VAULT_TLS_SERVER_NAME'),
    skipVerify: skipVerify ?? false,
  };

  // Timeout and retries
  let timeoutMs = o.timeoutMs;
  const timeoutEnv = envStr('VAULT_CLIENT_TIMEOUT');
  if (timeoutMs === undefined && timeoutEnv !== undefined) {
    timeoutMs = parseDurationMs(timeoutEnv);
    if (timeoutMs === undefined || timeoutMs <= 0) {
      fail(
        'VAULT_CLIENT_TIMEOUT',
        `"${timeoutEnv}" is not a duration`,
        'Use seconds (60) or a Go duration (1m30s)',
      );
    }
  }
  let maxRetries = o.retry === false ? 0 : o.retry?.maxRetries;
  const retriesEnv = envStr('VAULT_MAX_RETRIES');
  if (maxRetries === undefined && retriesEnv !== undefined) {
    if (!/^\d+$/.test(retriesEnv))
      fail('VAULT_MAX_RETRIES', `"${retriesEnv}" is not a count`, 'Use 0, 1, 2, …');
    maxRetries = Number(retriesEnv);
  }
  const r = o.retry === false ? {} : (o.retry ?? {});
  const retry: RetryOptions = {
    maxRetries: maxRetries ?? 2,
    initialDelayMs: r.initialDelayMs ?? 1000,
    maxDelayMs: r.maxDelayMs ?? 10_000,
    maxElapsedMs: r.maxElapsedMs ?? 60_000,
  };
  const cb = o.circuitBreaker;
  const circuitBreaker =
    cb === false
      ? undefined
      : {
          failureThreshold: cb?.failureThreshold ?? 5,
          probeIntervalMs: cb?.probeIntervalMs ?? 1000,
          maxProbeIntervalMs: cb?.maxProbeIntervalMs ?? 30_000,
        };

  // Auth
  let auth = o.auth;
  if (!auth) {
    const envToken = envStr('VAULT_TOKEN');
    const roleId = envStr('VAULT_ROLE_ID');
    if (envToken) auth = token({ token: Redacted.of(envToken) });
    else if (roleId) {
      const secretId = envStr('VAULT_SECRET_ID');
      const secretIdFile = envStr('VAULT_SECRET_ID_FILE');
      if (secretId && secretIdFile) {
        fail(
          'VAULT_SECRET_ID',
          'both VAULT_SECRET_ID and VAULT_SECRET_ID_FILE are set',
          'Set only one of them',
        );
      }
      auth = appRole({
        roleId: Redacted.of(roleId),
        ...(secretId ? { secretId: Redacted.of(secretId) } : {}),
        ...(secretIdFile ? { secretIdFile } : {}),
      });
    } else if (envStr('VAULT_AGENT_ADDR')) auth = agent();
    else {
      fail(
        'auth',
        'no credentials were given',
        'Pass auth (e.g. auth.appRole({ roleId, secretIdFile })) or set VAULT_TOKEN, or VAULT_ROLE_ID with VAULT_SECRET_ID/VAULT_SECRET_ID_FILE, or VAULT_AGENT_ADDR for Vault Agent',
      );
    }
  }
  if (auth.requiresClientCertificate && (!cert || !key)) {
    fail(
      'tls.cert',
      `auth.${auth.type}() logs in with the TLS client certificate, but none is configured`,
      'Set tls.certFile and tls.keyFile (or VAULT_CLIENT_CERT and VAULT_CLIENT_KEY)',
    );
  }

  const tk = o.token ?? {};
  return {
    address,
    addressText,
    namespace: o.namespace ?? envStr('VAULT_NAMESPACE'),
    auth,
    tls,
    timeoutMs: timeoutMs ?? 60_000,
    retry,
    circuitBreaker,
    token: {
      revokeOnClose: tk.revokeOnClose ?? true,
      renew: tk.renew ?? true,
      incrementSeconds: tk.incrementSeconds,
      loginBackoff: tk.loginBackoff,
      renewBackoff: tk.renewBackoff,
    },
  };
}
