/**
 * A local stand-in for AWS Secrets Manager, for `@leasehold/aws`'s tests, speaking the real wire protocol so the
 * real `@aws-sdk/client-secrets-manager` talks to it unchanged: AWS JSON 1.1 (`POST /`,
 * `X-Amz-Target: secretsmanager.<Operation>`, `Content-Type: application/x-amz-json-1.1`), SigV4 checked against
 * known test credentials (`sigv4.ts`), errors as `{ "__type", "message" }` with AWS's exception names.
 *
 * Operations, as the API reference documents them
 * (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_Operations.html):
 * - `CreateSecret` (`Name`, `SecretString`, `ClientRequestToken`): the first version gets `AWSCURRENT`;
 * - `GetSecretValue` (`SecretId`, `VersionId`, `VersionStage`; default `AWSCURRENT`);
 * - `DescribeSecret`: `VersionIdsToStages` lists the versions that have a staging label (unlabelled versions are
 *   deprecated), `RotationEnabled`, `LastChangedDate`, `LastRotatedDate`, …;
 * - `PutSecretValue` (`ClientRequestToken` = the new `VersionId`, idempotent for the same value and
 *   `ResourceExistsException` for another; `VersionStages`, default `AWSCURRENT`);
 * - `UpdateSecretVersionStage` (`VersionStage`, `MoveToVersionId`, `RemoveFromVersionId`): a label held by another
 *   version must be named in `RemoveFromVersionId`; whenever `AWSCURRENT` moves, `AWSPREVIOUS` moves to the version
 *   `AWSCURRENT` was removed from.
 *
 * Refusals: bad signatures as AWS's JSON services answer them (`UnrecognizedClientException` for an unknown key,
 * `InvalidSignatureException` for a wrong or expired signature, `IncompleteSignatureException`,
 * `MissingAuthenticationTokenException`), `AccessDeniedException` for an identity not allowed the operation,
 * `ResourceNotFoundException`, `InvalidParameterException`, `InvalidRequestException`. {@link
 * SecretsManagerStandIn.failNext} injects throttling, 5xx or a request that never answers.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readBody, type SigV4Failure, type SigV4Identity, verifySignedRequest } from './sigv4.js';

/** A test identity the stand-in accepts. */
export interface SecretsManagerIdentity extends SigV4Identity {
  /** Principal ARN shown in `AccessDeniedException` messages (default: an IAM user named after the key). */
  arn?: string;
  /** Operations this identity may call (e.g. `['GetSecretValue', 'DescribeSecret']`; default: all). */
  allow?: readonly string[];
}

/** Options of {@link startSecretsManagerStandIn}. */
export interface SecretsManagerStandInOptions {
  identities: SecretsManagerIdentity[];
  /** Region in the secrets' ARNs (default `us-east-1`). */
  region?: string;
  /** Account in the secrets' ARNs (default `123456789012`). */
  account?: string;
  /** The stand-in's clock (default `Date.now`): signatures more than 15 min away are refused. */
  now?: () => number;
}

/** One answered request. */
export interface SecretsManagerCall {
  operation: string;
  /** `ok` or the exception name. */
  outcome: string;
  accessKeyId: string;
  /** The `VersionStage` / `VersionId` asked for (GetSecretValue). */
  versionStage?: string;
  versionId?: string;
}

/** An error {@link SecretsManagerStandIn.failNext} injects, or `hang` (never answered until `close()`). */
export type InjectedFault = { type: string; status: number; message?: string } | 'hang';

/** A running stand-in. */
export interface SecretsManagerStandIn {
  /** Base URL, e.g. `http://127.0.0.1:40123` (the client's `endpoint`). */
  readonly url: string;
  readonly region: string;
  /** Every request answered, in order. */
  readonly calls: readonly SecretsManagerCall[];
  /** Creates a secret directly (test set-up); returns its ARN and first version id. */
  createSecret(
    name: string,
    secretString: string,
    options?: { rotationEnabled?: boolean },
  ): { arn: string; versionId: string };
  /** Version id → staging labels of `name` (labelled versions only, as `DescribeSecret` lists them). */
  stages(name: string): Record<string, string[]>;
  /** The next `times` calls of `operation` (or of any operation for `*`) fail with `fault`. */
  failNext(operation: string, fault: InjectedFault, times?: number): void;
  close(): Promise<void>;
}

