/**
 * RDS IAM database authentication
 * (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/UsingWithRDS.IAMDBAuth.html): the password is an auth
 * token — a SigV4-presigned `rds-db:connect` URL made by `@aws-sdk/rds-signer` — valid for 15 minutes, and only
 * checked when a connection logs in.
 */

import type { CredentialSource } from '@leasehold/core';
import {
  type Clock,
  CredentialSourceError,
  type DatabaseCredentials,
  Redacted,
  systemClock,
} from '@leasehold/core';
import {
  type AwsCredentialsOption,
  clockOption,
  configError,
  credentialsOption,
  DEFAULT_TIMEOUT_MS,
  fromAwsError,
  importPeer,
  optionalMs,
  requireObject,
  requireString,
  resolveRegion,
  type SourceRef,
  withDeadline,
} from './shared.js';

/** How long RDS accepts an auth token (`X-Amz-Expires=900`). */
export const RDS_TOKEN_LIFETIME_MS = 15 * 60 * 1000;

/** Options of {@link rdsIamCredentials}. */
export interface RdsIamCredentialsOptions {
  /** The DB instance or cluster endpoint the application connects to (the token is signed for `hostname:port`). */
  hostname: string;
  /** The database port (PostgreSQL: 5432). */
  port: number;
  /** The database user, granted `rds_iam` (PostgreSQL: `GRANT rds_iam TO <user>`). */
  username: string;
  /** Database name, passed on to the pool with the credentials. */
  database?: string;
  /** AWS region of the database (default `AWS_REGION`, then `AWS_DEFAULT_REGION`, then the SDK's resolution). */
  region?: string;
  /** AWS credentials (default: the standard chain, `fromNodeProviderChain()`). */
  credentials?: AwsCredentialsOption;
  /** Deadline of one token signing (it may have to fetch credentials), ms (default 10 000). */
  timeoutMs?: number;
  /**
   * How long each token is treated as valid, ms (default and maximum 900 000, the token's real lifetime). The lease
   * fetches a new token before this runs out; a shorter value only refreshes sooner (tests use it).
   */
  tokenLifetimeMs?: number;
  /** Clock for `expiresAt` and the deadline (default: the system clock). */
  clock?: Clock;
}

/** The `kind` of the source. */
export const RDS_IAM_KIND = 'rds-iam';

interface RdsSigner {
  getAuthToken(): Promise<string>;
}

const PEER = '@aws-sdk/rds-signer';
const FN = 'rdsIamCredentials';

/**
 * A `CredentialSource` of RDS IAM auth tokens for one database user, with `login` binding: the token is the
 * password of new logins only, so a new token never disturbs open connections. Each value expires 15 minutes after
 * it was signed (`expiresAt`), and the lease fetches the next one before that. Tokens are signed locally (no AWS
 * call) with the credentials of the standard chain; signing needs `rds-db:connect` on
 * `arn:aws:rds-db:<region>:<account>:dbuser:<DbiResourceId or cluster id>/<username>` only at login time, when RDS
 * checks it. Connect with TLS (`ssl: { ca: <the RDS CA bundle> }`): RDS refuses IAM logins without it. Needs the
 * optional peer `@aws-sdk/rds-signer`.
 *
 * @example
 * ```ts
 * const source = rdsIamCredentials({ hostname: 'app.cluster-abc.eu-west-1.rds.amazonaws.com', port: 5432, username: 'app' });
 * const lease = createSourceLease(source);
 * ```
 */
export function rdsIamCredentials(options: RdsIamCredentialsOptions): CredentialSource<DatabaseCredentials> {
  const o = requireObject(FN, options);
  const pre: SourceRef = { kind: RDS_IAM_KIND, name: '(incomplete options)' };
  const hostname = requireString(pre, FN, o, 'hostname');
  const username = requireString(pre, FN, o, 'username');
  if (typeof o.port !== 'number' || !Number.isInteger(o.port) || o.port < 1 || o.port > 65_535) {
    throw configError(pre, `${FN}({ port }) must be a port number (1–65535), e.g. 5432`);
  }
  const port: number = o.port;
  const source: SourceRef = { kind: RDS_IAM_KIND, name: `${hostname}:${port}/${username}` };
  const database = o.database === undefined ? undefined : requireString(source, FN, o, 'database');
  const region = resolveRegion(source, FN, o.region);
  const credentials = credentialsOption(source, FN, o);
  const timeoutMs = optionalMs(source, FN, o, 'timeoutMs') ?? DEFAULT_TIMEOUT_MS;
  const lifetimeMs =
    optionalMs(source, FN, o, 'tokenLifetimeMs', RDS_TOKEN_LIFETIME_MS) ?? RDS_TOKEN_LIFETIME_MS;
  const clock = clockOption(source, FN, o) ?? systemClock;

  let signer: Promise<RdsSigner> | undefined;
  let held: string | undefined;
  let signed = 0;
  let closed = false;

  function load(): Promise<RdsSigner> {
    signer ??= (async () => {
      const sdk = await importPeer(source, FN, PEER, () => import('@aws-sdk/rds-signer'));
      return new sdk.Signer({
        hostname,
        port,
        username,
        ...(region !== undefined ? { region } : {}),
        ...(credentials !== undefined ? { credentials } : {}),
      });
    })().catch((error: unknown) => {
      signer = undefined;
      throw error;
    });
    return signer;
  }

  return {
    kind: RDS_IAM_KIND,
    name: source.name,
    binding: 'login',
    /** No request: a token only changes when the lease refreshes it before `expiresAt`. */
    async version() {
      if (held === undefined) {
        throw new CredentialSourceError('SOURCE_UNAVAILABLE', 'no token was signed yet', {
          source,
          retryable: true,
        });
      }
      return held;
    },
    async fetch(signal) {
      if (closed) {
        throw new CredentialSourceError('SOURCE_CLOSED', 'the source was closed', {
          source,
          retryable: false,
        });
      }
      const s = await load();
      const signedAt = clock.now();
      let token: string;
      try {
        token = await withDeadline(source, clock, timeoutMs, signal, 'signing an RDS auth token', () =>
          s.getAuthToken(),
        );
      } catch (error) {
        throw fromAwsError(source, 'signing an RDS auth token', error);
      }
      if (typeof token !== 'string' || !token.includes('X-Amz-Signature=')) {
        throw new CredentialSourceError(
          'SOURCE_INVALID_RESPONSE',
          'the RDS signer returned no presigned token',
          {
            source,
            retryable: true,
          },
        );
      }
      // Signing time and a counter (nothing of the token: versions are logged).
      signed += 1;
      const version = `${new Date(signedAt).toISOString()}#${signed}`;
      held = version;
      return {
        value: {
          username,
          password: Redacted.of(token),
          host: hostname,
          port,
          ...(database !== undefined ? { database } : {}),
        },
        version,
        expiresAt: signedAt + lifetimeMs,
      };
    },
    close() {
      closed = true;
      signer = undefined;
    },
  };
}
