/**
 * The core client against the dev server over real HTTP: every auth method, the token lifecycle under short
 * TTLs, out-of-band revocation, single-flight login, sealing, and a leak check over everything logged.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type DevServer, startDevServer } from '@leasehold/dev-server';
import { request as undiciRequest } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AuthMethod,
  auth,
  createVault,
  type Vault,
  VaultError,
  VaultErrorCode,
  type VaultOptions,
} from '../../src/index.js';
import {
  eventually,
  LeakRecorder,
  rootClient,
  serviceAccountJwt,
  setupAppRole,
  signingKey,
  signJwt,
  writePolicy,
} from './helpers.js';

const KV_PASSWORD = 'kv-password-7f3a9c';
const USER_PASSWORD = 'userpass-password-41b2';
const APP_POLICY = `
path "secret/*" { capabilities = ["create", "read", "update", "delete", "list"] }
`;

const recorder = new LeakRecorder();
const tmp = mkdtempSync(join(tmpdir(), 'leasehold-core-it-'));
let server: DevServer;
let root: Vault;
const clients: Vault[] = [];

/** A client of the shared dev server whose logs/events/errors go to the recorder. */
function client(method: AuthMethod, extra: VaultOptions = {}): Vault {
  const vault = createVault({
    env: {},
    address: server.url,
    auth: recorder.recording(method),
    logger: recorder.logger(),
    retry: { initialDelayMs: 50, maxDelayMs: 200 },
    circuitBreaker: { probeIntervalMs: 100, maxProbeIntervalMs: 200 },
    ...extra,
  });
  recorder.watch(vault);
  clients.push(vault);
  return vault;
}

async function readApp(vault: Vault): Promise<string | undefined> {
  const res = await vault.request<{ data: { password: string } }>('GET', 'secret/data/app');
  return res.body?.data?.data.password;
}

function logins(mount = 'approle'): number {
  return server.requests({ method: 'POST', path: `auth/${mount}/login`, status: 200 }).length;
}

beforeAll(async () => {
  server = await startDevServer();
  recorder.secret(server.rootToken, KV_PASSWORD, USER_PASSWORD);
  root = rootClient(server, { logger: recorder.logger() });
  await writePolicy(root, 'app', APP_POLICY);
  await root.request('POST', 'secret/data/app', { body: { data: { password: KV_PASSWORD } } });
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await root?.close();
  await server?.close();
  rmSync(tmp, { recursive: true, force: true });
});

