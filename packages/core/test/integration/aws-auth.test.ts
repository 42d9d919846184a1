/**
 * `auth.aws()` end to end: the core signs `sts:GetCallerIdentity` with the AWS SDK, the dev server's `aws` method
 * forwards it to a local STS stand-in (tooling/test-env) that verifies the SigV4 signature with known test
 * credentials, and binds the caller's ARN to the role. The AWS default credential chain is exercised through the
 * ECS container credentials endpoint the stand-in also serves.
 */
import { type DevServer, startDevServer } from '@leasehold/dev-server';
import { freePort, type StsIdentity, type StsStandIn, startStsStandIn } from '@leasehold/test-env';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type AwsCredentials, auth, type Vault, type VaultEvents } from '../../src/index.js';
import { eventually, LeakRecorder, recordedClients, rootClient, writePolicy } from './helpers.js';

const ACCOUNT = '123456789012';
const app: StsIdentity = {
  accessKeyId: 'AKIATESTAPP000000001',
  secretAccessKey: 'test-secret-key-app-aaaaaaaaaaaaaaaaaaaaa',
  sessionToken: 'test-session-token-app-bbbbbbbbbbbbbbbbbb',
  arn: `arn:aws:sts::${ACCOUNT}:assumed-role/app-web/i-0abc`,
  userId: 'AROATESTAPPWEB:i-0abc',
  account: ACCOUNT,
};
const other: StsIdentity = {
  accessKeyId: 'AKIATESTOTHER0000001',
  secretAccessKey: 'test-secret-key-other-ccccccccccccccccccc',
  arn: `arn:aws:iam::${ACCOUNT}:user/intruder`,
  userId: 'AIDATESTINTRUDER',
  account: ACCOUNT,
};

const recorder = new LeakRecorder();
let server: DevServer;
let sts: StsStandIn;
let expiredSts: StsStandIn;
let root: Vault;

function fixed(identity: StsIdentity, calls?: { n: number }): () => Promise<AwsCredentials> {
  return async () => {
    if (calls) calls.n += 1;
    return {
      accessKeyId: identity.accessKeyId,
      secretAccessKey: identity.secretAccessKey,
      ...(identity.sessionToken ? { sessionToken: identity.sessionToken } : {}),
    };
  };
}

const { clients, client, loginError } = recordedClients(recorder, () => server.url);

beforeAll(async () => {
  for (const i of [app, other]) recorder.secret(i.secretAccessKey, i.sessionToken);
  sts = await startStsStandIn({ identities: [app, other] });
  expiredSts = await startStsStandIn({ identities: [app], now: () => Date.now() + 20 * 60_000 });
  server = await startDevServer();
  recorder.secret(server.rootToken);
  root = rootClient(server);
  await writePolicy(root, 'aws-app', 'path "secret/*" { capabilities = ["read"] }');
  for (const [mount, endpoint, extra] of [
    ['aws', sts.url, {}],
    ['aws-hdr', sts.url, { iam_server_id_header_value: 'vault.example.com' }],
    ['aws-expired', expiredSts.url, {}],
  ] as const) {
    await root.request('POST', `sys/auth/${mount}`, { body: { type: 'aws' } });
    await root.request('POST', `auth/${mount}/config/client`, { body: { sts_endpoint: endpoint, ...extra } });
    await root.request('POST', `auth/${mount}/role/app`, {
      body: {
        auth_type: 'iam',
        bound_iam_principal_arn: [`arn:aws:iam::${ACCOUNT}:role/app-*`],
        token_policies: 'aws-app',
        token_ttl: '2s',
        token_max_ttl: '4s',
      },
    });
  }
  await root.request('POST', 'auth/aws/role/exact', {
    body: { bound_iam_principal_arn: [`arn:aws:iam::${ACCOUNT}:role/app-web`], token_policies: 'aws-app' },
  });
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await root?.close();
  await server?.close();
  await sts?.close();
  await expiredSts?.close();
  expect(recorder.leaks()).toEqual([]);
});