interface Version {
  readonly id: string;
  readonly secretString: string;
  readonly created: number;
  readonly stages: Set<string>;
}

interface Secret {
  readonly name: string;
  readonly arn: string;
  readonly created: number;
  lastChanged: number;
  lastRotated?: number;
  rotationEnabled: boolean;
  readonly versions: Map<string, Version>;
}

class ApiError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

const OPERATIONS = [
  'CreateSecret',
  'GetSecretValue',
  'DescribeSecret',
  'PutSecretValue',
  'UpdateSecretVersionStage',
] as const;

/** The exception a JSON-protocol AWS service answers for each way a signature fails (all HTTP 400). */
const SIGNATURE_ERRORS: Record<SigV4Failure, string> = {
  missing: 'MissingAuthenticationTokenException',
  'unknown-key': 'UnrecognizedClientException',
  'bad-date': 'IncompleteSignatureException',
  expired: 'InvalidSignatureException',
  'wrong-service': 'InvalidSignatureException',
  mismatch: 'InvalidSignatureException',
};

const seconds = (ms: number): number => ms / 1000;

function str(body: Record<string, unknown>, field: string, required = false): string | undefined {
  const v = body[field];
  if (v === undefined || v === null) {
    if (required) throw new ApiError('InvalidParameterException', `You must provide a value for ${field}.`);
    return undefined;
  }
  if (typeof v !== 'string' || v.length === 0)
    throw new ApiError('InvalidParameterException', `${field} must be a non-empty string.`);
  return v;
}

