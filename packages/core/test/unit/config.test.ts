import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config.js';
import { auth, createVault, Redacted, VaultError, VaultErrorCode } from '../../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'leasehold-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function configError(fn: () => unknown): VaultError {
  try {
    fn();
  } catch (error) {
    expect(VaultError.is(error, VaultErrorCode.CONFIG)).toBe(true);
    return error as VaultError;
  }
  throw new Error('expected a VAULT_CONFIG error');
}

describe('configuration from the environment', () => {
  it('reads the Vault CLI variables', () => {
    const c = resolveConfig({
      env: {
        VAULT_ADDR: 'https://vault.example:8200',
        VAULT_TOKEN: 'hvs.envtoken',
        VAULT_NAMESPACE: 'ns1/',
        VAULT_SKIP_VERIFY: '1',
        VAULT_TLS_SERVER_NAME: 'vault.internal',
        VAULT_MAX_RETRIES: '5',
        VAULT_CLIENT_TIMEOUT: '1m30s',
      },
    });
    expect(c.addressText).toBe('https://vault.example:8200');
    expect(c.address).toMatchObject({ origin: 'https://vault.example:8200', tls: true });
    expect(c.namespace).toBe('ns1/');
    expect(c.auth.type).toBe('token');
    expect(c.tls).toMatchObject({ skipVerify: true, serverName: 'vault.internal' });
    expect(c.retry.maxRetries).toBe(5);
    expect(c.timeoutMs).toBe(90_000);
  });

  it('defaults like the Go client: https://127.0.0.1:8200, 60 s, 2 retries', () => {
    const c = resolveConfig({ env: { VAULT_TOKEN: 't' } });
    expect(c.addressText).toBe('https://127.0.0.1:8200');
    expect(c.timeoutMs).toBe(60_000);
    expect(c.retry.maxRetries).toBe(2);
    expect(c.token.revokeOnClose).toBe(true);
  });

  it('VAULT_AGENT_ADDR takes precedence and selects agent mode without credentials', () => {
    const c = resolveConfig({
      env: { VAULT_ADDR: 'https://a:8200', VAULT_AGENT_ADDR: 'unix:///run/agent.sock' },
    });
    expect(c.address).toMatchObject({ socketPath: '/run/agent.sock' });
    expect(c.auth.type).toBe('agent');
  });

  it('VAULT_ROLE_ID with VAULT_SECRET_ID or VAULT_SECRET_ID_FILE selects AppRole', () => {
    expect(resolveConfig({ env: { VAULT_ROLE_ID: 'r', VAULT_SECRET_ID: 's' } }).auth.type).toBe('approle');
    expect(resolveConfig({ env: { VAULT_ROLE_ID: 'r', VAULT_SECRET_ID_FILE: '/x' } }).auth.type).toBe(
      'approle',
    );
    const e = configError(() =>
      resolveConfig({ env: { VAULT_ROLE_ID: 'r', VAULT_SECRET_ID: 's', VAULT_SECRET_ID_FILE: '/x' } }),
    );
    expect(e.message).toContain('VAULT_SECRET_ID');
  });

  it('explicit options win over the environment', () => {
    const c = resolveConfig({
      env: { VAULT_ADDR: 'https://env:8200', VAULT_TOKEN: 'x', VAULT_MAX_RETRIES: '7' },
      address: 'http://127.0.0.1:8200',
      retry: { maxRetries: 0 },
    });
    expect(c.addressText).toBe('http://127.0.0.1:8200');
    expect(c.retry.maxRetries).toBe(0);
  });
});

