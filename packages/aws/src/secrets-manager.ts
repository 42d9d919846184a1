/**
 * Database credentials from an AWS Secrets Manager secret in the RDS format
 * (https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_secret_json_structure.html), followed
 * through its rotations
 * (https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotate-secrets_how.html): the version labelled
 * `AWSCURRENT` is the value; `DescribeSecret` tells cheaply when that label moved; while a rotation is between its
 * `setSecret` step (the database already has the new password) and its `finishSecret` step (the label moves), a
 * login the database refuses is answered with the `AWSPENDING` version.
 */

import type { CredentialSource, SourcedValue, SourceFetchReason } from '@leasehold/core';
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
  resolveEndpoint,
  resolveRegion,
  type SourceRef,
  withDeadline,
} from './shared.js';

/** Options of {@link secretsManagerCredentials}. */
export interface SecretsManagerCredentialsOptions {
  /** The secret's name or ARN (a full ARN for a secret of another account). */
  secretId: string;
  /** AWS region (default `AWS_REGION`, then `AWS_DEFAULT_REGION`, then the SDK's own resolution: shared config). */
  region?: string;
  /**
   * Endpoint URL (default `AWS_ENDPOINT_URL_SECRETS_MANAGER`, then `AWS_ENDPOINT_URL`, then the regional AWS
   * endpoint). For VPC endpoints, FIPS endpoints and local stand-ins.
   */
  endpoint?: string;
  /**
   * AWS credentials (default: the SDK's standard chain, `fromNodeProviderChain()`: environment, shared files, SSO,
   * web identity for EKS IRSA, ECS container credentials, EC2 IMDSv2).
   */
  credentials?: AwsCredentialsOption;
  /** Deadline of each request to Secrets Manager, ms (default 10 000). */
  timeoutMs?: number;
  /**
   * When the database refuses a login (`lease.reissue()`), use the `AWSPENDING` version if a rotation has one with
   * other credentials (default true). See the module documentation.
   */
  usePending?: boolean;
  /** Clock for the request deadlines (default: the system clock). */
  clock?: Clock;
}

/** The `kind` of the source. */
export const SECRETS_MANAGER_KIND = 'aws-secrets-manager';

/** The client operations the source uses, as the SDK's `SecretsManagerClient` has them. */
interface SmClient {
  send(command: unknown, options?: { abortSignal?: AbortSignal }): Promise<unknown>;
  destroy(): void;
}

interface SmSdk {
  SecretsManagerClient: new (config: Record<string, unknown>) => SmClient;
  GetSecretValueCommand: new (input: Record<string, unknown>) => unknown;
  DescribeSecretCommand: new (input: Record<string, unknown>) => unknown;
}

const PEER = '@aws-sdk/client-secrets-manager';
const FN = 'secretsManagerCredentials';
const PERMISSIONS =
  ' secretsmanager:GetSecretValue and secretsmanager:DescribeSecret on the secret (and kms:Decrypt on its key if it is a customer managed key)';

/** Reads a version's `SecretString` as RDS database credentials; `SOURCE_INVALID_RESPONSE` names the bad field. */
export function parseRdsSecret(
  source: SourceRef,
  versionId: string,
  secretString: unknown,
): DatabaseCredentials {
  const invalid = (problem: string): CredentialSourceError =>
    new CredentialSourceError(
      'SOURCE_INVALID_RESPONSE',
      `version ${versionId} of the secret is not RDS database credentials: ${problem} (the expected shape: https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_secret_json_structure.html)`,
      { source, retryable: false },
    );
  if (typeof secretString !== 'string') throw invalid('it has no SecretString (a binary secret?)');
  let parsed: unknown;
  try {
    parsed = JSON.parse(secretString);
  } catch {
    // The parser's message quotes the text: it is not kept.
    throw invalid('SecretString is not JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw invalid('SecretString is not a JSON object');
  }
  const o = parsed as Record<string, unknown>;
  const text = (key: string, required: boolean): string | undefined => {
    const v = o[key];
    if (v === undefined || v === null) {
      if (required) throw invalid(`"${key}" is missing`);
      return undefined;
    }
    if (typeof v !== 'string' || v === '') throw invalid(`"${key}" must be a non-empty string`);
    return v;
  };
  const username = text('username', true) as string;
  const password = text('password', true) as string;
  const host = text('host', false);
  const database = text('dbname', false);
  text('engine', false);
  let port: number | undefined;
  if (o.port !== undefined && o.port !== null) {
    // The RDS console stores the port as a number; hand-made secrets often have it as a string.
    const n = typeof o.port === 'string' && /^\d+$/.test(o.port) ? Number(o.port) : o.port;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 65_535) {
      throw invalid('"port" must be a port number (1–65535)');
    }
    port = n;
  }
  return {
    username,
    password: Redacted.of(password),
    ...(host !== undefined ? { host } : {}),
    ...(port !== undefined ? { port } : {}),
    ...(database !== undefined ? { database } : {}),
  };
}

