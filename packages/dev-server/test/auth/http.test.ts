/**
 * The auth methods over real HTTP(S): mount with `sys/auth`, configure, log in, use the token on a policy-protected
 * read, and renew it (renewals go through each method's renewAuth).
 */
import { createServer, type Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { exportJWK, exportSPKI, generateKeyPair, type JWTPayload, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevServer, ManualClock, startDevServer } from '../../src/index.js';
import { type CallResult, call } from '../helpers.js';
import { type Issued, makeCa, makeLeaf } from './pki.js';

const READER_POLICY = 'path "secret/data/app" { capabilities = ["read"] }';

async function prepare(server: DevServer, write: () => Promise<CallResult>): Promise<void> {
  server.writePolicy('reader', READER_POLICY);
  expect((await write()).status).toBe(200);
}
const SECRET_BODY = { data: { answer: '42' } };

/** The token reads the protected secret, and nothing else. */
async function expectReader(server: DevServer, token: string): Promise<void> {
  const read = await call(server, 'GET', 'secret/data/app', { token });
  expect(read.status).toBe(200);
  expect(read.body.data.data).toEqual({ answer: '42' });
  const denied = await call(server, 'GET', 'secret/data/other', { token });
  expect(denied.status).toBe(403);
}

function expectAuthBlock(result: CallResult, expected: Record<string, unknown>): string {
  expect(result.status).toBe(200);
  expect(result.body.auth).toMatchObject({
    renewable: true,
    token_type: 'service',
    orphan: true,
    ...expected,
  });
  expect(result.body.auth.client_token).toMatch(/^hvs\./);
  return result.body.auth.client_token as string;
}

function expectHttpError(result: CallResult, status: number, message: string, secrets: string[] = []): void {
  expect(result.status).toBe(status);
  expect(result.body).toEqual({ errors: [message] });
  for (const secret of secrets) expect(result.text).not.toContain(secret);
}

describe('auth methods over HTTP', () => {
  let server: DevServer;
  const clock = new ManualClock();

  beforeAll(async () => {
    server = await startDevServer({ clock });
    await prepare(server, () => call(server, 'POST', 'secret/data/app', { body: SECRET_BODY }));
  });
  afterAll(async () => {
    await server.close();
  });

  it('approle: mount, role, secret-id, login, protected read, num_uses, renew capped by the role, role delete', async () => {
    expect((await call(server, 'POST', 'sys/auth/approle', { body: { type: 'approle' } })).status).toBe(204);
    const role = await call(server, 'POST', 'auth/approle/role/app', {
      body: { token_policies: 'reader', token_ttl: '20m', token_max_ttl: '1h', secret_id_num_uses: 2 },
    });
    expect(role.status).toBe(204);
    const read = await call(server, 'GET', 'auth/approle/role/app');
    expect(read.body.data).toMatchObject({ token_ttl: 1200, token_max_ttl: 3600, secret_id_num_uses: 2 });
    const roleId = (await call(server, 'GET', 'auth/approle/role/app/role-id')).body.data.role_id as string;
    const generated = await call(server, 'POST', 'auth/approle/role/app/secret-id', {
      body: { metadata: JSON.stringify({ team: 'payments' }) },
    });
    expect(generated.status).toBe(200);
    const secretId = generated.body.data.secret_id as string;
    const list = await call(server, 'LIST', 'auth/approle/role/app/secret-id');
    expect(list.body.data.keys).toEqual([generated.body.data.secret_id_accessor]);

    const login = await call(server, 'POST', 'auth/approle/login', {
      token: null,
      body: { role_id: roleId, secret_id: secretId },
    });
    const token = expectAuthBlock(login, {
      policies: ['default', 'reader'],
      token_policies: ['default', 'reader'],
      metadata: { role_name: 'app', team: 'payments' },
      lease_duration: 1200,
    });
    await expectReader(server, token);
    const self = await call(server, 'GET', 'auth/token/lookup-self', { token });
    expect(self.body.data).toMatchObject({
      display_name: 'approle',
      path: 'auth/approle/login',
      orphan: true,
    });

    // Second use is fine, the third fails: the secret ID was deleted after its last use.
    expect(
      (
        await call(server, 'POST', 'auth/approle/login', {
          token: null,
          body: { role_id: roleId, secret_id: secretId },
        })
      ).status,
    ).toBe(200);
    const third = await call(server, 'POST', 'auth/approle/login', {
      token: null,
      body: { role_id: roleId, secret_id: secretId },
    });
    expectHttpError(third, 400, 'invalid role or secret ID', [secretId]);
    expectHttpError(
      await call(server, 'POST', 'auth/approle/login', { token: null, body: { secret_id: secretId } }),
      400,
      'missing role_id',
      [secretId],
    );

    // Renewal re-reads the role: a lowered token_max_ttl caps the renewed TTL.
    const renewed = await call(server, 'POST', 'auth/token/renew-self', { token, body: { increment: 60 } });
    expect(renewed.status).toBe(200);
    expect(renewed.body.auth.lease_duration).toBe(60);
    await call(server, 'POST', 'auth/approle/role/app', { body: { token_max_ttl: 30, token_ttl: 10 } });
    const capped = await call(server, 'POST', 'auth/token/renew-self', { token, body: { increment: 600 } });
    expect(capped.status).toBe(200);
    expect(capped.body.auth.lease_duration).toBeLessThanOrEqual(30);
    expect(capped.body.warnings.join(' ')).toMatch(/exceeded the effective max_ttl/);

    // Deleting the role makes the next renewal fail.
    expect((await call(server, 'DELETE', 'auth/approle/role/app')).status).toBe(204);
    const afterDelete = await call(server, 'POST', 'auth/token/renew-self', { token, body: {} });
    expect(afterDelete.status).toBe(400);
    expect(afterDelete.text).toContain('role \\"app\\" does not exist during renewal');
  });

  it('approle: secret_id_ttl expiry and CIDR mismatch against the real client address', async () => {
    expect((await call(server, 'POST', 'sys/auth/ar2', { body: { type: 'approle' } })).status).toBe(204);
    await call(server, 'POST', 'auth/ar2/role/short', {
      body: { token_policies: 'reader', secret_id_ttl: '1s' },
    });
    const roleId = (await call(server, 'GET', 'auth/ar2/role/short/role-id')).body.data.role_id as string;
    const secretId = (await call(server, 'POST', 'auth/ar2/role/short/secret-id')).body.data
      .secret_id as string;
    const lookedUp = await call(server, 'POST', 'auth/ar2/role/short/secret-id/lookup', {
      body: { secret_id: secretId },
    });
    expect(Date.parse(lookedUp.body.data.expiration_time)).toBe(clock.now() + 1000);
    await clock.advance(1000);
    expectHttpError(
      await call(server, 'POST', 'auth/ar2/login', {
        token: null,
        body: { role_id: roleId, secret_id: secretId },
      }),
      400,
      'invalid role or secret ID',
      [secretId],
    );

    await call(server, 'POST', 'auth/ar2/role/fenced', {
      body: { token_policies: 'reader', secret_id_bound_cidrs: ['10.0.0.0/8'] },
    });
    const fencedId = (await call(server, 'GET', 'auth/ar2/role/fenced/role-id')).body.data.role_id as string;
    const fencedSecret = (await call(server, 'POST', 'auth/ar2/role/fenced/secret-id')).body.data
      .secret_id as string;
    expectHttpError(
      await call(server, 'POST', 'auth/ar2/login', {
        token: null,
        body: { role_id: fencedId, secret_id: fencedSecret },
      }),
      400,
      'source address "127.0.0.1" unauthorized by CIDR restrictions on the role',
      [fencedSecret],
    );
    await call(server, 'POST', 'auth/ar2/role/local', { body: { token_policies: 'reader' } });
    const localId = (await call(server, 'GET', 'auth/ar2/role/local/role-id')).body.data.role_id as string;
    const localSecret = (
      await call(server, 'POST', 'auth/ar2/role/local/secret-id', { body: { cidr_list: '127.0.0.1/32' } })
    ).body.data.secret_id as string;
    const ok = await call(server, 'POST', 'auth/ar2/login', {
      token: null,
      body: { role_id: localId, secret_id: localSecret },
    });
    await expectReader(server, expectAuthBlock(ok, { metadata: { role_name: 'local' } }));
  });

  it('userpass: login, protected read, wrong password, renew-self', async () => {
    expect((await call(server, 'POST', 'sys/auth/userpass', { body: { type: 'userpass' } })).status).toBe(
      204,
    );
    const password = 'open sesame 123';
    await call(server, 'POST', 'auth/userpass/users/alice', {
      body: { password, token_policies: ['reader'], token_ttl: '10m' },
    });
    const login = await call(server, 'POST', 'auth/userpass/login/alice', {
      token: null,
      body: { password },
    });
    const token = expectAuthBlock(login, {
      policies: ['default', 'reader'],
      metadata: { username: 'alice' },
      lease_duration: 600,
    });
    await expectReader(server, token);
    expect((await call(server, 'GET', 'auth/token/lookup-self', { token })).body.data.display_name).toBe(
      'userpass-alice',
    );
    const renewed = await call(server, 'POST', 'auth/token/renew-self', { token, body: {} });
    expect(renewed.status).toBe(200);
    expect(renewed.body.auth.lease_duration).toBe(600);
    const wrong = 'guess-password-456';
    expectHttpError(
      await call(server, 'POST', 'auth/userpass/login/alice', { token: null, body: { password: wrong } }),
      400,
      'invalid username or password',
      [wrong],
    );
    expectHttpError(
      await call(server, 'POST', 'auth/userpass/login/bob', { token: null, body: { password } }),
      400,
      'invalid username or password',
      [password],
    );
    const userRead = await call(server, 'GET', 'auth/userpass/users/alice');
    expect(userRead.text).not.toContain(password);
  });

  describe('jwt and kubernetes', () => {
    type KeyPair = Awaited<ReturnType<typeof generateKeyPair>>;
    let key: KeyPair;
    let jwks: Server;
    let jwksUrl: string;

    beforeAll(async () => {
      key = await generateKeyPair('RS256', { extractable: true });
      const jwk = { ...(await exportJWK(key.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
      jwks = createServer((_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ keys: [jwk] }));
      });
      await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
      jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/.well-known/jwks.json`;
    });
    afterAll(async () => {
      await new Promise<void>((resolve) => jwks.close(() => resolve()));
    });

    const sign = (claims: JWTPayload): Promise<string> =>
      new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).sign(key.privateKey);

    it('jwt: JWKS from a local server, login, protected read, expired token', async () => {
      expect((await call(server, 'POST', 'sys/auth/jwt', { body: { type: 'jwt' } })).status).toBe(204);
      expect(
        (
          await call(server, 'POST', 'auth/jwt/config', {
            body: { jwks_url: jwksUrl, bound_issuer: 'https://ci.test' },
          })
        ).status,
      ).toBe(204);
      await call(server, 'POST', 'auth/jwt/role/ci', {
        body: {
          role_type: 'jwt',
          user_claim: 'sub',
          bound_audiences: ['vault'],
          bound_claims: { repository: 'leasehold/leasehold' },
          claim_mappings: { repository: 'repo' },
          token_policies: ['reader'],
          token_ttl: 300,
        },
      });
      const now = Math.floor(clock.now() / 1000);
      const claims = {
        iss: 'https://ci.test',
        aud: 'vault',
        sub: 'repo:leasehold',
        repository: 'leasehold/leasehold',
      };
      const jwt = await sign({ ...claims, iat: now, exp: now + 60 });
      const login = await call(server, 'POST', 'auth/jwt/login', { token: null, body: { role: 'ci', jwt } });
      const token = expectAuthBlock(login, {
        policies: ['default', 'reader'],
        metadata: { role: 'ci', repo: 'leasehold/leasehold' },
        lease_duration: 300,
      });
      await expectReader(server, token);
      const expired = await sign({ ...claims, iat: now - 600, exp: now - 300 });
      expectHttpError(
        await call(server, 'POST', 'auth/jwt/login', { token: null, body: { role: 'ci', jwt: expired } }),
        400,
        'error validating claims: token is expired (exp)',
        [expired],
      );
    });

    it('kubernetes: pem_keys, legacy and projected service-account tokens', async () => {
      expect(
        (await call(server, 'POST', 'sys/auth/kubernetes', { body: { type: 'kubernetes' } })).status,
      ).toBe(204);
      await call(server, 'POST', 'auth/kubernetes/config', {
        body: {
          kubernetes_host: 'https://kubernetes.default.svc',
          pem_keys: [await exportSPKI(key.publicKey)],
        },
      });
      await call(server, 'POST', 'auth/kubernetes/role/app', {
        body: {
          bound_service_account_names: 'app',
          bound_service_account_namespaces: 'payments',
          token_policies: 'reader',
          token_ttl: '5m',
        },
      });
      const legacy = await sign({
        iss: 'kubernetes/serviceaccount',
        'kubernetes.io/serviceaccount/namespace': 'payments',
        'kubernetes.io/serviceaccount/secret.name': 'app-token-x1',
        'kubernetes.io/serviceaccount/service-account.name': 'app',
        'kubernetes.io/serviceaccount/service-account.uid': 'uid-legacy',
      });
      const first = await call(server, 'POST', 'auth/kubernetes/login', {
        token: null,
        body: { role: 'app', jwt: legacy },
      });
      await expectReader(
        server,
        expectAuthBlock(first, {
          policies: ['default', 'reader'],
          lease_duration: 300,
          metadata: {
            role: 'app',
            service_account_name: 'app',
            service_account_namespace: 'payments',
            service_account_secret_name: 'app-token-x1',
            service_account_uid: 'uid-legacy',
          },
        }),
      );
      const now = Math.floor(clock.now() / 1000);
      const projected = await sign({
        iss: 'https://kubernetes.default.svc',
        aud: ['https://kubernetes.default.svc'],
        iat: now,
        exp: now + 600,
        'kubernetes.io': { namespace: 'payments', serviceaccount: { name: 'app', uid: 'uid-projected' } },
      });
      const second = await call(server, 'POST', 'auth/kubernetes/login', {
        token: null,
        body: { role: 'app', jwt: projected },
      });
      expectAuthBlock(second, {
        metadata: expect.objectContaining({ service_account_uid: 'uid-projected' }),
      });
      const stranger = await sign({
        exp: now + 600,
        'kubernetes.io': { namespace: 'kube-system', serviceaccount: { name: 'app', uid: 'u' } },
      });
      expectHttpError(
        await call(server, 'POST', 'auth/kubernetes/login', {
          token: null,
          body: { role: 'app', jwt: stranger },
        }),
        403,
        'namespace not authorized',
        [stranger],
      );
    });
  });
});

/** A client certificate and its private key (PEM). */
type ClientCert = Pick<Issued, 'pem' | 'keyPem'>;

/** One HTTPS request with an optional client certificate. */
function httpsCall(
  server: DevServer,
  ca: string,
  method: string,
  path: string,
  options: { token?: string; body?: unknown; client?: ClientCert } = {},
): Promise<CallResult> {
  return new Promise((resolve, reject) => {
    const url = new URL(`/v1/${path}`, server.url);
    const body = options.body === undefined ? undefined : JSON.stringify(options.body);
    const req = httpsRequest(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method,
        ca,
        ...(options.client ? { cert: options.client.pem, key: options.client.keyPem } : {}),
        headers: {
          ...(options.token ? { 'x-vault-token': options.token } : {}),
          ...(body ? { 'content-type': 'application/json' } : {}),
        },
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            parsed = undefined;
          }
          resolve({ status: res.statusCode ?? 0, body: parsed, headers: new Headers(), text });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('cert auth over mutual TLS', () => {
  let server: DevServer;
  let ca: string;
  let client: ClientCert;
  let stranger: Issued;

  beforeAll(async () => {
    // The dev server's generated TLS: its CA signs the server certificate and, here, the client certificate.
    server = await startDevServer({ tls: true });
    ca = server.caCert ?? '';
    expect(ca).toContain('BEGIN CERTIFICATE');
    const issued = await server.issueClientCertificate?.('payments.example.com');
    if (!issued) throw new Error('the TLS dev server should issue client certificates');
    client = { pem: issued.cert, keyPem: issued.key };
    stranger = await makeLeaf(await makeCa('Elsewhere CA'), 'payments.example.com');
    await prepare(server, () =>
      httpsCall(server, ca, 'POST', 'secret/data/app', { token: server.rootToken, body: SECRET_BODY }),
    );
  });
  afterAll(async () => {
    await server.close();
  });

  it('login with the TLS client certificate, protected read; no or untrusted certificate → 400', async () => {
    const root = server.rootToken;
    expect(
      (await httpsCall(server, ca, 'POST', 'sys/auth/cert', { token: root, body: { type: 'cert' } })).status,
    ).toBe(204);
    const write = await httpsCall(server, ca, 'POST', 'auth/cert/certs/payments', {
      token: root,
      body: {
        certificate: ca,
        allowed_common_names: '*.example.com',
        token_policies: 'reader',
        token_ttl: 120,
      },
    });
    expect(write.status).toBe(204);
    const login = await httpsCall(server, ca, 'POST', 'auth/cert/login', { client, body: {} });
    const token = expectAuthBlock(login, {
      policies: ['default', 'reader'],
      lease_duration: 120,
      metadata: expect.objectContaining({ cert_name: 'payments', common_name: 'payments.example.com' }),
    });
    const read = await httpsCall(server, ca, 'GET', 'secret/data/app', { token });
    expect(read.status).toBe(200);
    expect(read.body.data.data).toEqual({ answer: '42' });

    for (const attempt of [undefined, stranger]) {
      const failed = await httpsCall(server, ca, 'POST', 'auth/cert/login', {
        body: {},
        ...(attempt ? { client: attempt } : {}),
      });
      expectHttpError(failed, 400, 'invalid certificate or no client certificate supplied');
    }
  });
});