describe('configuration mistakes fail at createVault() naming the option and the fix', () => {
  it.each([
    [{ env: {} }, '"auth"', 'VAULT_TOKEN'],
    [{ env: { VAULT_TOKEN: 't', VAULT_ADDR: 'vault:8200' } }, 'VAULT_ADDR', 'https://host:8200'],
    [{ env: { VAULT_TOKEN: 't', VAULT_SKIP_VERIFY: 'maybe' } }, 'VAULT_SKIP_VERIFY', 'true or false'],
    [{ env: { VAULT_TOKEN: 't', VAULT_MAX_RETRIES: '-1' } }, 'VAULT_MAX_RETRIES', 'Use 0'],
    [{ env: { VAULT_TOKEN: 't', VAULT_CLIENT_TIMEOUT: 'soon' } }, 'VAULT_CLIENT_TIMEOUT', 'Go duration'],
    [{ env: { VAULT_TOKEN: 't', VAULT_CACERT: '/nonexistent/ca.pem' } }, 'VAULT_CACERT', 'Check the path'],
    [{ env: { VAULT_TOKEN: 't' }, timeoutMs: 0 }, '"timeoutMs"', 'must be a positive integer (got 0)'],
    [{ env: { VAULT_TOKEN: 't' }, adress: 'x' }, 'unknown keys: adress', 'spelling'],
    [{ env: { VAULT_TOKEN: 't' }, tls: { certFile: '/nonexistent.pem' } }, 'tls.certFile', 'Check the path'],
    [{ env: {}, auth: auth.cert() }, 'tls.cert', 'tls.certFile'],
    [{ env: { VAULT_TOKEN: 't' }, logger: { info: () => {} } }, '"logger"', 'pino'],
  ])('case %#', (options, option, fix) => {
    const e = configError(() => createVault(options as Parameters<typeof createVault>[0]));
    expect(e.message).toContain(option);
    expect(e.message).toContain(fix);
  });

  it('a client certificate needs its key', () => {
    const certFile = join(dir, 'cert.pem');
    writeFileSync(certFile, '-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n');
    const e = configError(() => resolveConfig({ env: { VAULT_TOKEN: 't', VAULT_CLIENT_CERT: certFile } }));
    expect(e.message).toContain('tls.key');
  });

  it('auth method options are validated with the option name', () => {
    expect(configError(() => auth.appRole({ roleId: '' })).message).toContain('auth.appRole.roleId');
    expect(configError(() => auth.token({})).message).toContain('"token" or "tokenFile"');
    expect(configError(() => auth.jwt({ jwt: 'a', jwtFile: '/b' })).message).toContain('auth.jwt');
    expect(configError(() => auth.kubernetes({ role: '' })).message).toContain('auth.kubernetes.role');
    expect(
      configError(() => auth.userpass({ username: 'u', password: 'p', mount: '' } as never)).message,
    ).toContain('auth.userpass.mount');
    expect(
      configError(() => auth.appRole({ roleId: 'r', secretId: 's', extra: 1 } as never)).message,
    ).toContain('extra');
  });

  it('error messages never contain the secret values given', () => {
    const secret = 'very-secret-secret-id';
    const e = configError(() => auth.appRole({ roleId: 'r', secretId: secret, secretIdFile: '/x' }));
    expect(e.message).not.toContain(secret);
    const e2 = configError(() => createVault({ env: { VAULT_TOKEN: secret, VAULT_SKIP_VERIFY: 'nah' } }));
    expect(e2.message).not.toContain(secret);
  });

  it('accepts Redacted secrets', () => {
    const m = auth.appRole({ roleId: Redacted.of('r'), secretId: Redacted.of('s') });
    expect(m.type).toBe('approle');
    expect(m.mount).toBe('approle');
    expect(auth.appRole({ roleId: 'r', mount: '/team-approle/' }).mount).toBe('team-approle');
  });
});

