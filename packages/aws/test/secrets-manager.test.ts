import { inspect } from 'node:util';
import {
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { CredentialSourceError, type DatabaseCredentials, type SourcedValue } from '@leasehold/core';
import { ManualClock } from '@leasehold/dev-server';
import { type SecretsManagerStandIn, startSecretsManagerStandIn, waitFor } from '@leasehold/test-env';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type SecretsManagerCredentialsOptions, secretsManagerCredentials } from '../src/index.js';
import { APP, DESCRIBE_ONLY, newPassword, REGION, ROTATOR, Rotator, rdsSecret } from './helpers.js';

let sm: SecretsManagerStandIn;
let seq = 0;
const sources: Array<{ close?(): unknown }> = [];
const signal = new AbortController().signal;

beforeAll(async () => {
  sm = await startSecretsManagerStandIn({ identities: [APP, ROTATOR, DESCRIBE_ONLY], region: REGION });
});
afterAll(async () => {
  await sm.close();
});
afterEach(async () => {
  for (const s of sources.splice(0)) await s.close?.();
});

function source(secretId: string, extra: Partial<SecretsManagerCredentialsOptions> = {}) {
  const s = secretsManagerCredentials({
    secretId,
    region: REGION,
    endpoint: sm.url,
    credentials: { accessKeyId: APP.accessKeyId, secretAccessKey: APP.secretAccessKey },
    ...extra,
  });
  sources.push(s);
  return s;
}

function secret(fields: Record<string, unknown> = {}): { name: string; versionId: string; password: string } {
  const name = `app/db-${++seq}`;
  const password = newPassword();
  const { versionId } = sm.createSecret(
    name,
    rdsSecret({ username: 'app', password, host: 'db.internal', port: 5432, dbname: 'app', ...fields }),
  );
  return { name, versionId, password };
}

async function sourceError(p: Promise<unknown>): Promise<CredentialSourceError> {
  const error = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(CredentialSourceError.is(error)).toBe(true);
  return error as CredentialSourceError;
}

describe('reading the secret', () => {
  it('fetch() reads AWSCURRENT as database credentials; version() is its version id from DescribeSecret', async () => {
    const s = secret();
    const src = source(s.name);
    expect(src.kind).toBe('aws-secrets-manager');
    expect(src.name).toBe(s.name);
    expect(src.binding).toBe('session');
    const got = await src.fetch(signal, 'initial');
    expect(got.version).toBe(s.versionId);
    expect(got.value).toMatchObject({ username: 'app', host: 'db.internal', port: 5432, database: 'app' });
    expect(got.value.password.reveal()).toBe(s.password);
    expect(got.expiresAt).toBeUndefined();
    expect(await src.version?.(signal)).toBe(s.versionId);
    const calls = sm.calls.filter((c) => c.accessKeyId === APP.accessKeyId).slice(-2);
    expect(calls.map((c) => [c.operation, c.versionStage])).toEqual([
      ['GetSecretValue', 'AWSCURRENT'],
      ['DescribeSecret', undefined],
    ]);
  });

  it('a string port is read as a number; host, port and dbname are optional', async () => {
    const a = secret({ port: '6432' });
    expect((await source(a.name).fetch(signal, 'initial')).value.port).toBe(6432);
    const name = `app/minimal-${++seq}`;
    sm.createSecret(name, JSON.stringify({ username: 'u', password: 'p' }));
    const got = await source(name).fetch(signal, 'initial');
    expect(Object.keys(got.value).sort()).toEqual(['password', 'username']);
  });

  it('keeps the password out of inspect, JSON and the source object', async () => {
    const s = secret();
    const src = source(s.name);
    const got = await src.fetch(signal, 'initial');
    for (const text of [
      inspect(got, { depth: 10 }),
      JSON.stringify(got),
      inspect(src, { depth: 10, showHidden: true }),
    ]) {
      expect(text).not.toContain(s.password);
      expect(text).not.toContain(APP.secretAccessKey);
    }
  });

  it.each([
    ['the password is missing', { password: undefined }, '"password" is missing'],
    ['the username is empty', { username: '' }, '"username" must be a non-empty string'],
    ['the port is not a port', { port: 70_000 }, '"port" must be a port number'],
    ['the host is a number', { host: 5 }, '"host" must be a non-empty string'],
  ])('SOURCE_INVALID_RESPONSE when %s, naming the field and never the value', async (_, fields, expected) => {
    const s = secret(fields);
    const error = await sourceError(source(s.name).fetch(signal, 'initial'));
    expect(error.code).toBe('SOURCE_INVALID_RESPONSE');
    expect(error.retryable).toBe(false);
    expect(error.message).toContain(expected);
    expect(error.message).toContain(`aws-secrets-manager "${s.name}"`);
    expect(error.message).not.toContain(s.password);
  });

  it('a SecretString that is not JSON is refused without quoting it', async () => {
    const name = `app/not-json-${++seq}`;
    sm.createSecret(name, 'hunter2-not-json');
    const error = await sourceError(source(name).fetch(signal, 'initial'));
    expect(error.code).toBe('SOURCE_INVALID_RESPONSE');
    expect(error.message).toContain('SecretString is not JSON');
    expect(error.message).not.toContain('hunter2');
    expect(error.cause).toBeUndefined();
  });
});

