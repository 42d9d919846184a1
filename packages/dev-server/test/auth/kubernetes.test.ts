import { exportSPKI, generateKeyPair, type JWTPayload, SignJWT } from 'jose';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createKubernetesBackend } from '../../src/backends/auth/kubernetes.js';
import type { Backend } from '../../src/sdk/index.js';
import { call, expectError, makeContext, request, type TestClock, tokenFromLogin } from './harness.js';

type KeyPair = Awaited<ReturnType<typeof generateKeyPair>>;
let signer: KeyPair;
let stranger: KeyPair;

const sign = (key: KeyPair, claims: JWTPayload): Promise<string> =>
  new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'sa-key' }).sign(key.privateKey);

/** A legacy (secret-based) service-account token: no exp, flat kubernetes.io/serviceaccount/* claims. */
const legacyToken = (key: KeyPair, namespace: string, name: string): Promise<string> =>
  sign(key, {
    iss: 'kubernetes/serviceaccount',
    sub: `system:serviceaccount:${namespace}:${name}`,
    'kubernetes.io/serviceaccount/namespace': namespace,
    'kubernetes.io/serviceaccount/secret.name': `${name}-token-abcde`,
    'kubernetes.io/serviceaccount/service-account.name': name,
    'kubernetes.io/serviceaccount/service-account.uid': '11111111-2222-3333-4444-555555555555',
  });

/** The backend's clock (the test clock once a test set it up): tokens are issued on the same clock they are checked on. */
let clockNow: () => number = () => Date.now();

/**
 * A projected (bound) service-account token: exp, aud, and the kubernetes.io claim object. Its `iat`/`nbf` come from
 * the backend's clock: with the wall clock, a busy machine made `nbf` later than the test clock's now.
 */
