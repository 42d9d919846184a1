import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, exportSPKI, generateKeyPair, type JWTPayload, SignJWT } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createJwtBackend } from '../../src/backends/auth/jwt.js';
import type { Backend } from '../../src/sdk/index.js';
import { call, expectError, makeContext, request, type TestClock, tokenFromLogin } from './harness.js';

type KeyPair = Awaited<ReturnType<typeof generateKeyPair>>;

const ISSUER = 'https://issuer.test';
const AUDIENCE = 'leasehold-tests';

let rsa: KeyPair;
let ec: KeyPair;
let other: KeyPair;
let jwksServer: Server;
let jwksUrl: string;
let jwksHits = 0;

async function sign(
  key: KeyPair,
  claims: JWTPayload,
  options: { alg?: string; kid?: string } = {},
): Promise<string> {
  const alg = options.alg ?? 'RS256';
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ iss: ISSUER, aud: AUDIENCE, sub: 'alice', iat: now, exp: now + 300, ...claims })
    .setProtectedHeader({ alg, ...(options.kid ? { kid: options.kid } : {}) })
    .sign(key.privateKey);
}

beforeAll(async () => {
  rsa = await generateKeyPair('RS256', { extractable: true });
  ec = await generateKeyPair('ES256', { extractable: true });
  other = await generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await exportJWK(rsa.publicKey)), kid: 'key-1', alg: 'RS256', use: 'sig' };
  jwksServer = createServer((req, res) => {
    if (req.url === '/jwks') {
      jwksHits++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: [jwk] }));
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
  jwksUrl = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/jwks`;
});

afterAll(async () => {
  await new Promise<void>((resolve, reject) =>
    jwksServer.close((error) => (error ? reject(error) : resolve())),
  );
});

describe('jwt backend (handle level)', () => {
  let backend: Backend;
  let clock: TestClock;

  beforeEach(async () => {
    const made = makeContext('auth/jwt/');
    clock = made.clock;
    backend = createJwtBackend(made.context);
  });

  const configurePem = async () => {
    expect(
      await backend.handle(
        request('update', 'config', {
          jwt_validation_pubkeys: [await exportSPKI(ec.publicKey), await exportSPKI(rsa.publicKey)],
          bound_issuer: ISSUER,
        }),
      ),
    ).toBeNull();
  };
  const writeRole = async (name: string, data: Record<string, unknown>) => {
    expect(await backend.handle(request('update', `role/${name}`, data))).toBeNull();
  };

  it('config validation: exactly one key source, PEMs must parse, discovery is refused', async () => {
    const only = "exactly one of 'jwt_validation_pubkeys', 'jwks_url' or 'oidc_discovery_url' must be set";
    await expectError(backend.handle(request('update', 'config', {})), 400, only);
    await expectError(
      backend.handle(
        request('update', 'config', {
          jwt_validation_pubkeys: [await exportSPKI(rsa.publicKey)],
          jwks_url: jwksUrl,
        }),
      ),
      400,
      only,
    );
    await expectError(
      backend.handle(
        request('update', 'config', { jwt_validation_pubkeys: ['-----BEGIN PUBLIC KEY-----\nnope'] }),
      ),
      400,
      'error parsing jwt_validation_pubkeys[0]: expected a PEM-encoded public key or certificate',
    );
    await expectError(
      backend.handle(request('update', 'config', { oidc_discovery_url: ISSUER })),
      400,
      /oidc_discovery_url is not supported/,
    );
    await expectError(
      backend.handle(request('update', 'config', { jwks_url: 'http://127.0.0.1:1/jwks' })),
      400,
      /^error checking jwks_url: /,
    );
    expect(await backend.handle(request('read', 'config'))).toBeNull();
    await configurePem();
    const read = await call(backend, 'read', 'config');
    expect(read.data).toMatchObject({ bound_issuer: ISSUER, jwks_url: '' });
    expect(read.data?.jwt_validation_pubkeys).toHaveLength(2);
  });

  it('role validation and read-back', async () => {
    await expectError(
      backend.handle(request('update', 'role/r', { bound_audiences: [AUDIENCE] })),
      400,
      'a user claim must be defined on the role',
    );
    await expectError(
      backend.handle(request('update', 'role/r', { user_claim: 'sub' })),
      400,
      'must have at least one bound constraint when creating/updating a role',
    );
    await expectError(
      backend.handle(
        request('update', 'role/r', { role_type: 'oidc', user_claim: 'sub', bound_audiences: 'a' }),
      ),
      400,
      /supports only "jwt"/,
    );
    await writeRole('r', {
      role_type: 'jwt',
      user_claim: 'sub',
      bound_audiences: AUDIENCE,
      bound_claims: { groups: ['dev', 'ops'] },
      claim_mappings: { email: 'email' },
      token_policies: ['reader'],
      token_ttl: '10m',
    });
    const read = await call(backend, 'read', 'role/r');
    expect(read.data).toMatchObject({
      role_type: 'jwt',
      user_claim: 'sub',
      bound_audiences: [AUDIENCE],
      bound_claims: { groups: ['dev', 'ops'] },
      claim_mappings: { email: 'email' },
      token_policies: ['reader'],
      token_ttl: 600,
      clock_skew_leeway: 60,
    });
    expect((await call(backend, 'list', 'role/')).data).toEqual({ keys: ['r'] });
  });

  it('login with a good token (RSA key, second in the PEM list): auth spec, claim mappings, display name', async () => {
    await configurePem();
    await writeRole('dev', {
      user_claim: 'email',
      bound_audiences: [AUDIENCE],
      bound_subject: 'alice',
      bound_claims: { groups: ['dev', 'ops'], '/org/team': 'payments' },
      claim_mappings: { email: 'email', '/org/team': 'team' },
      token_policies: 'reader',
      token_ttl: 600,
      token_max_ttl: 1800,
    });
    const jwt = await sign(rsa, { email: 'alice@example.com', groups: ['ops'], org: { team: 'payments' } });
    const login = await call(backend, 'update', 'login', { role: 'dev', jwt });
    expect(login.auth).toMatchObject({
      policies: ['reader'],
      ttl: 600,
      maxTtl: 1800,
      renewable: true,
      displayName: 'jwt-alice-example-com',
      metadata: { role: 'dev', email: 'alice@example.com', team: 'payments' },
      tokenType: 'service',
    });
    // EC key (first in the list) works too, and default_role is used when `role` is omitted.
    await backend.handle(
      request('update', 'config', {
        jwt_validation_pubkeys: [await exportSPKI(ec.publicKey)],
        bound_issuer: ISSUER,
        default_role: 'dev',
      }),
    );
    const ecJwt = await sign(
      ec,
      { email: 'alice@example.com', groups: 'dev', org: { team: 'payments' } },
      { alg: 'ES256' },
    );
    expect((await call(backend, 'update', 'login', { jwt: ecJwt })).auth?.metadata.role).toBe('dev');
  });

  it('login failures: clear 400s that never echo the JWT', async () => {
    await configurePem();
    await writeRole('dev', {
      user_claim: 'sub',
      bound_audiences: [AUDIENCE],
      bound_claims: { groups: ['dev'] },
      token_policies: ['reader'],
    });
    const now = Math.floor(clock.now / 1000);
    const cases: Array<[string, Promise<string>, string]> = [
      [
        'expired',
        sign(rsa, { groups: 'dev', exp: now - 120 }),
        'error validating claims: token is expired (exp)',
      ],
      [
        'not yet valid',
        sign(rsa, { groups: 'dev', nbf: now + 600 }),
        'error validating claims: token not valid yet (nbf)',
      ],
      [
        'wrong aud',
        sign(rsa, { groups: 'dev', aud: 'someone-else' }),
        'error validating claims: invalid audience (aud claim)',
      ],
      [
        'missing aud',
        sign(rsa, { groups: 'dev', aud: undefined }),
        'error validating claims: invalid audience (aud claim)',
      ],
      [
        'wrong iss',
        sign(rsa, { groups: 'dev', iss: 'https://evil.test' }),
        'error validating claims: invalid issuer (iss claim)',
      ],
      [
        'bad signature',
        sign(other, { groups: 'dev' }),
        'error validating token: no known key successfully validated the token signature',
      ],
      [
        'bound claim mismatch',
        sign(rsa, { groups: ['ops', 'qa'] }),
        'error validating claims: claim "groups" does not match any associated bound claim values',
      ],
      ['bound claim missing', sign(rsa, {}), 'error validating claims: claim "groups" is missing'],
      ['user claim missing', sign(rsa, { groups: 'dev', sub: undefined }), 'claim "sub" not found in token'],
      [
        'no time claims',
        sign(rsa, { groups: 'dev', iat: undefined, exp: undefined }),
        'no issue time, notbefore, or expiration time encoded in token',
      ],
      [
        'no exp, issued 10 minutes ago',
        sign(rsa, { groups: 'dev', iat: now - 600, exp: undefined }),
        'error validating claims: token is expired (exp)',
      ],
    ];
    for (const [label, pending, message] of cases) {
      const jwt = await pending;
      const error = await expectError(
        backend.handle(request('update', 'login', { role: 'dev', jwt })),
        400,
        message,
        [jwt, jwt.split('.')[1] ?? '', jwt.split('.')[2] ?? ''],
      );
      expect(error.errors, label).toEqual([message]);
    }
    // Within the 60 s clock_skew_leeway an expired token is still accepted.
    await call(backend, 'update', 'login', {
      role: 'dev',
      jwt: await sign(rsa, { groups: 'dev', exp: now - 30 }),
    });

    const good = await sign(rsa, { groups: 'dev' });
    const tampered = `${good.slice(0, good.lastIndexOf('.'))}.${'A'.repeat(20)}`;
    await expectError(
      backend.handle(request('update', 'login', { role: 'dev', jwt: tampered })),
      400,
      /^error validating token: /,
      [tampered],
    );
    await expectError(
      backend.handle(request('update', 'login', { role: 'dev', jwt: 'not-a-jwt' })),
      400,
      'error validating token: malformed JWT',
      ['not-a-jwt'],
    );
    await expectError(backend.handle(request('update', 'login', { role: 'dev' })), 400, 'missing token');
    await expectError(backend.handle(request('update', 'login', { jwt: good })), 400, 'missing role', [good]);
    await expectError(
      backend.handle(request('update', 'login', { role: 'nope', jwt: good })),
      400,
      'role "nope" could not be found',
      [good],
    );
  });

  it('a token with aud needs bound_audiences; bound_subject is enforced', async () => {
    await configurePem();
    await writeRole('subj', { user_claim: 'sub', bound_subject: 'alice' });
    await expectError(
      backend.handle(request('update', 'login', { role: 'subj', jwt: await sign(rsa, {}) })),
      400,
      'audience claim found in JWT but no audiences bound to the role',
    );
    await call(backend, 'update', 'login', { role: 'subj', jwt: await sign(rsa, { aud: undefined }) });
    await expectError(
      backend.handle(
        request('update', 'login', { role: 'subj', jwt: await sign(rsa, { aud: undefined, sub: 'bob' }) }),
      ),
      400,
      'error validating claims: invalid subject (sub claim)',
    );
  });

  it('jwks_url: keys are fetched from a local JWKS server and cached', async () => {
    expect(
      await backend.handle(request('update', 'config', { jwks_url: jwksUrl, bound_issuer: ISSUER })),
    ).toBeNull();
    await writeRole('dev', { user_claim: 'sub', bound_audiences: [AUDIENCE], token_policies: ['reader'] });
    const hitsAfterConfig = jwksHits;
    expect(hitsAfterConfig).toBeGreaterThan(0);
    const jwt = await sign(rsa, {}, { kid: 'key-1' });
    const login = await call(backend, 'update', 'login', { role: 'dev', jwt });
    expect(login.auth?.displayName).toBe('jwt-alice');
    await call(backend, 'update', 'login', { role: 'dev', jwt: await sign(rsa, {}, { kid: 'key-1' }) });
    expect(jwksHits).toBe(hitsAfterConfig);
    const forged = await sign(other, {}, { kid: 'key-1' });
    await expectError(
      backend.handle(request('update', 'login', { role: 'dev', jwt: forged })),
      400,
      'error validating token: no known key successfully validated the token signature',
      [forged],
    );
  });

  it('mounted as oidc it serves JWT logins too; renewAuth follows the role', async () => {
    const made = makeContext('auth/oidc/');
    const oidc = createJwtBackend(made.context, 'oidc');
    expect(oidc.type).toBe('oidc');
    await oidc.handle(
      request('update', 'config', { jwt_validation_pubkeys: [await exportSPKI(rsa.publicKey)] }),
    );
    await oidc.handle(
      request('update', 'role/dev', {
        user_claim: 'sub',
        bound_audiences: AUDIENCE,
        token_ttl: 60,
        token_max_ttl: 120,
      }),
    );
    const login = await call(oidc, 'update', 'login', { role: 'dev', jwt: await sign(rsa, {}) });
    expect(login.auth?.displayName).toBe('oidc-alice');
    const token = tokenFromLogin(login, made.clock.now);
    expect(await oidc.renewAuth?.(token)).toEqual({ ttl: 60, maxTtl: 120, period: 0 });
    await oidc.handle(request('delete', 'role/dev'));
    await expectError(
      oidc.renewAuth?.(token) ?? Promise.resolve(),
      400,
      'role dev does not exist during renewal',
    );
  });
});
