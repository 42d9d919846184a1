/**
 * User-facing deadlines against a real local server that accepts connections and never answers: `ready()`,
 * a request's `timeoutMs` and `signal`, `lease.ready()` and `close()` settle at their deadline with a typed error,
 * leave nothing pending and cause no unhandled rejection. Deadlines are asserted with generous guards (10× the
 * timeout), never tight wall-clock bounds.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { auth, createVault, type Vault, VaultError, VaultErrorCode } from '../../src/index.js';
import { envelope, HttpStub, type SeenRequest, type StubReply } from '../helpers/http-stub.js';

let stubs: HttpStub[] = [];
let vaults: Vault[] = [];
let unhandled: unknown[] = [];
const onUnhandled = (reason: unknown): void => {
  unhandled.push(reason);
};

beforeEach(() => {
  unhandled = [];
  process.on('unhandledRejection', onUnhandled);
});
afterEach(async () => {
  await Promise.all(vaults.map((v) => v.close({ revokeToken: false, timeoutMs: 200 })));
  await Promise.all(stubs.map((s) => s.close()));
  vaults = [];
  stubs = [];
  await new Promise((resolve) => setTimeout(resolve, 20));
  process.off('unhandledRejection', onUnhandled);
  expect(unhandled).toEqual([]);
});

const LOGIN = {
  status: 200,
  body: envelope({
    auth: { client_token: 'hvs.deadline-token', accessor: 'acc', lease_duration: 3600, renewable: true },
  }),
};

/** A server whose `hang` paths never answer; logins succeed unless hung. */
async function hangingVault(
  hang: (path: string) => boolean,
  options: Parameters<typeof createVault>[0] = {},
): Promise<{ vault: Vault; stub: HttpStub }> {
  const stub = new HttpStub();
  stub.handler = (req: SeenRequest): StubReply => {
    const path = req.url.replace(/^\/v1\//, '').split('?')[0] ?? '';
    if (hang(path)) return { status: 200, hang: true };
    if (path === 'auth/approle/login') return LOGIN;
    return { status: 200, body: envelope({ data: { value: 'x' } }) };
  };
  const address = await stub.listen();
  stubs.push(stub);
  const vault = createVault({
    env: {},
    address,
    auth: auth.appRole({ roleId: 'role-id', secretId: 'secret-id' }),
    ...options,
  });
  vaults.push(vault);
  return { vault, stub };
}

/**
 * How a promise settled within `guardMs` (or `pending`), and when. Given a function, the time counts from before
 * it is called: the operation's own deadline starts inside the call, and on a loaded machine the call itself may take
 * a while before it returns its promise.
 */
async function settle(
  operation: Promise<unknown> | (() => Promise<unknown>),
  guardMs: number,
): Promise<{ error: unknown; ms: number }> {
  const started = Date.now();
  const promise = typeof operation === 'function' ? operation() : operation;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const guard = new Promise<'pending'>((resolve) => {
    timer = setTimeout(() => resolve('pending'), guardMs);
  });
  const outcome = await Promise.race([
    promise.then(
      () => 'resolved' as const,
      (error: unknown) => ({ error }),
    ),
    guard,
  ]);
  clearTimeout(timer);
  if (typeof outcome === 'string') return { error: outcome, ms: Date.now() - started };
  return { error: outcome.error, ms: Date.now() - started };
}

const isLogin = (path: string): boolean => path === 'auth/approle/login';

describe('deadlines while Vault accepts connections and never answers', () => {
  it('ready({ timeoutMs }) rejects with VAULT_TIMEOUT at its deadline while the login hangs', async () => {
    const { vault, stub } = await hangingVault(isLogin);
    const { error, ms } = await settle(() => vault.ready({ timeoutMs: 300 }), 3000);
    expect(VaultError.is(error, VaultErrorCode.TIMEOUT)).toBe(true);
    expect((error as VaultError).message).toMatch(/within 300 ms \(a login attempt was still waiting/);
    expect(ms).toBeGreaterThanOrEqual(250);
    expect(stub.seen.filter((r) => r.url === '/v1/auth/approle/login')).toHaveLength(1);
    // the hung login is aborted by close(), which does not wait for Vault
    const closed = await settle(vault.close({ revokeToken: false }), 3000);
    expect(closed.error).toBe('resolved');
  });

  it('ready({ signal }) aborting while the login hangs rejects with VAULT_ABORTED', async () => {
    const { vault } = await hangingVault(isLogin);
    const controller = new AbortController();
    const pending = vault.ready({ timeoutMs: 30_000, signal: controller.signal });
    setTimeout(() => controller.abort(), 100);
    const { error } = await settle(pending, 3000);
    expect(VaultError.is(error, VaultErrorCode.ABORTED)).toBe(true);
  });

  it('agent mode: ready({ timeoutMs }) is honoured while lookup-self hangs', async () => {
    const { vault } = await hangingVault((p) => p === 'auth/token/lookup-self', { auth: auth.agent() });
    const { error } = await settle(vault.ready({ timeoutMs: 300 }), 3000);
    expect(VaultError.is(error, VaultErrorCode.TIMEOUT)).toBe(true);
  });

  it("a request's timeoutMs and signal hold while the login it waits for hangs", async () => {
    const { vault } = await hangingVault(isLogin);
    const timedOut = await settle(vault.request('GET', 'secret/data/app', { timeoutMs: 300 }), 3000);
    expect(VaultError.is(timedOut.error, VaultErrorCode.TIMEOUT)).toBe(true);
    expect((timedOut.error as VaultError).path).toBe('secret/data/app');
    const controller = new AbortController();
    const pending = vault.request('GET', 'secret/data/app', { signal: controller.signal });
    setTimeout(() => controller.abort(), 100);
    const aborted = await settle(pending, 3000);
    expect(VaultError.is(aborted.error, VaultErrorCode.ABORTED)).toBe(true);
  });

  it('lease.ready({ timeoutMs }) rejects with VAULT_TIMEOUT while the login hangs', async () => {
    const { vault } = await hangingVault(isLogin);
    const lease = vault.database.credentials('app');
    const { error } = await settle(lease.ready({ timeoutMs: 300 }), 3000);
    expect(VaultError.is(error, VaultErrorCode.TIMEOUT)).toBe(true);
  });

  it("a hung request ends at the client's timeoutMs (each retry bounded too)", async () => {
    const { vault, stub } = await hangingVault((p) => p === 'secret/data/app', {
      timeoutMs: 200,
      retry: { maxRetries: 1, initialDelayMs: 10, maxDelayMs: 10 },
    });
    await vault.ready({ timeoutMs: 3000 });
    const { error } = await settle(vault.request('GET', 'secret/data/app'), 4000);
    expect(VaultError.is(error, VaultErrorCode.TIMEOUT)).toBe(true);
    expect(stub.seen.filter((r) => r.url === '/v1/secret/data/app')).toHaveLength(2);
  });

  it('close() does not wait for a hung request: the request ends with VAULT_CLOSED', async () => {
    const { vault } = await hangingVault((p) => p === 'secret/data/app');
    await vault.ready({ timeoutMs: 3000 });
    const pending = vault.request('GET', 'secret/data/app');
    pending.catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const closed = await settle(vault.close({ revokeToken: false, timeoutMs: 300 }), 3000);
    expect(closed.error).toBe('resolved');
    const { error } = await settle(pending, 1000);
    expect(VaultError.is(error, VaultErrorCode.CLOSED)).toBe(true);
  });
});