const projectedToken = (
  key: KeyPair,
  namespace: string,
  name: string,
  extra: JWTPayload = {},
): Promise<string> => {
  const now = Math.floor(clockNow() / 1000);
  return sign(key, {
    iss: 'https://kubernetes.default.svc.cluster.local',
    sub: `system:serviceaccount:${namespace}:${name}`,
    aud: ['https://kubernetes.default.svc.cluster.local'],
    iat: now,
    nbf: now,
    exp: now + 3600,
    'kubernetes.io': {
      namespace,
      pod: { name: `${name}-7d9f8`, uid: 'pod-uid' },
      serviceaccount: { name, uid: 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee' },
    },
    ...extra,
  });
};

beforeAll(async () => {
  signer = await generateKeyPair('RS256', { extractable: true });
  stranger = await generateKeyPair('RS256', { extractable: true });
});

describe('kubernetes backend (handle level)', () => {
  let backend: Backend;
  let clock: TestClock;

  beforeEach(async () => {
    const made = makeContext('auth/kubernetes/');
    clock = made.clock;
    clockNow = () => made.clock.now;
    backend = createKubernetesBackend(made.context);
  });

  const configure = async () => {
    expect(
      await backend.handle(
        request('update', 'config', {
          kubernetes_host: 'https://kubernetes.default.svc',
          kubernetes_ca_cert: '-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----',
          token_reviewer_jwt: 'reviewer-jwt-secret-value',
          pem_keys: [await exportSPKI(signer.publicKey)],
        }),
      ),
    ).toBeNull();
    expect(
      await backend.handle(
        request('update', 'role/app', {
          bound_service_account_names: ['app', 'worker'],
          bound_service_account_namespaces: '*',
          token_policies: ['app'],
          token_ttl: '15m',
        }),
      ),
    ).toBeNull();
  };

  it('config: stores fields, never returns token_reviewer_jwt; requires a host', async () => {
    await expectError(backend.handle(request('update', 'config', {})), 400, 'no host provided');
    await configure();
    const read = await call(backend, 'read', 'config');
    expect(read.data).toMatchObject({
      kubernetes_host: 'https://kubernetes.default.svc',
      disable_iss_validation: true,
    });
    expect(read.data?.pem_keys).toHaveLength(1);
    expect(JSON.stringify(read.data)).not.toContain('reviewer-jwt-secret-value');
  });

  it('role validation and read-back', async () => {
    await expectError(
      backend.handle(request('update', 'role/r', { bound_service_account_namespaces: ['default'] })),
      400,
      '"bound_service_account_names" can not be empty',
    );
    await expectError(
      backend.handle(request('update', 'role/r', { bound_service_account_names: ['a'] })),
      400,
      '"bound_service_account_namespaces" can not be empty',
    );
    // `*` for both names and namespaces binds every service account; mixing `*` with values is refused.
    await backend.handle(
      request('update', 'role/any', {
        bound_service_account_names: '*',
        bound_service_account_namespaces: '*',
      }),
    );
    await expectError(
      backend.handle(
        request('update', 'role/r', {
          bound_service_account_names: ['*', 'a'],
          bound_service_account_namespaces: '*',
        }),
      ),
      400,
      'can not mix "*" with values',
    );
    await configure();
    expect((await call(backend, 'read', 'role/app')).data).toMatchObject({
      bound_service_account_names: ['app', 'worker'],
      bound_service_account_namespaces: ['*'],
      token_policies: ['app'],
      token_ttl: 900,
    });
  });

  it('login with a legacy service-account token', async () => {
    await configure();
    const jwt = await legacyToken(signer, 'payments', 'app');
    const login = await call(backend, 'update', 'login', { role: 'app', jwt });
    expect(login.auth).toMatchObject({
      policies: ['app'],
      ttl: 900,
      renewable: true,
      displayName: 'kubernetes-payments-app',
      tokenType: 'service',
      metadata: {
        role: 'app',
        service_account_name: 'app',
        service_account_namespace: 'payments',
        service_account_secret_name: 'app-token-abcde',
        service_account_uid: '11111111-2222-3333-4444-555555555555',
      },
    });
  });

  it('login with a projected token, audience checked', async () => {
    await configure();
    await backend.handle(
      request('update', 'role/aud', {
        bound_service_account_names: 'worker',
        bound_service_account_namespaces: ['jobs'],
        audience: 'vault',
      }),
    );
    const jwt = await projectedToken(signer, 'jobs', 'worker', { aud: ['vault'] });
    const login = await call(backend, 'update', 'login', { role: 'aud', jwt });
    expect(login.auth?.metadata).toEqual({
      role: 'aud',
      service_account_name: 'worker',
      service_account_namespace: 'jobs',
      service_account_secret_name: '',
      service_account_uid: 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee',
    });
    const wrongAud = await projectedToken(signer, 'jobs', 'worker');
    await expectError(
      backend.handle(request('update', 'login', { role: 'aud', jwt: wrongAud })),
      400,
      'error validating claims: invalid audience (aud claim)',
      [wrongAud],
    );
  });

  it('login failures: bad signature, expired, name/namespace not bound, bad input — JWT never echoed', async () => {
    await configure();
    await backend.handle(
      request('update', 'role/ns', {
        bound_service_account_names: '*',
        bound_service_account_namespaces: 'default',
      }),
    );
    const forged = await legacyToken(stranger, 'payments', 'app');
    await expectError(
      backend.handle(request('update', 'login', { role: 'app', jwt: forged })),
      403,
      'error verifying token signature: no known key successfully validated the token signature',
      [forged],
    );
    const now = Math.floor(clock.now / 1000);
    const expired = await projectedToken(signer, 'payments', 'app', {
      exp: now - 10,
      iat: now - 4000,
      nbf: now - 4000,
    });
    await expectError(
      backend.handle(request('update', 'login', { role: 'app', jwt: expired })),
      400,
      'error validating claims: token is expired (exp)',
      [expired],
    );
    const otherName = await legacyToken(signer, 'payments', 'intruder');
    await expectError(
      backend.handle(request('update', 'login', { role: 'app', jwt: otherName })),
      403,
      'service account name not authorized',
      [otherName],
    );
    const otherNs = await projectedToken(signer, 'kube-system', 'app');
    await expectError(
      backend.handle(request('update', 'login', { role: 'ns', jwt: otherNs })),
      403,
      'namespace not authorized',
      [otherNs],
    );
    const noClaims = await sign(signer, { sub: 'x' });
    await expectError(
      backend.handle(request('update', 'login', { role: 'app', jwt: noClaims })),
      400,
      'service account token is missing the service-account namespace or name claims',
      [noClaims],
    );
    await expectError(backend.handle(request('update', 'login', { jwt: forged })), 400, 'missing role', [
      forged,
    ]);
    await expectError(backend.handle(request('update', 'login', { role: 'app' })), 400, 'missing jwt');
    await expectError(
      backend.handle(request('update', 'login', { role: 'ghost', jwt: forged })),
      400,
      'invalid role name "ghost"',
      [forged],
    );
  });

  it('without pem_keys the login explains that the dev server does not call TokenReview', async () => {
    await backend.handle(request('update', 'config', { kubernetes_host: 'https://k8s' }));
    await backend.handle(
      request('update', 'role/app', {
        bound_service_account_names: 'app',
        bound_service_account_namespaces: '*',
      }),
    );
    await expectError(
      backend.handle(request('update', 'login', { role: 'app', jwt: await legacyToken(signer, 'a', 'app') })),
      400,
      /set pem_keys .*TokenReview/,
    );
  });

  it('renewAuth follows the role and fails once it is deleted', async () => {
    await configure();
    const login = await call(backend, 'update', 'login', {
      role: 'app',
      jwt: await legacyToken(signer, 'x', 'app'),
    });
    const token = tokenFromLogin(login, clock.now);
    expect(await backend.renewAuth?.(token)).toEqual({ ttl: 900, maxTtl: 0, period: 0 });
    await backend.handle(request('delete', 'role/app'));
    await expectError(
      backend.renewAuth?.(token) ?? Promise.resolve(),
      400,
      'role app does not exist during renewal',
    );
  });
});