/** `VersionIdsToStages` of a `DescribeSecret` answer, checked. */
function stagesOf(source: SourceRef, answer: unknown): Map<string, readonly string[]> {
  const raw = (answer as { VersionIdsToStages?: unknown } | undefined)?.VersionIdsToStages;
  const bad = (): CredentialSourceError =>
    new CredentialSourceError(
      'SOURCE_INVALID_RESPONSE',
      'DescribeSecret answered without a valid VersionIdsToStages (version id → staging labels)',
      { source, retryable: true },
    );
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw bad();
  const out = new Map<string, readonly string[]>();
  for (const [id, labels] of Object.entries(raw)) {
    if (!Array.isArray(labels) || labels.some((l) => typeof l !== 'string')) throw bad();
    out.set(id, labels as string[]);
  }
  return out;
}

function holding(stages: Map<string, readonly string[]>, label: string): string | undefined {
  for (const [id, labels] of stages) if (labels.includes(label)) return id;
  return undefined;
}

/**
 * A `CredentialSource` of database credentials kept in AWS Secrets Manager in the RDS JSON format
 * (`username`, `password`, and optionally `host`, `port`, `dbname`, `engine`), with `session` binding: a rotation
 * drains the connections of the old value. Hand it to `createSourceLease()` (or use {@link secretsManagerLease}).
 *
 * - `version()` is `DescribeSecret`: the id of the version labelled `AWSCURRENT` (metadata only, no secret read).
 * - `fetch()` is `GetSecretValue` of `AWSCURRENT`, except when the database refused a login (reason `requested`)
 *   during a rotation: if an `AWSPENDING` version with other credentials exists, it is used — with the single-user
 *   strategy the rotation function has already set that password in the database (`setSecret`) before it moves
 *   `AWSCURRENT` (`finishSecret`); with alternating users the pending user is the one just prepared. The source
 *   stays on that version while it is pending and follows `AWSCURRENT` once the label moves (the same version: no
 *   second rotation). A pending version the database refused too is not tried again.
 *
 * Errors name the kind `aws-secrets-manager` and the secret id: refused credentials or missing permissions →
 * `SOURCE_AUTH_FAILED`, unknown secret → `SOURCE_NOT_FOUND`, throttling / 5xx / network → retryable
 * `SOURCE_UNAVAILABLE`, a slow request → `SOURCE_TIMEOUT`, a secret not in the RDS format →
 * `SOURCE_INVALID_RESPONSE` naming the field (never a value). Needs the optional peer
 * `@aws-sdk/client-secrets-manager`.
 *
 * @example
 * ```ts
 * const source = secretsManagerCredentials({ secretId: 'prod/app/db', region: 'eu-west-1' });
 * const lease = createSourceLease(source, { pollIntervalMs: 30_000 });
 * const pool = createRotatingPool({ lease, database: 'app' });
 * ```
 */