/** Starts the stand-in on 127.0.0.1 (a free port). */
export async function startSecretsManagerStandIn(
  options: SecretsManagerStandInOptions,
): Promise<SecretsManagerStandIn> {
  const now = options.now ?? Date.now;
  const region = options.region ?? 'us-east-1';
  const account = options.account ?? '123456789012';
  const secrets = new Map<string, Secret>();
  const calls: SecretsManagerCall[] = [];
  const faults: Array<{ operation: string; fault: InjectedFault; times: number }> = [];
  const hanging = new Set<ServerResponse>();

  function create(name: string, secretString: string, token: string, rotationEnabled = false): Secret {
    if (secrets.has(name))
      throw new ApiError(
        'ResourceExistsException',
        `The operation failed because the secret ${name} already exists.`,
      );
    const at = now();
    const secret: Secret = {
      name,
      arn: `arn:aws:secretsmanager:${region}:${account}:secret:${name}-${randomBytes(3).toString('hex')}`,
      created: at,
      lastChanged: at,
      rotationEnabled,
      versions: new Map([[token, { id: token, secretString, created: at, stages: new Set(['AWSCURRENT']) }]]),
    };
    secrets.set(name, secret);
    return secret;
  }

  function find(secretId: string): Secret {
    const secret = secrets.get(secretId) ?? [...secrets.values()].find((s) => s.arn === secretId);
    if (!secret)
      throw new ApiError('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
    return secret;
  }

  function holder(secret: Secret, stage: string): Version | undefined {
    return [...secret.versions.values()].find((v) => v.stages.has(stage));
  }

  /** Attaches `stage` to `to`, detaching it from its holder; `AWSPREVIOUS` follows a moved `AWSCURRENT`. */
  function attach(secret: Secret, stage: string, to: Version): void {
    const from = holder(secret, stage);
    if (from === to) return;
    from?.stages.delete(stage);
    to.stages.add(stage);
    if (stage === 'AWSCURRENT' && from) {
      holder(secret, 'AWSPREVIOUS')?.stages.delete('AWSPREVIOUS');
      from.stages.add('AWSPREVIOUS');
      secret.lastRotated = now();
    }
    secret.lastChanged = now();
  }

  function labelled(secret: Secret): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    for (const v of secret.versions.values()) if (v.stages.size > 0) out[v.id] = [...v.stages].sort();
    return out;
  }

  const operations: Record<
    (typeof OPERATIONS)[number],
    (body: Record<string, unknown>, call: SecretsManagerCall) => unknown
  > = {
    CreateSecret(body) {
      const name = str(body, 'Name', true) as string;
      const value = str(body, 'SecretString', true) as string;
      const secret = create(name, value, str(body, 'ClientRequestToken') ?? randomUUID());
      const [version] = secret.versions.keys();
      return { ARN: secret.arn, Name: secret.name, VersionId: version };
    },
    GetSecretValue(body, call) {
      const secret = find(str(body, 'SecretId', true) as string);
      const versionId = str(body, 'VersionId');
      const stage = str(body, 'VersionStage');
      if (versionId !== undefined) call.versionId = versionId;
      if (stage !== undefined) call.versionStage = stage;
      let version: Version | undefined;
      if (versionId !== undefined) {
        version = secret.versions.get(versionId);
        if (!version || (stage !== undefined && !version.stages.has(stage)))
          throw new ApiError(
            'ResourceNotFoundException',
            `Secrets Manager can't find the specified secret value for VersionId: ${versionId}${stage !== undefined ? ` and staging label: ${stage}` : ''}`,
          );
      } else {
        version = holder(secret, stage ?? 'AWSCURRENT');
        if (!version)
          throw new ApiError(
            'ResourceNotFoundException',
            `Secrets Manager can't find the specified secret value for staging label: ${stage ?? 'AWSCURRENT'}`,
          );
      }
      return {
        ARN: secret.arn,
        Name: secret.name,
        VersionId: version.id,
        SecretString: version.secretString,
        VersionStages: [...version.stages].sort(),
        CreatedDate: seconds(version.created),
      };
    },
    DescribeSecret(body) {
      const secret = find(str(body, 'SecretId', true) as string);
      return {
        ARN: secret.arn,
        Name: secret.name,
        RotationEnabled: secret.rotationEnabled,
        CreatedDate: seconds(secret.created),
        LastChangedDate: seconds(secret.lastChanged),
        ...(secret.lastRotated !== undefined ? { LastRotatedDate: seconds(secret.lastRotated) } : {}),
        VersionIdsToStages: labelled(secret),
      };
    },
    PutSecretValue(body) {
      const secret = find(str(body, 'SecretId', true) as string);
      const token = str(body, 'ClientRequestToken', true) as string;
      if (token.length < 32 || token.length > 64)
        throw new ApiError(
          'InvalidParameterException',
          'ClientRequestToken must be 32 to 64 characters long.',
        );
      const value = str(body, 'SecretString', true) as string;
      const stages = body.VersionStages ?? ['AWSCURRENT'];
      if (!Array.isArray(stages) || stages.some((s) => typeof s !== 'string' || s.length === 0))
        throw new ApiError('InvalidParameterException', 'VersionStages must be a list of staging labels.');
      const existing = secret.versions.get(token);
      if (existing) {
        if (existing.secretString !== value)
          throw new ApiError(
            'ResourceExistsException',
            `You can't modify an existing version, you can only create a new version. VersionId: ${token}`,
          );
      } else {
        const version: Version = { id: token, secretString: value, created: now(), stages: new Set() };
        secret.versions.set(token, version);
        for (const stage of stages as string[]) attach(secret, stage, version);
        secret.lastChanged = now();
      }
      const version = secret.versions.get(token) as Version;
      return {
        ARN: secret.arn,
        Name: secret.name,
        VersionId: token,
        VersionStages: [...version.stages].sort(),
      };
    },
    UpdateSecretVersionStage(body) {
      const secret = find(str(body, 'SecretId', true) as string);
      const stage = str(body, 'VersionStage', true) as string;
      const moveTo = str(body, 'MoveToVersionId');
      const removeFrom = str(body, 'RemoveFromVersionId');
      const current = holder(secret, stage);
      if (removeFrom !== undefined && current?.id !== removeFrom)
        throw new ApiError(
          'InvalidParameterException',
          `The staging label ${stage} is not attached to version ${removeFrom}.`,
        );
      if (moveTo === undefined) {
        if (removeFrom === undefined)
          throw new ApiError(
            'InvalidParameterException',
            'You must specify MoveToVersionId or RemoveFromVersionId.',
          );
        if (stage === 'AWSCURRENT')
          throw new ApiError(
            'InvalidParameterException',
            'You can only move the staging label AWSCURRENT to another version, not remove it.',
          );
        current?.stages.delete(stage);
        secret.lastChanged = now();
        return { ARN: secret.arn, Name: secret.name };
      }
      const target = secret.versions.get(moveTo);
      if (!target)
        throw new ApiError(
          'ResourceNotFoundException',
          `Secrets Manager can't find the specified version: ${moveTo}`,
        );
      if (current && current !== target && removeFrom === undefined)
        throw new ApiError(
          'InvalidParameterException',
          `The staging label ${stage} is currently attached to version ${current.id}, so you must explicitly reference that version in RemoveFromVersionId.`,
        );
      attach(secret, stage, target);
      return { ARN: secret.arn, Name: secret.name };
    },
  };

  function send(res: ServerResponse, status: number, payload: unknown): void {
    res.writeHead(status, {
      'content-type': 'application/x-amz-json-1.1',
      'x-amzn-requestid': randomUUID(),
    });
    res.end(JSON.stringify(payload));
  }

  async function handle(req: IncomingMessage, res: ServerResponse, body: string): Promise<void> {
    const target = String(req.headers['x-amz-target'] ?? '');
    const operation = target.startsWith('secretsmanager.') ? target.slice('secretsmanager.'.length) : '';
    const call: SecretsManagerCall = { operation, outcome: 'ok', accessKeyId: '' };
    const refuse = (error: ApiError): void => {
      call.outcome = error.type;
      calls.push(call);
      send(res, error.status, { __type: error.type, message: error.message });
    };
    const url = new URL(req.url ?? '/', 'http://stand-in');
    const verified = await verifySignedRequest(
      {
        method: req.method ?? '',
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        headers: req.headers,
        body,
      },
      'secretsmanager',
      options.identities,
      now(),
    );
    if (!verified.ok) {
      call.accessKeyId = verified.accessKeyId;
      return refuse(new ApiError(SIGNATURE_ERRORS[verified.failure], verified.message));
    }
    const identity = verified.identity;
    call.accessKeyId = identity.accessKeyId;
    if (
      req.method !== 'POST' ||
      url.pathname !== '/' ||
      !(OPERATIONS as readonly string[]).includes(operation)
    )
      return refuse(
        new ApiError('UnknownOperationException', `Unknown operation ${target || '(no X-Amz-Target)'}.`),
      );
    if (!String(req.headers['content-type'] ?? '').startsWith('application/x-amz-json-1.1'))
      return refuse(
        new ApiError('SerializationException', 'Content-Type must be application/x-amz-json-1.1.'),
      );
    const fault = faults.find((f) => f.operation === operation || f.operation === '*');
    if (fault) {
      fault.times -= 1;
      if (fault.times <= 0) faults.splice(faults.indexOf(fault), 1);
      if (fault.fault === 'hang') {
        call.outcome = 'hang';
        calls.push(call);
        hanging.add(res);
        return;
      }
      return refuse(
        new ApiError(
          fault.fault.type,
          fault.fault.message ?? `Injected ${fault.fault.type}.`,
          fault.fault.status,
        ),
      );
    }
    let input: unknown;
    try {
      input = body === '' ? {} : JSON.parse(body);
    } catch {
      return refuse(new ApiError('SerializationException', 'The request body is not valid JSON.'));
    }
    if (typeof input !== 'object' || input === null || Array.isArray(input))
      return refuse(new ApiError('SerializationException', 'The request body must be a JSON object.'));
    const fields = input as Record<string, unknown>;
    if (identity.allow !== undefined && !identity.allow.includes(operation)) {
      const principal = identity.arn ?? `arn:aws:iam::${account}:user/${identity.accessKeyId}`;
      return refuse(
        new ApiError(
          'AccessDeniedException',
          `User: ${principal} is not authorized to perform: secretsmanager:${operation} on resource: ${String(fields.SecretId ?? fields.Name ?? '*')} because no identity-based policy allows the secretsmanager:${operation} action`,
        ),
      );
    }
    try {
      const result = operations[operation as (typeof OPERATIONS)[number]](fields, call);
      calls.push(call);
      send(res, 200, result);
    } catch (error) {
      if (error instanceof ApiError) return refuse(error);
      throw error;
    }
  }

  const server: Server = createServer((req, res) => {
    void (async () => {
      const body = await readBody(req);
      await handle(req, res, body);
    })().catch((error: unknown) => {
      if (!res.headersSent)
        send(res, 500, { __type: 'InternalServiceError', message: String((error as Error).message) });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    region,
    calls,
    createSecret(name, secretString, opts = {}) {
      const secret = create(name, secretString, randomUUID(), opts.rotationEnabled ?? false);
      const [versionId = ''] = secret.versions.keys();
      return { arn: secret.arn, versionId };
    },
    stages: (name) => labelled(find(name)),
    failNext(operation, fault, times = 1) {
      faults.push({ operation, fault, times });
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of hanging) res.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