describe('rotation stages', () => {
  async function rotatorFor(name: string): Promise<Rotator> {
    const r = new Rotator(sm, name);
    sources.push({ close: () => r.close() });
    return r;
  }

  it('follows AWSCURRENT: version() changes when finishSecret moves it, AWSPREVIOUS follows', async () => {
    const s = secret();
    const src = source(s.name);
    const rotator = await rotatorFor(s.name);
    const next = newPassword();
    const token = await rotator.createSecret(rdsSecret({ username: 'app', password: next }));
    expect(await src.version?.(signal)).toBe(s.versionId);
    expect((await src.fetch(signal, 'changed')).version).toBe(s.versionId);
    await rotator.finishSecret(token);
    // UpdateSecretVersionStage moves AWSCURRENT only: AWSPENDING stays on the new version until the next rotation.
    expect(sm.stages(s.name)).toEqual({
      [s.versionId]: ['AWSPREVIOUS'],
      [token]: ['AWSCURRENT', 'AWSPENDING'],
    });
    expect(await src.version?.(signal)).toBe(token);
    const got = await src.fetch(signal, 'changed');
    expect(got.version).toBe(token);
    expect(got.value.password.reveal()).toBe(next);
  });

  it('single user: a refused login during a rotation takes AWSPENDING, and stays on it until it becomes AWSCURRENT', async () => {
    const s = secret();
    const src = source(s.name);
    const rotator = await rotatorFor(s.name);
    const next = newPassword();
    const token = await rotator.createSecret(rdsSecret({ username: 'app', password: next }));
    // setSecret changed the password in the database; the pool's login was refused: reissue().
    const pending = await src.fetch(signal, 'requested');
    expect(pending.version).toBe(token);
    expect(pending.value.password.reveal()).toBe(next);
    // Polls while the rotation is unfinished report the pending version: no rotation back.
    expect(await src.version?.(signal)).toBe(token);
    expect((await src.fetch(signal, 'changed')).version).toBe(token);
    await rotator.finishSecret(token);
    expect(await src.version?.(signal)).toBe(token);
    expect((await src.fetch(signal, 'changed')).version).toBe(token);
    // The next rotation: its refused login takes the new AWSPENDING (the finished one is not held against it).
    const third = await rotator.createSecret(rdsSecret({ username: 'app', password: newPassword() }));
    expect(await src.version?.(signal)).toBe(token);
    expect((await src.fetch(signal, 'requested')).version).toBe(third);
    await rotator.finishSecret(third);
    expect(await src.version?.(signal)).toBe(third);
    // And one followed by polling only.
    const fourth = await rotator.createSecret(rdsSecret({ username: 'app', password: newPassword() }));
    await rotator.finishSecret(fourth);
    expect(await src.version?.(signal)).toBe(fourth);
    expect((await src.fetch(signal, 'changed')).version).toBe(fourth);
  });

  it('alternating users: the pending version names the other user', async () => {
    const s = secret({ username: 'app_user' });
    const src = source(s.name);
    const rotator = await rotatorFor(s.name);
    const token = await rotator.createSecret(
      rdsSecret({ username: 'app_user_clone', password: newPassword() }),
    );
    const got = await src.fetch(signal, 'requested');
    expect(got.version).toBe(token);
    expect(got.value.username).toBe('app_user_clone');
  });

  it('a pending version the database refused too is left for AWSCURRENT and not tried again', async () => {
    const s = secret();
    const src = source(s.name);
    const rotator = await rotatorFor(s.name);
    const token = await rotator.createSecret(rdsSecret({ username: 'app', password: newPassword() }));
    expect((await src.fetch(signal, 'requested')).version).toBe(token);
    expect((await src.fetch(signal, 'requested')).version).toBe(s.versionId);
    expect((await src.fetch(signal, 'requested')).version).toBe(s.versionId);
    expect(await src.version?.(signal)).toBe(s.versionId);
  });

  it('AWSCURRENT when the pending version has the same credentials, or with usePending: false', async () => {
    const s = secret();
    const rotator = await rotatorFor(s.name);
    const current = await new SecretsManagerClient({
      region: REGION,
      endpoint: sm.url,
      credentials: { accessKeyId: ROTATOR.accessKeyId, secretAccessKey: ROTATOR.secretAccessKey },
    }).send(new GetSecretValueCommand({ SecretId: s.name }));
    await rotator.createSecret(current.SecretString ?? '');
    expect((await source(s.name).fetch(signal, 'requested')).version).toBe(s.versionId);

    const t = secret();
    const rotator2 = await rotatorFor(t.name);
    await rotator2.createSecret(rdsSecret({ username: 'app', password: newPassword() }));
    expect((await source(t.name, { usePending: false }).fetch(signal, 'requested')).version).toBe(
      t.versionId,
    );
  });
});