export function secretsManagerCredentials(
  options: SecretsManagerCredentialsOptions,
): CredentialSource<DatabaseCredentials> {
  const o = requireObject(FN, options);
  const secretId = requireString({ kind: SECRETS_MANAGER_KIND, name: '(no secretId)' }, FN, o, 'secretId');
  const source: SourceRef = { kind: SECRETS_MANAGER_KIND, name: secretId };
  const region = resolveRegion(source, FN, o.region);
  const endpoint = resolveEndpoint(source, FN, o.endpoint, [
    'AWS_ENDPOINT_URL_SECRETS_MANAGER',
    'AWS_ENDPOINT_URL',
  ]);
  const credentials = credentialsOption(source, FN, o);
  const timeoutMs = optionalMs(source, FN, o, 'timeoutMs') ?? DEFAULT_TIMEOUT_MS;
  const clock = clockOption(source, FN, o) ?? systemClock;
  if (o.usePending !== undefined && typeof o.usePending !== 'boolean') {
    throw configError(source, `${FN}({ usePending }) must be a boolean`);
  }
  const usePending = o.usePending !== false;

  let client: Promise<{ sdk: SmSdk; client: SmClient }> | undefined;
  let closed = false;
  /** The `AWSPENDING` version served after a refused login, until the rotation finishes. */
  let pinned: string | undefined;
  /** Pending versions the database refused as well. */
  const refusedPending = new Set<string>();

  function connect(): Promise<{ sdk: SmSdk; client: SmClient }> {
    client ??= (async () => {
      const sdk = (await importPeer(
        source,
        FN,
        PEER,
        () => import('@aws-sdk/client-secrets-manager'),
      )) as unknown as SmSdk;
      const instance = new sdk.SecretsManagerClient({
        ...(region !== undefined ? { region } : {}),
        ...(endpoint !== undefined ? { endpoint } : {}),
        ...(credentials !== undefined ? { credentials } : {}),
        // The lease retries with its own backoff; one attempt per call keeps the deadline meaningful.
        maxAttempts: 1,
      });
      return { sdk, client: instance };
    })().catch((error: unknown) => {
      client = undefined;
      throw error;
    });
    return client;
  }

  async function call(signal: AbortSignal, what: string, command: (sdk: SmSdk) => unknown): Promise<unknown> {
    if (closed) {
      throw new CredentialSourceError('SOURCE_CLOSED', `${what}: the source was closed`, {
        source,
        retryable: false,
      });
    }
    const { sdk, client: c } = await connect();
    try {
      return await withDeadline(source, clock, timeoutMs, signal, what, (s) =>
        c.send(command(sdk), { abortSignal: s }),
      );
    } catch (error) {
      throw fromAwsError(source, what, error, PERMISSIONS);
    }
  }

  async function describe(signal: AbortSignal): Promise<Map<string, readonly string[]>> {
    const answer = await call(
      signal,
      'DescribeSecret',
      (sdk) => new sdk.DescribeSecretCommand({ SecretId: secretId }),
    );
    return stagesOf(source, answer);
  }

  async function get(
    signal: AbortSignal,
    select: { VersionStage: string } | { VersionId: string },
  ): Promise<SourcedValue<DatabaseCredentials>> {
    const what = 'VersionStage' in select ? `GetSecretValue ${select.VersionStage}` : 'GetSecretValue';
    const answer = (await call(
      signal,
      what,
      (sdk) => new sdk.GetSecretValueCommand({ SecretId: secretId, ...select }),
    )) as { VersionId?: unknown; SecretString?: unknown } | undefined;
    const versionId = answer?.VersionId;
    if (typeof versionId !== 'string' || versionId === '') {
      throw new CredentialSourceError(
        'SOURCE_INVALID_RESPONSE',
        'GetSecretValue answered without a VersionId',
        {
          source,
          retryable: true,
        },
      );
    }
    return { value: parseRdsSecret(source, versionId, answer?.SecretString), version: versionId };
  }

  /** Forgets the pinned version once the rotation ended: it became AWSCURRENT, or lost AWSPENDING. */
  function settle(stages: Map<string, readonly string[]>): void {
    if (pinned === undefined) return;
    const labels = stages.get(pinned) ?? [];
    if (!labels.includes('AWSPENDING') || labels.includes('AWSCURRENT')) pinned = undefined;
  }

  const same = (a: DatabaseCredentials, b: DatabaseCredentials): boolean =>
    a.username === b.username && a.password.reveal() === b.password.reveal();

  return {
    kind: SECRETS_MANAGER_KIND,
    name: secretId,
    binding: 'session',
    async version(signal) {
      const stages = await describe(signal);
      const current = holding(stages, 'AWSCURRENT');
      if (current === undefined) {
        throw new CredentialSourceError(
          'SOURCE_INVALID_RESPONSE',
          'DescribeSecret lists no version labelled AWSCURRENT',
          { source, retryable: true },
        );
      }
      settle(stages);
      // Serving a pending version: nothing changed while it is still pending.
      return pinned ?? current;
    },
    async fetch(signal: AbortSignal, reason: SourceFetchReason) {
      if (pinned === undefined && !(reason === 'requested' && usePending)) {
        return get(signal, { VersionStage: 'AWSCURRENT' });
      }
      const stages = await describe(signal);
      settle(stages);
      if (reason === 'requested' && usePending) {
        if (pinned !== undefined) {
          // The database refused the pending version too: back to AWSCURRENT, and never that version again.
          refusedPending.add(pinned);
          pinned = undefined;
          return get(signal, { VersionStage: 'AWSCURRENT' });
        }
        const pending = holding(stages, 'AWSPENDING');
        if (
          pending !== undefined &&
          pending !== holding(stages, 'AWSCURRENT') &&
          !refusedPending.has(pending)
        ) {
          const current = await get(signal, { VersionStage: 'AWSCURRENT' });
          let candidate: SourcedValue<DatabaseCredentials> | undefined;
          try {
            candidate = await get(signal, { VersionId: pending });
          } catch (error) {
            // The rotation ended (or was cleaned up) in between: AWSCURRENT is the answer.
            if (!CredentialSourceError.is(error, 'SOURCE_NOT_FOUND')) throw error;
          }
          if (candidate !== undefined && !same(candidate.value, current.value)) {
            pinned = pending;
            return candidate;
          }
          return current;
        }
      }
      if (pinned !== undefined) return get(signal, { VersionId: pinned });
      return get(signal, { VersionStage: 'AWSCURRENT' });
    },
    close() {
      closed = true;
      const c = client;
      client = undefined;
      c?.then((x) => x.client.destroy()).catch(() => undefined);
    },
  };
}