describe('auth.aws() against the dev server and the STS stand-in', () => {
  it('logs in with a signed GetCallerIdentity: the ARN is bound by a wildcard, the token carries the policies', async () => {
    const vault = client(auth.aws({ role: 'app', stsEndpoint: sts.url, credentials: fixed(app) }));
    await vault.ready({ timeoutMs: 10_000 });
    const self = await vault.request<{ policies: string[]; meta: Record<string, string> }>(
      'GET',
      'auth/token/lookup-self',
    );
    expect(self.body?.data?.policies).toContain('aws-app');
    expect(self.body?.data?.meta).toMatchObject({
      client_arn: app.arn,
      canonical_arn: `arn:aws:iam::${ACCOUNT}:role/app-web`,
      client_user_id: 'AROATESTAPPWEB',
      auth_type: 'iam',
      account_id: ACCOUNT,
    });
    expect(sts.calls.at(-1)).toEqual({ outcome: 'ok', accessKeyId: app.accessKeyId });
  });

  it('an exact canonical ARN binds an assumed role; without `role` Vault uses the friendly name', async () => {
    const exact = client(auth.aws({ role: 'exact', stsEndpoint: sts.url, credentials: fixed(app) }));
    await exact.ready({ timeoutMs: 10_000 });
    // Vault's default role is the principal's friendly name (`app-web`): no such role here.
    const unnamed = client(auth.aws({ stsEndpoint: sts.url, credentials: fixed(app) }));
    const error = await loginError(unnamed);
    expect(error.code).toBe('VAULT_LOGIN_FAILED');
    expect(error.status).toBe(400);
    expect(error.message).toContain('entry for role app-web not found');
  });

  it('another IAM principal is refused with 400, as Vault answers', async () => {
    const vault = client(auth.aws({ role: 'app', stsEndpoint: sts.url, credentials: fixed(other) }));
    const error = await loginError(vault);
    expect(error.code).toBe('VAULT_LOGIN_FAILED');
    expect(error.status).toBe(400);
    expect(error.message).toContain(`IAM Principal "${other.arn}" does not belong to the role "app"`);
  });

  it('a wrong secret key and an expired signature are refused by STS, and the login fails', async () => {
    const wrongKey = client(
      auth.aws({
        role: 'app',
        stsEndpoint: sts.url,
        credentials: async () => ({ ...(await fixed(app)()), secretAccessKey: 'not-the-right-secret-key' }),
      }),
    );
    recorder.secret('not-the-right-secret-key');
    const bad = await loginError(wrongKey);
    expect(bad.code).toBe('VAULT_LOGIN_FAILED');
    expect(bad.status).toBe(400);
    expect(bad.message).toContain('received error code 403 from STS');
    expect(bad.message).toContain('SignatureDoesNotMatch');

    const expired = client(
      auth.aws({ role: 'app', mount: 'aws-expired', stsEndpoint: expiredSts.url, credentials: fixed(app) }),
    );
    const late = await loginError(expired);
    expect(late.code).toBe('VAULT_LOGIN_FAILED');
    expect(late.message).toContain('Signature expired');
  });

  it('X-Vault-AWS-IAM-Server-ID: required when the mount sets it, and must be signed and equal', async () => {
    const missing = client(
      auth.aws({ role: 'app', mount: 'aws-hdr', stsEndpoint: sts.url, credentials: fixed(app) }),
    );
    const error = await loginError(missing);
    expect(error.status).toBe(400);
    expect(error.message).toContain('error validating X-Vault-AWS-IAM-Server-ID header: missing header');

    const wrong = client(
      auth.aws({
        role: 'app',
        mount: 'aws-hdr',
        headerValue: 'other.example.com',
        stsEndpoint: sts.url,
        credentials: fixed(app),
      }),
    );
    expect((await loginError(wrong)).message).toContain(
      'expected "vault.example.com" but got "other.example.com"',
    );

    const right = client(
      auth.aws({
        role: 'app',
        mount: 'aws-hdr',
        headerValue: 'vault.example.com',
        stsEndpoint: sts.url,
        credentials: fixed(app),
      }),
    );
    await right.ready({ timeoutMs: 10_000 });
  });

  it('re-logs in when the token reaches its max TTL, with credentials fetched again for each login', async () => {
    const calls = { n: 0 };
    const vault = client(auth.aws({ role: 'app', stsEndpoint: sts.url, credentials: fixed(app, calls) }));
    const logins: VaultEvents['login'][] = [];
    vault.on('login', (e) => logins.push(e));
    await vault.ready({ timeoutMs: 10_000 });
    await eventually(async () => expect(logins.length).toBeGreaterThanOrEqual(2), 20_000, 100);
    expect(logins[0]?.method).toBe('aws');
    expect(logins[1]?.reason).not.toBe('initial');
    expect(calls.n).toBe(logins.length);
  });

  it('rejects bad options with VAULT_CONFIG naming the option', () => {
    expect(() => auth.aws({ region: 'Europe' })).toThrow(/auth\.aws\.region.*AWS region/);
    expect(() => auth.aws({ stsEndpoint: 'sts.amazonaws.com' })).toThrow(
      /auth\.aws\.stsEndpoint.*http\(s\) URL/,
    );
    expect(() => auth.aws({ credentials: 'key' as never })).toThrow(/auth\.aws\.credentials/);
  });
});

describe('auth.aws() with the AWS default credential chain (ECS container credentials)', () => {
  const saved = { ...process.env };
  const isolate = (fullUri: string) => {
    for (const name of Object.keys(process.env)) if (name.startsWith('AWS_')) delete process.env[name];
    process.env.AWS_CONTAINER_CREDENTIALS_FULL_URI = fullUri;
    process.env.AWS_EC2_METADATA_DISABLED = 'true';
    process.env.AWS_SHARED_CREDENTIALS_FILE = '/nonexistent/credentials';
    process.env.AWS_CONFIG_FILE = '/nonexistent/config';
  };
  afterEach(() => {
    for (const name of Object.keys(process.env)) if (name.startsWith('AWS_')) delete process.env[name];
    Object.assign(process.env, saved);
  });

  it('reads the credentials from the container endpoint on every login', async () => {
    isolate(sts.credentialsUrl(0));
    const before = sts.credentialReads;
    const vault = client(auth.aws({ role: 'app', stsEndpoint: sts.url }));
    const logins: VaultEvents['login'][] = [];
    vault.on('login', (e) => logins.push(e));
    await vault.ready({ timeoutMs: 10_000 });
    await eventually(async () => expect(logins.length).toBeGreaterThanOrEqual(2), 20_000, 100);
    expect(sts.credentialReads - before).toBeGreaterThanOrEqual(2);
  });

  it('credential endpoint down: the login fails with VAULT_UNAVAILABLE naming the aws method', async () => {
    isolate(`http://127.0.0.1:${await freePort()}/credentials/0`);
    const vault = client(auth.aws({ role: 'app', stsEndpoint: sts.url }));
    const error = await loginError(vault);
    expect(error.code).toBe('VAULT_UNAVAILABLE');
    expect(error.message).toMatch(/^aws login at auth\/aws\/login: no AWS credentials could be obtained/);
  });
});