describe('errors', () => {
  it('an unknown secret is SOURCE_NOT_FOUND naming the kind and the secret id', async () => {
    const error = await sourceError(source('app/nope').fetch(signal, 'initial'));
    expect(error.code).toBe('SOURCE_NOT_FOUND');
    expect(error.retryable).toBe(false);
    expect(error.message).toMatch(/^aws-secrets-manager "app\/nope": .*ResourceNotFoundException/);
    expect(error.source).toEqual({ kind: 'aws-secrets-manager', name: 'app/nope' });
  });

  it.each([
    [
      'an unknown access key (UnrecognizedClientException)',
      { accessKeyId: 'AKIAUNKNOWN000000001', secretAccessKey: 'x' },
      'UnrecognizedClientException',
    ],
    [
      'a wrong secret key (InvalidSignatureException)',
      { accessKeyId: APP.accessKeyId, secretAccessKey: 'wrong' },
      'InvalidSignatureException',
    ],
  ])('%s is SOURCE_AUTH_FAILED', async (_, credentials, type) => {
    const s = secret();
    const error = await sourceError(source(s.name, { credentials }).fetch(signal, 'initial'));
    expect(error.code).toBe('SOURCE_AUTH_FAILED');
    expect(error.retryable).toBe(false);
    expect(error.message).toContain(type);
    expect(error.message).not.toContain(credentials.secretAccessKey === 'x' ? 'x"' : 'wrong');
    expect(sm.calls.at(-1)?.outcome).toBe(type);
  });

  it('a missing permission (AccessDeniedException) is SOURCE_AUTH_FAILED naming the permissions to grant', async () => {
    const s = secret();
    const src = source(s.name, {
      credentials: { accessKeyId: DESCRIBE_ONLY.accessKeyId, secretAccessKey: DESCRIBE_ONLY.secretAccessKey },
    });
    expect(await src.version?.(signal)).toBe(s.versionId);
    const error = await sourceError(src.fetch(signal, 'initial'));
    expect(error.code).toBe('SOURCE_AUTH_FAILED');
    expect(error.message).toContain('AccessDeniedException');
    expect(error.message).toContain('secretsmanager:GetSecretValue');
  });

  it.each([
    ['ThrottlingException', 400],
    ['InternalServiceError', 500],
    ['ServiceUnavailable', 503],
  ])('%s (HTTP %i) is a retryable SOURCE_UNAVAILABLE', async (type, status) => {
    const s = secret();
    sm.failNext('GetSecretValue', { type, status });
    const error = await sourceError(source(s.name).fetch(signal, 'initial'));
    expect(error.code).toBe('SOURCE_UNAVAILABLE');
    expect(error.retryable).toBe(true);
    expect(error.message).toContain(type);
  });

  it('a refused connection is a retryable SOURCE_UNAVAILABLE', async () => {
    const s = secret();
    const error = await sourceError(
      source(s.name, { endpoint: 'http://127.0.0.1:1' }).fetch(signal, 'initial'),
    );
    expect(error.code).toBe('SOURCE_UNAVAILABLE');
    expect(error.retryable).toBe(true);
  });

  it('a request that does not answer fails with SOURCE_TIMEOUT exactly at timeoutMs on the clock', async () => {
    const s = secret();
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    const src = source(s.name, { clock, timeoutMs: 5000 });
    sm.failNext('GetSecretValue', 'hang');
    let settled: unknown;
    const pending = src.fetch(signal, 'initial').then(
      (v) => {
        settled = v;
      },
      (e: unknown) => {
        settled = e;
      },
    );
    await waitFor(
      'the deadline timer',
      () => clock.pendingCount === 1 && sm.calls.some((c) => c.outcome === 'hang'),
      10_000,
    );
    expect(clock.nextTimerAt()).toBe(Date.UTC(2026, 0, 1) + 5000);
    await clock.advance(4999);
    await new Promise((r) => setImmediate(r));
    expect(settled).toBeUndefined();
    await clock.advance(1);
    await pending;
    expect(CredentialSourceError.is(settled, 'SOURCE_TIMEOUT')).toBe(true);
    expect((settled as CredentialSourceError).retryable).toBe(true);
    expect(clock.pendingCount).toBe(0);
  });

  it('an aborted signal ends the request with SOURCE_CLOSED', async () => {
    const s = secret();
    const src = source(s.name);
    sm.failNext('GetSecretValue', 'hang');
    const hangs = sm.calls.filter((c) => c.outcome === 'hang').length;
    const controller = new AbortController();
    const p = src.fetch(controller.signal, 'initial');
    await waitFor('the request', () => sm.calls.filter((c) => c.outcome === 'hang').length > hangs, 10_000);
    controller.abort();
    const error = await sourceError(p);
    expect(error.code).toBe('SOURCE_CLOSED');
  });

  it('bad options are SOURCE_CONFIG naming the option', () => {
    const bad = (o: unknown) => {
      try {
        secretsManagerCredentials(o as SecretsManagerCredentialsOptions);
      } catch (e) {
        return e as CredentialSourceError;
      }
      throw new Error('no error');
    };
    expect(bad({}).message).toContain('secretId');
    expect(bad({ secretId: 'x', region: 'Europe' }).message).toContain('region');
    expect(bad({ secretId: 'x', region: REGION, endpoint: 'ftp://x' }).message).toContain('endpoint');
    expect(bad({ secretId: 'x', region: REGION, credentials: { accessKeyId: 'a' } }).message).toContain(
      'credentials',
    );
    expect(bad({ secretId: 'x', region: REGION, timeoutMs: -1 }).message).toContain('timeoutMs');
    for (const e of [bad({}), bad({ secretId: 'x', region: 'Europe' })]) expect(e.code).toBe('SOURCE_CONFIG');
  });

  it('region and endpoint come from AWS_REGION and AWS_ENDPOINT_URL_SECRETS_MANAGER', async () => {
    const s = secret();
    const saved = { ...process.env };
    process.env.AWS_REGION = REGION;
    process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER = sm.url;
    process.env.AWS_ENDPOINT_URL = 'http://127.0.0.1:1';
    try {
      const src = secretsManagerCredentials({
        secretId: s.name,
        credentials: { accessKeyId: APP.accessKeyId, secretAccessKey: APP.secretAccessKey },
      });
      sources.push(src);
      const got: SourcedValue<DatabaseCredentials> = await src.fetch(signal, 'initial');
      expect(got.version).toBe(s.versionId);
    } finally {
      process.env = saved;
    }
  });
});

