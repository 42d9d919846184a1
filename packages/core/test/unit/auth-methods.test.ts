import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { errorFromResponse } from '../../src/errors.js';
import {
  type AuthMethod,
  auth,
  createVault,
  type LoginContext,
  Redacted,
  type TransportRequestOptions,
  VaultError,
  VaultErrorCode,
} from '../../src/index.js';
import { readCredentialFile } from '../../src/token/token-manager.js';
import { envelope } from '../helpers/http-stub.js';

const dir = mkdtempSync(join(tmpdir(), 'leasehold-auth-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Sent {
  method: string;
  path: string;
  body: unknown;
  token: string | undefined;
}

function context(reply: (s: Sent) => unknown = () => okLogin()): { ctx: LoginContext; sent: Sent[] } {
  const sent: Sent[] = [];
  const ctx: LoginContext = {
    async request(method, path, options: TransportRequestOptions = {}) {
      const s = { method, path, body: options.body, token: options.token?.reveal() };
      sent.push(s);
      const body = reply(s);
      if (body instanceof VaultError) throw body;
      return { status: 200, headers: {}, body: body as never };
    },
    readFile: (path, option) => readCredentialFile(path, option),
    signal: new AbortController().signal,
  };
  return { ctx, sent };
}

function okLogin(token = 'hvs.issued') {
  return envelope({
    auth: {
      client_token: token,
      accessor: 'acc',
      policies: ['default'],
      metadata: null,
      lease_duration: 60,
      renewable: true,
    },
  });
}

describe('auth methods', () => {
  it('appRole posts role_id and secret_id to its mount', async () => {
    const { ctx, sent } = context();
    const result = await auth.appRole({ roleId: 'rid', secretId: 'sid', mount: 'apps' }).login(ctx);
    expect(sent).toEqual([
      {
        method: 'POST',
        path: 'auth/apps/login',
        body: { role_id: 'rid', secret_id: 'sid' },
        token: undefined,
      },
    ]);
    expect(result).toMatchObject({ accessor: 'acc', ttl: 60, renewable: true, userProvided: false });
    expect(Redacted.isRedacted(result.token)).toBe(true);
    expect(result.token.reveal()).toBe('hvs.issued');
  });

  it('appRole re-reads the secret id file on every login', async () => {
    const file = join(dir, 'secret-id');
    writeFileSync(file, 'first-secret-id\n');
    const method = auth.appRole({ roleId: 'rid', secretIdFile: file });
    const { ctx, sent } = context();
    await method.login(ctx);
    writeFileSync(file, 'second-secret-id');
    await method.login(ctx);
    expect(sent.map((s) => (s.body as { secret_id: string }).secret_id)).toEqual([
      'first-secret-id',
      'second-secret-id',
    ]);
  });

  it('appRole unwraps a response-wrapped secret id once through sys/wrapping/unwrap', async () => {
    const { ctx, sent } = context((s) =>
      s.path === 'sys/wrapping/unwrap'
        ? envelope({ data: { secret_id: 'unwrapped-sid', secret_id_accessor: 'x' } })
        : okLogin(),
    );
    const method = auth.appRole({ roleId: 'rid', wrappedSecretId: 'hvs.wrapping-token' });
    await method.login(ctx);
    await method.login(ctx);
    expect(sent.map((s) => s.path)).toEqual([
      'sys/wrapping/unwrap',
      'auth/approle/login',
      'auth/approle/login',
    ]);
    expect(sent[0]?.token).toBe('hvs.wrapping-token');
    expect(sent[0]?.body).toBeUndefined();
    expect(sent[1]?.body).toEqual({ role_id: 'rid', secret_id: 'unwrapped-sid' });
  });

  it('an invalid wrapping token is a login failure', async () => {
    const { ctx } = context(() =>
      errorFromResponse(
        400,
        ['wrapping token is not valid or does not exist'],
        'POST',
        'sys/wrapping/unwrap',
      ),
    );
    const error = await auth
      .appRole({ roleId: 'rid', wrappedSecretId: 'hvs.used' })
      .login(ctx)
      .catch((e: unknown) => e);
    expect(VaultError.is(error, VaultErrorCode.LOGIN_FAILED)).toBe(true);
    expect((error as VaultError).message).toContain('wrapping token is not valid');
  });

  it('kubernetes re-reads the projected service-account token on every login', async () => {
    const file = join(dir, 'sa-token');
    writeFileSync(file, 'jwt-one');
    const method = auth.kubernetes({ role: 'web', tokenFile: file });
    const { ctx, sent } = context();
    await method.login(ctx);
    writeFileSync(file, 'jwt-two');
    await method.login(ctx);
    expect(sent.map((s) => s.body)).toEqual([
      { role: 'web', jwt: 'jwt-one' },
      { role: 'web', jwt: 'jwt-two' },
    ]);
    expect(sent[0]?.path).toBe('auth/kubernetes/login');
  });

  it('jwt takes a value or a file; role optional', async () => {
    const { ctx, sent } = context();
    await auth.jwt({ jwt: 'a.b.c' }).login(ctx);
    const file = join(dir, 'jwt');
    writeFileSync(file, 'd.e.f');
    await auth.jwt({ jwtFile: file, role: 'ci', mount: 'gitlab' }).login(ctx);
    expect(sent).toMatchObject([
      { path: 'auth/jwt/login', body: { jwt: 'a.b.c' } },
      { path: 'auth/gitlab/login', body: { jwt: 'd.e.f', role: 'ci' } },
    ]);
  });

  it('userpass posts the password to login/<username>', async () => {
    const { ctx, sent } = context();
    await auth.userpass({ username: 'alice', password: Redacted.of('pw') }).login(ctx);
    expect(sent).toMatchObject([{ path: 'auth/userpass/login/alice', body: { password: 'pw' } }]);
  });

  it('cert posts the optional role name (the credential is the TLS client certificate)', async () => {
    const { ctx, sent } = context();
    await auth.cert({ name: 'web' }).login(ctx);
    expect(sent).toMatchObject([{ path: 'auth/cert/login', body: { name: 'web' } }]);
    expect(auth.cert().requiresClientCertificate).toBe(true);
  });

  it('token looks itself up and is marked user-provided; a token file is re-read', async () => {
    const file = join(dir, 'token');
    writeFileSync(file, 'hvs.file-token-1');
    const method = auth.token({ tokenFile: file });
    const { ctx, sent } = context(() =>
      envelope({ data: { accessor: 'a1', ttl: 30, creation_ttl: 3600, renewable: true, policies: ['p'] } }),
    );
    const r1 = await method.login(ctx);
    writeFileSync(file, 'hvs.file-token-2');
    const r2 = await method.login(ctx);
    expect(sent.map((s) => [s.method, s.path, s.token])).toEqual([
      ['GET', 'auth/token/lookup-self', 'hvs.file-token-1'],
      ['GET', 'auth/token/lookup-self', 'hvs.file-token-2'],
    ]);
    expect(r1).toMatchObject({
      accessor: 'a1',
      ttl: 30,
      renewable: true,
      userProvided: true,
      renewIncrement: 3600,
    });
    expect(r2.token.reveal()).toBe('hvs.file-token-2');
  });

  it('rejected credentials become VAULT_LOGIN_FAILED; unreachable stays VAULT_UNAVAILABLE', async () => {
    const rejected = context(() =>
      errorFromResponse(400, ['invalid username or password'], 'POST', 'auth/userpass/login/bob'),
    );
    const e1 = await auth
      .userpass({ username: 'bob', password: 'wrong-pass' })
      .login(rejected.ctx)
      .catch((e: unknown) => e);
    expect(VaultError.is(e1, VaultErrorCode.LOGIN_FAILED)).toBe(true);
    expect((e1 as VaultError).message).not.toContain('wrong-pass');
    const down = context(() => new VaultError(VaultErrorCode.UNAVAILABLE, 'down'));
    const e2 = await auth
      .userpass({ username: 'bob', password: 'x' })
      .login(down.ctx)
      .catch((e: unknown) => e);
    expect(VaultError.is(e2, VaultErrorCode.UNAVAILABLE)).toBe(true);
  });

  it('a missing or empty credential file is VAULT_CONFIG naming the option', async () => {
    const { ctx } = context();
    const missing = await auth
      .kubernetes({ role: 'r', tokenFile: join(dir, 'nope') })
      .login(ctx)
      .catch((e: unknown) => e);
    expect((missing as VaultError).code).toBe(VaultErrorCode.CONFIG);
    expect((missing as VaultError).message).toContain('auth.kubernetes.tokenFile');
    const empty = join(dir, 'empty');
    writeFileSync(empty, '  \n');
    const e = await auth
      .appRole({ roleId: 'r', secretIdFile: empty })
      .login(ctx)
      .catch((err: unknown) => err);
    expect((e as VaultError).message).toContain('is empty');
  });

  it('a custom method is one small interface', async () => {
    const custom: AuthMethod = {
      type: 'github',
      mount: 'github',
      async login(ctx) {
        const res = await ctx.request('POST', 'auth/github/login', { body: { token: 'gh-pat' } });
        return {
          token: Redacted.of(res.body?.auth?.client_token ?? ''),
          accessor: res.body?.auth?.accessor ?? '',
          ttl: res.body?.auth?.lease_duration ?? 0,
          renewable: res.body?.auth?.renewable ?? false,
          policies: [],
          userProvided: false,
        };
      },
    };
    const calls: string[] = [];
    const vault = createVault({
      env: {},
      auth: custom,
      transport: {
        async request(method, path) {
          calls.push(`${method} ${path}`);
          return {
            status: 200,
            headers: {},
            body: (path === 'auth/github/login' ? okLogin() : envelope({ data: {} })) as never,
          };
        },
        async close() {},
      },
    });
    await vault.ready();
    await vault.request('GET', 'secret/data/x');
    await vault.close();
    expect(calls).toEqual(['POST auth/github/login', 'GET secret/data/x', 'POST auth/token/revoke-self']);
  });
});