describe('every auth method logs in against the dev server', () => {
  it('token (value and file); a user token is never revoked', async () => {
    const created = await root.request('POST', 'auth/token/create', {
      body: { policies: ['app'], ttl: '1h' },
    });
    const token = created.body?.auth?.client_token ?? '';
    recorder.secret(token);
    const byValue = client(auth.token({ token }));
    await byValue.ready({ timeoutMs: 30_000 });
    expect(await readApp(byValue)).toBe(KV_PASSWORD);
    expect(byValue.health().token).toMatchObject({ renewable: true });
    await byValue.close();
    const file = join(tmp, 'token');
    writeFileSync(file, `${token}\n`);
    const byFile = client(auth.token({ tokenFile: file }));
    expect(await readApp(byFile)).toBe(KV_PASSWORD);
    await byFile.close();
    // still valid: the library never revokes a token it was given
    const lookup = await root.request<{ ttl: number }>('POST', 'auth/token/lookup', { body: { token } });
    expect(lookup.body?.data?.ttl).toBeGreaterThan(0);
  });

  it('appRole with a secret id value, a file and a response-wrapped secret id; login tokens revoked on close', async () => {
    const { roleId, secretId } = await setupAppRole(root, 'web', {
      token_policies: ['app'],
      token_ttl: '5m',
    });
    recorder.secret(roleId, secretId);
    const byValue = client(auth.appRole({ roleId, secretId }));
    await byValue.ready({ timeoutMs: 30_000 });
    expect(await readApp(byValue)).toBe(KV_PASSWORD);
    const revokesBefore = server.requests({ path: 'auth/token/revoke-self', status: 204 }).length;
    await byValue.close();
    expect(server.requests({ path: 'auth/token/revoke-self', status: 204 }).length).toBe(revokesBefore + 1);

    const file = join(tmp, 'secret-id');
    writeFileSync(file, secretId);
    const byFile = client(auth.appRole({ roleId, secretIdFile: file }));
    expect(await readApp(byFile)).toBe(KV_PASSWORD);

    const wrapped = await root.request('POST', 'auth/approle/role/web/secret-id', {
      body: {},
      headers: { 'X-Vault-Wrap-TTL': '60s' },
    });
    const wrappingToken = wrapped.body?.wrap_info?.token ?? '';
    expect(wrappingToken).not.toBe('');
    recorder.secret(wrappingToken);
    const byWrapped = client(auth.appRole({ roleId, wrappedSecretId: wrappingToken }));
    expect(await readApp(byWrapped)).toBe(KV_PASSWORD);
    expect(server.requests({ path: 'sys/wrapping/unwrap', status: 200 })).toHaveLength(1);
  });

  it('appRole with wrong credentials: ready() rejects with VAULT_LOGIN_FAILED naming Vault’s reason', async () => {
    const { roleId } = await setupAppRole(root, 'web', { token_policies: ['app'] });
    const wrongSecret = 'wrong-secret-id-0000';
    recorder.secret(wrongSecret);
    const bad = client(auth.appRole({ roleId, secretId: wrongSecret }));
    const error = recorder.error(
      await bad.ready({ timeoutMs: 30_000 }).catch((e: unknown) => e),
    ) as VaultError;
    expect(error.code).toBe(VaultErrorCode.LOGIN_FAILED);
    expect(error.message).toContain('invalid role or secret ID');
    expect(error.status).toBe(400);
  });

  it('userpass', async () => {
    await root.request('POST', 'sys/auth/userpass', { body: { type: 'userpass' } });
    await root.request('POST', 'auth/userpass/users/alice', {
      body: { password: USER_PASSWORD, token_policies: ['app'], token_ttl: '10m' },
    });
    const vault = client(auth.userpass({ username: 'alice', password: USER_PASSWORD }));
    expect(await readApp(vault)).toBe(KV_PASSWORD);
    const wrong = client(auth.userpass({ username: 'alice', password: 'not-the-password' }));
    recorder.secret('not-the-password');
    const error = recorder.error(await wrong.ready({ timeoutMs: 30_000 }).catch((e: unknown) => e));
    expect(VaultError.is(error, VaultErrorCode.LOGIN_FAILED)).toBe(true);
  });

  it('jwt with a real ES256-signed token (value and file)', async () => {
    const { privateKey, publicPem } = signingKey();
    await root.request('POST', 'sys/auth/jwt', { body: { type: 'jwt' } });
    await root.request('POST', 'auth/jwt/config', {
      body: { jwt_validation_pubkeys: [publicPem], bound_issuer: 'https://issuer.test' },
    });
    await root.request('POST', 'auth/jwt/role/ci', {
      body: {
        role_type: 'jwt',
        user_claim: 'sub',
        bound_audiences: ['vault'],
        bound_subject: 'ci-job',
        token_policies: ['app'],
        token_ttl: '10m',
      },
    });
    const now = Math.floor(Date.now() / 1000);
    const jwt = signJwt(
      { iss: 'https://issuer.test', sub: 'ci-job', aud: 'vault', iat: now, nbf: now, exp: now + 300 },
      privateKey,
    );
    recorder.secret(jwt);
    const byValue = client(auth.jwt({ role: 'ci', jwt }));
    expect(await readApp(byValue)).toBe(KV_PASSWORD);
    const file = join(tmp, 'jwt');
    writeFileSync(file, jwt);
    const byFile = client(auth.jwt({ role: 'ci', jwtFile: file }));
    expect(await readApp(byFile)).toBe(KV_PASSWORD);
  });

  it('kubernetes with a real signed projected service-account token, re-read on every login', async () => {
    const { privateKey, publicPem } = signingKey();
    await root.request('POST', 'sys/auth/kubernetes', { body: { type: 'kubernetes' } });
    await root.request('POST', 'auth/kubernetes/config', {
      body: { kubernetes_host: 'https://kubernetes.default.svc', pem_keys: [publicPem] },
    });
    await root.request('POST', 'auth/kubernetes/role/web', {
      body: {
        bound_service_account_names: ['web'],
        bound_service_account_namespaces: ['prod'],
        token_policies: ['app'],
        token_ttl: '10m',
      },
    });
    const file = join(tmp, 'sa-token');
    const first = serviceAccountJwt(privateKey, 'prod', 'web');
    recorder.secret(first);
    writeFileSync(file, first);
    const vault = client(auth.kubernetes({ role: 'web', tokenFile: file }));
    expect(await readApp(vault)).toBe(KV_PASSWORD);
    // the kubelet rotates the projected token; the next login must use the new one
    const second = serviceAccountJwt(privateKey, 'prod', 'other-account');
    recorder.secret(second);
    writeFileSync(file, second);
    const health = vault.health();
    await server.revokeToken(health.token?.accessor ?? '');
    const error = recorder.error(await readApp(vault).catch((e: unknown) => e));
    // the rotated file now holds a token of a service account the role does not allow: the re-login proves the
    // file was read again
    expect(VaultError.is(error, VaultErrorCode.LOGIN_FAILED)).toBe(true);
    expect((error as VaultError).message).toContain('service account name not authorized');
  });

  it('cert over real mTLS', async () => {
    const tlsServer = await startDevServer({ tls: true });
    try {
      const issue = tlsServer.issueClientCertificate;
      if (!issue || !tlsServer.caCert) throw new Error('dev server did not generate TLS material');
      const { cert, key } = await issue('app-client');
      recorder.secret(key);
      const tlsRoot = createVault({
        env: {},
        address: tlsServer.url,
        tls: { ca: tlsServer.caCert },
        auth: auth.token({ token: tlsServer.rootToken }),
      });
      recorder.secret(tlsServer.rootToken);
      await writePolicy(tlsRoot, 'app', APP_POLICY);
      await tlsRoot.request('POST', 'secret/data/app', { body: { data: { password: KV_PASSWORD } } });
      await tlsRoot.request('POST', 'sys/auth/cert', { body: { type: 'cert' } });
      await tlsRoot.request('POST', 'auth/cert/certs/web', {
        body: {
          certificate: tlsServer.caCert,
          allowed_common_names: ['app-client'],
          token_policies: ['app'],
        },
      });
      await tlsRoot.close();
      const vault = createVault({
        env: {},
        address: tlsServer.url,
        tls: { ca: tlsServer.caCert, cert, key },
        auth: recorder.recording(auth.cert({ name: 'web' })),
        logger: recorder.logger(),
      });
      recorder.watch(vault);
      await vault.ready({ timeoutMs: 30_000 });
      expect(await readApp(vault)).toBe(KV_PASSWORD);
      await vault.close();
      // without a client certificate the same login is refused
      const noCert = createVault({
        env: {},
        address: tlsServer.url,
        tls: { ca: tlsServer.caCert },
        auth: auth.appRole({ roleId: 'x', secretId: 'y' }),
      });
      const plain = await noCert
        .request('POST', 'auth/cert/login', { authenticated: false, body: { name: 'web' } })
        .catch((e: unknown) => e);
      expect(VaultError.is(plain, VaultErrorCode.BAD_REQUEST)).toBe(true);
      await noCert.close();
    } finally {
      await tlsServer.close();
    }
  });

  it('agent: no login, requests go through a local agent on a unix socket which holds the token', async () => {
    const created = await root.request('POST', 'auth/token/create', {
      body: { policies: ['app'], ttl: '1h' },
    });
    const agentToken = created.body?.auth?.client_token ?? '';
    recorder.secret(agentToken);
    const socketPath = join(tmp, 'agent.sock');
    const seen: string[] = [];
    // A minimal Vault Agent/Proxy with use_auto_auth_token and require_request_header: real HTTP both ways.
    const proxy = createServer(async (req: IncomingMessage, res: ServerResponse) => {
      seen.push(`${req.method} ${req.url} token=${req.headers['x-vault-token'] ? 'yes' : 'no'}`);
      if (req.headers['x-vault-request'] !== 'true') {
        res.writeHead(412, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ errors: ['missing "X-Vault-Request" header'] }));
        return;
      }
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const upstream = await undiciRequest(`${server.url}${req.url}`, {
        method: req.method as 'GET',
        headers: { 'x-vault-token': agentToken, 'content-type': 'application/json' },
        body: chunks.length ? Buffer.concat(chunks) : undefined,
      });
      res.writeHead(upstream.statusCode, { 'content-type': 'application/json' });
      res.end(await upstream.body.text());
    });
    await new Promise<void>((resolve) => proxy.listen(socketPath, resolve));
    const loginsBefore = server.requests({ path: 'auth/*' }).length;
    try {
      const vault = createVault({
        env: { VAULT_AGENT_ADDR: `unix://${socketPath}` },
        logger: recorder.logger(),
      });
      recorder.watch(vault);
      expect(vault.authMethod).toBe('agent');
      await vault.ready({ timeoutMs: 30_000 });
      expect(await readApp(vault)).toBe(KV_PASSWORD);
      await vault.close();
      expect(seen.length).toBeGreaterThanOrEqual(2);
      expect(seen.every((line) => line.endsWith('token=no'))).toBe(true); // the client sent no token
      // the client neither logged in nor revoked anything: only the agent's token was used
      expect(server.requests({ path: 'auth/*' }).length - loginsBefore).toBe(1); // ready(): lookup-self
    } finally {
      proxy.closeAllConnections();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
    }
  });
});