describe('every option names itself, what it must be, and what was given', () => {
  const base = { env: { VAULT_TOKEN: 't' } };
  const message = (options: unknown): string =>
    configError(() => createVault({ ...base, ...(options as object) } as Parameters<typeof createVault>[0]))
      .message;

  it.each([
    [{ retry: { maxRetries: 'two' } }, '"retry.maxRetries" must be a non-negative integer (got "two")'],
    [{ retry: { maxRetries: 1.5 } }, '"retry.maxRetries" must be a non-negative integer (got 1.5)'],
    [{ retry: 'yes' }, '"retry" must be false or an object (got "yes")'],
    [{ retry: true }, '"retry" must be false or an object (got true)'],
    [{ tls: { skipVerify: 'no' } }, '"tls.skipVerify" must be true or false (got "no")'],
    [{ token: { revokeOnClose: 'no' } }, '"token.revokeOnClose" must be true or false (got "no")'],
    [{ token: { renew: 0 } }, '"token.renew" must be true or false (got 0)'],
    [{ leases: { revokeOnClose: 'false' } }, '"leases.revokeOnClose" must be true or false (got "false")'],
    [{ timeoutMs: Number.NaN }, '"timeoutMs" must be a positive integer (got NaN)'],
    [{ timeoutMs: Number.POSITIVE_INFINITY }, '"timeoutMs" must be a positive integer (got Infinity)'],
    [{ timeoutMs: '5000' }, '"timeoutMs" must be a positive integer (got "5000")'],
    [
      { circuitBreaker: { failureThreshold: -1 } },
      '"circuitBreaker.failureThreshold" must be a positive integer',
    ],
    [
      { token: { loginBackoff: { multiplier: 0.5 } } },
      '"token.loginBackoff.multiplier" must be a number >= 1 (got 0.5)',
    ],
    [{ cache: { maxEntries: 0 } }, '"cache.maxEntries" must be a positive integer (got 0)'],
    [{ clock: { now: () => 0 } }, '"clock" must implement now/setTimeout/clearTimeout'],
    [{ namespace: 7 }, '"namespace" must be a non-empty string (got a number)'],
  ])('%j', (options, expected) => {
    expect(message(options)).toContain(expected);
  });

  it('lists every mistake at once and points at the README', () => {
    const text = message({ retry: { maxRetries: -1 }, tls: { skipVerify: 'yes' } });
    expect(text).toContain('"retry.maxRetries" must be a non-negative integer (got -1)');
    expect(text).toContain('"tls.skipVerify" must be true or false (got "yes")');
    expect(text).toContain('See the createVault() options in the README.');
  });

  it('never shows a value given for a string option (it may be a secret)', () => {
    const secret = 'hvs.a-secret-token-value';
    const e = configError(() => auth.appRole({ roleId: 12345 as never, secretId: secret }));
    expect(e.message).toContain('"auth.appRole.roleId" must be a non-empty string or a Redacted<string>');
    expect(e.message).not.toContain('12345');
    const e2 = configError(() => createVault({ env: { VAULT_TOKEN: 42 as never } }));
    expect(e2.message).toContain('"env.VAULT_TOKEN" must be a non-empty string (got a number)');
    expect(e2.message).not.toContain('42');
    const e3 = configError(() => createVault({ ...base, retry: { maxRetries: secret } as never }));
    expect(e3.message).toContain('(got a string)');
    expect(e3.message).not.toContain(secret);
  });

  it('per-call lease options are validated the same way', () => {
    const vault = createVault(base);
    expect(
      configError(() => vault.database.credentials('app', { revokeOnClose: 'no' as never })).message,
    ).toContain('"database.credentials.revokeOnClose" must be true or false (got "no")');
    expect(
      configError(() => vault.pki.certificate('web', { commonName: 'a' }, { drainTimeoutMs: -5 })).message,
    ).toContain('"pki.certificate.drainTimeoutMs" must be a non-negative integer (got -5)');
    return vault.close({ revokeToken: false });
  });

  it('ready(), close() and lease.ready() options reject with VAULT_CONFIG; a bad close() leaves the client open', async () => {
    const vault = createVault(base);
    await expect(vault.ready({ timeoutMs: 'soon' as never })).rejects.toMatchObject({
      code: VaultErrorCode.CONFIG,
      message: expect.stringContaining('"ready.timeoutMs" must be a positive integer (got "soon")'),
    });
    await expect(vault.ready({ signal: 'stop' as never })).rejects.toMatchObject({
      message: expect.stringContaining('"ready.signal" must be an AbortSignal'),
    });
    await expect(vault.close({ revokeToken: 'no' as never })).rejects.toMatchObject({
      code: VaultErrorCode.CONFIG,
      message: expect.stringContaining('"close.revokeToken" must be true or false (got "no")'),
    });
    expect(vault.closed).toBe(false);
    await expect(vault.database.credentials('app').ready({ timeoutMs: -1 })).rejects.toMatchObject({
      code: VaultErrorCode.CONFIG,
      message: expect.stringContaining('"lease.ready.timeoutMs" must be a positive integer (got -1)'),
    });
    await vault.close({ revokeToken: false, timeoutMs: 100 });
    expect(vault.closed).toBe(true);
  });
});