describe('the stand-in follows the Secrets Manager API', () => {
  let client: SecretsManagerClient;
  beforeAll(() => {
    client = new SecretsManagerClient({
      region: REGION,
      endpoint: sm.url,
      credentials: { accessKeyId: ROTATOR.accessKeyId, secretAccessKey: ROTATOR.secretAccessKey },
    });
  });
  afterAll(() => client.destroy());

  it('PutSecretValue is idempotent for one ClientRequestToken and refuses another value for it', async () => {
    const s = secret();
    const input = {
      SecretId: s.name,
      ClientRequestToken: 'a'.repeat(36),
      SecretString: '{"a":1}',
      VersionStages: ['AWSPENDING'],
    };
    const first = await client.send(new PutSecretValueCommand(input));
    const again = await client.send(new PutSecretValueCommand(input));
    expect(again.VersionId).toBe(first.VersionId);
    await expect(
      client.send(new PutSecretValueCommand({ ...input, SecretString: '{"a":2}' })),
    ).rejects.toMatchObject({
      name: 'ResourceExistsException',
    });
  });

  it('UpdateSecretVersionStage needs RemoveFromVersionId for a label held elsewhere', async () => {
    const s = secret();
    const put = await client.send(
      new PutSecretValueCommand({ SecretId: s.name, SecretString: '{"b":1}', VersionStages: ['AWSPENDING'] }),
    );
    await expect(
      client.send(
        new UpdateSecretVersionStageCommand({
          SecretId: s.name,
          VersionStage: 'AWSCURRENT',
          MoveToVersionId: put.VersionId,
        }),
      ),
    ).rejects.toMatchObject({ name: 'InvalidParameterException', $metadata: { httpStatusCode: 400 } });
    await client.send(
      new UpdateSecretVersionStageCommand({
        SecretId: s.name,
        VersionStage: 'AWSCURRENT',
        MoveToVersionId: put.VersionId,
        RemoveFromVersionId: s.versionId,
      }),
    );
    expect(sm.stages(s.name)).toEqual({
      [s.versionId]: ['AWSPREVIOUS'],
      [put.VersionId as string]: ['AWSCURRENT', 'AWSPENDING'],
    });
    await client.send(
      new UpdateSecretVersionStageCommand({
        SecretId: s.name,
        VersionStage: 'AWSPENDING',
        RemoveFromVersionId: put.VersionId,
      }),
    );
    expect(sm.stages(s.name)).toEqual({
      [s.versionId]: ['AWSPREVIOUS'],
      [put.VersionId as string]: ['AWSCURRENT'],
    });
  });

  it('GetSecretValue of a stage nobody holds is ResourceNotFoundException', async () => {
    const s = secret();
    await expect(
      client.send(new GetSecretValueCommand({ SecretId: s.name, VersionStage: 'AWSPENDING' })),
    ).rejects.toMatchObject({
      name: 'ResourceNotFoundException',
    });
  });
});