describe('token lifecycle against the dev server', () => {
  it('AppRole token_ttl=2s, token_max_ttl=6s: continuous requests through two max-TTL re-logins all succeed, with no extra logins', async () => {
    const { roleId, secretId } = await setupAppRole(root, 'short', {
      token_policies: ['app'],
      token_ttl: '2s',
      token_max_ttl: '6s',
    });
    recorder.secret(roleId, secretId);
    const vault = client(auth.appRole({ roleId, secretId }));
    const loginsBefore = logins();
    const forbiddenBefore = server.requests({ path: 'secret/data/app', status: 403 }).length;
    await vault.ready({ timeoutMs: 30_000 });
    const started = Date.now();
    // The run ends on a state, not after a fixed time: the first token and two that replaced it at their max TTL.
    // The deadline is only a guard.
    const guard = started + 60_000;
    let ok = 0;
    const failures: string[] = [];
    while (logins() - loginsBefore < 3 && Date.now() < guard) {
      try {
        expect(await readApp(vault)).toBe(KV_PASSWORD);
        ok++;
      } catch (error) {
        recorder.error(error);
        failures.push(VaultError.is(error) ? error.code : String(error));
      }
      await new Promise((r) => setTimeout(r, 25));
    }
    const elapsedS = (Date.now() - started) / 1000;
    expect(failures).toEqual([]);
    const count = logins() - loginsBefore;
    expect(count).toBeGreaterThanOrEqual(3);
    expect(ok).toBeGreaterThan(0);
    // No extra logins: the max TTL forces a new token every 6 s at most, and the client replaces a token early —
    // renewals and the re-login are spread over [½·d, d] of their scheduled wait so that a fleet does not act in
    // lockstep — so a token serves at least about half of its max TTL: at most 1 + elapsed / 3 s logins (plus the
    // one that ended the run). The exact instants are asserted on a manual clock (token-lifecycle.test.ts).
    expect(count).toBeLessThanOrEqual(2 + Math.ceil(elapsedS / 3));
    // And no burst of logins: each token served a while (a re-login per request would be 25 ms apart).
    const loginTimes = server
      .requests({ method: 'POST', path: 'auth/approle/login', status: 200 })
      .slice(loginsBefore)
      .map((entry) => Date.parse(entry.time));
    for (let i = 1; i < loginTimes.length; i++) {
      expect(loginTimes[i]! - loginTimes[i - 1]!).toBeGreaterThanOrEqual(1000);
    }
    expect(server.requests({ path: 'auth/token/renew-self', status: 200 }).length).toBeGreaterThan(0);
    // A request may race a renewal that Vault caps to 0 s (the dev server rounds the time left down): it is then
    // answered 403 and transparently retried with the new token. It must never cost an extra login (checked above)
    // and it happens at most once per token.
    const forbidden = server.requests({ path: 'secret/data/app', status: 403 }).length - forbiddenBefore;
    expect(forbidden).toBeLessThanOrEqual(count - 1);
    await vault.close();
  }, 90_000);

  it('while renewals and logins fail, the current token stays in use until Vault answers again, then is renewed', async () => {
    // token_ttl 10 s: the first renewal (~7 s) falls inside an 8 s outage of the auth endpoints; the token stays
    // valid until 10 s (the client stops using it 1 s early). Its renewals ended because Vault did not answer, so
    // once it answers the token is renewed (still valid, renewable), not replaced: no login, no lease re-issued.
    const { roleId, secretId } = await setupAppRole(root, 'outage', {
      token_policies: ['app'],
      token_ttl: '10s',
      token_max_ttl: '1h',
    });
    recorder.secret(roleId, secretId);
    const vault = client(auth.appRole({ roleId, secretId }), {
      token: { loginBackoff: { initialMs: 100, maxIntervalMs: 300 } },
    });
    const failedLogins: unknown[] = [];
    const failedRenewals: unknown[] = [];
    vault.on('login:failed', (e) => failedLogins.push(e));
    vault.on('token:renew-failed', (e) => failedRenewals.push(e));
    const logins: unknown[] = [];
    vault.on('login', (e) => logins.push(e));
    await vault.ready({ timeoutMs: 30_000 });
    const first = vault.health().token?.accessor;
    // The auth endpoints fail (503) while the KV mount keeps working.
    server.failNext({ path: 'auth/token/renew-self', status: 503, error: 'injected outage', count: 1000 });
    server.failNext({ path: 'auth/approle/login', status: 503, error: 'injected outage', count: 1000 });
    const failures: string[] = [];
    const until = Date.now() + 8000;
    while (Date.now() < until) {
      await readApp(vault).catch((e: unknown) => failures.push(String(recorder.error(e))));
      await new Promise((r) => setTimeout(r, 25));
    }
    expect(vault.health().token?.accessor).toBe(first); // still the first token, still valid
    const renewedBefore = server.requests({ path: 'auth/token/renew-self', status: 200 }).length;
    server.clearFaults();
    const end = Date.now() + 1500;
    while (Date.now() < end) {
      await readApp(vault).catch((e: unknown) => failures.push(String(recorder.error(e))));
      await new Promise((r) => setTimeout(r, 25));
    }
    expect(failures).toEqual([]);
    expect(failedRenewals.length + failedLogins.length).toBeGreaterThan(0);
    // Renewed once Vault answered: the same token, extended to a full TTL again, and no second login.
    await expect
      .poll(() => server.requests({ path: 'auth/token/renew-self', status: 200 }).length, { timeout: 10_000 })
      .toBeGreaterThan(renewedBefore);
    expect(vault.health().token?.accessor).toBe(first);
    expect(vault.health().token?.ttl).toBeGreaterThan(5);
    expect(logins).toHaveLength(1);
    expect(vault.health().status).toBe('ready');
  }, 30_000);

  it('a token revoked out of band: the next request succeeds after exactly one re-login', async () => {
    const { roleId, secretId } = await setupAppRole(root, 'revoked', {
      token_policies: ['app'],
      token_ttl: '5m',
    });
    recorder.secret(roleId, secretId);
    const vault = client(auth.appRole({ roleId, secretId }));
    await vault.ready({ timeoutMs: 30_000 });
    const accessor = vault.health().token?.accessor ?? '';
    expect(await server.revokeToken(accessor)).toBe(true);
    const before = logins();
    expect(await readApp(vault)).toBe(KV_PASSWORD);
    expect(logins() - before).toBe(1);
    expect(vault.health().token?.accessor).not.toBe(accessor);
  });

  it('1,000 concurrent first requests cause exactly one login', async () => {
    const { roleId, secretId } = await setupAppRole(root, 'burst', {
      token_policies: ['app'],
      token_ttl: '5m',
    });
    recorder.secret(roleId, secretId);
    const vault = client(auth.appRole({ roleId, secretId }));
    // This client's logins, counted from its own events: the server's log also holds the logins of the other tests'
    // clients, which keep running (and may re-login) beside this one.
    const seen: string[] = [];
    vault.on('login', (e) => seen.push(`login (${e.reason})`));
    vault.on('login:failed', (e) => seen.push(`login failed (${e.code}: ${e.message})`));
    const before = logins();
    const results = await Promise.all(Array.from({ length: 1000 }, () => readApp(vault)));
    expect(results.every((r) => r === KV_PASSWORD)).toBe(true);
    expect(seen).toEqual(['login (initial)']);
    expect(logins() - before).toBeGreaterThanOrEqual(1);
  });

  it('a sealed server fails requests fast with VAULT_SEALED; after unseal work resumes without a restart', async () => {
    const { roleId, secretId } = await setupAppRole(root, 'seal', {
      token_policies: ['app'],
      token_ttl: '5m',
    });
    recorder.secret(roleId, secretId);
    const vault = client(auth.appRole({ roleId, secretId }));
    await vault.ready({ timeoutMs: 30_000 });
    server.seal();
    try {
      const first = recorder.error(await readApp(vault).catch((e: unknown) => e));
      expect(VaultError.is(first, VaultErrorCode.SEALED)).toBe(true);
      const sentBefore = server.requests({ path: 'secret/data/app' }).length;
      const second = recorder.error(await readApp(vault).catch((e: unknown) => e));
      expect(VaultError.is(second, VaultErrorCode.SEALED)).toBe(true);
      expect(server.requests({ path: 'secret/data/app' }).length).toBe(sentBefore); // failed fast, not sent
      // The AppRole token is still valid: degraded (serving), not down.
      expect(vault.health()).toMatchObject({
        status: 'degraded',
        reasons: ['Vault is sealed (circuit open)'],
      });
    } finally {
      server.unseal();
    }
    expect(await eventually(() => readApp(vault), 5000)).toBe(KV_PASSWORD);
    expect(vault.health().status).toBe('ready');
  });
});

describe('secrets never leak', () => {
  it('nothing logged, emitted or thrown in the flows above contains a token, secret id or password', () => {
    expect(recorder.lines.length).toBeGreaterThan(20);
    expect(recorder.secrets.size).toBeGreaterThan(10);
    expect(recorder.leaks()).toEqual([]);
  });
});
