import type { DevServer } from '@leasehold/dev-server';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  type AuthMethod,
  auth,
  type Vault,
  VaultError,
  VaultErrorCode,
  type VaultOptions,
} from '../../src/index.js';
import {
  appRole,
  type ClockedClient,
  clockedClient,
  type SettlingClock,
  startClockedServer,
} from '../helpers/dev-vault.js';
import { fixedRandom } from '../helpers/manual-clock.js';

// The client and the dev server share one manual clock: TTLs, renewals, re-logins and backoffs happen at exact
// instants on it, and every timer's HTTP round trip completes before the clock moves on.

interface Harness extends ClockedClient {
  server: DevServer;
  clock: SettlingClock;
  roleId: string;
  secretId: string;
  /** Every token the client obtained (so the test can prove none leaked). */
  tokens: string[];
}

let open: Vault[] = [];
let servers: DevServer[] = [];
afterEach(async () => {
  await Promise.all(open.map((v) => v.close({ revokeToken: false })));
  await Promise.all(servers.map((s) => s.close()));
  open = [];
  servers = [];
});

/** Drops every connection until {@link up}: the client sees an unreachable Vault. */
function down(h: { server: DevServer }): void {
  h.server.dropConnections({ count: Number.POSITIVE_INFINITY });
}
function up(h: { server: DevServer }): void {
  h.server.clearFaults();
}

async function writeSecret(server: DevServer): Promise<void> {
  const res = await fetch(`${server.url}/v1/secret/data/app`, {
    method: 'POST',
    headers: { 'X-Vault-Token': server.rootToken, 'Content-Type': 'application/json' },
    body: JSON.stringify({ data: { password: 'db-password-value' } }),
  });
  expect(res.status).toBe(200);
}

function recordTokens(method: AuthMethod, tokens: string[]): AuthMethod {
  return {
    type: method.type,
    mount: method.mount,
    login: async (ctx) => {
      const result = await method.login(ctx);
      tokens.push(result.token.reveal());
      return result;
    },
  };
}

/** A dev server with an AppRole role (default token_ttl 2 s, token_max_ttl 6 s) and a client logging in with it. */
async function harness(role: Record<string, unknown> = {}, extra: VaultOptions = {}): Promise<Harness> {
  const { server, clock } = await startClockedServer();
  servers.push(server);
  await writeSecret(server);
  const { roleId, secretId } = await appRole(server, 'app', {
    token_ttl: '2s',
    token_max_ttl: '6s',
    ...role,
  });
  const tokens: string[] = [];
  const client = clockedClient(server, clock, {
    random: fixedRandom(0.5),
    auth: recordTokens(auth.appRole({ roleId, secretId }), tokens),
    ...extra,
  });
  open.push(client.vault);
  return { ...client, server, clock, roleId, secretId, tokens };
}

function assertNoSecrets(h: Harness): void {
  const haystack = [...h.logs, JSON.stringify(h.events)].join('\n');
  expect(h.tokens.length).toBeGreaterThan(0);
  for (const secret of [h.roleId, h.secretId, 'db-password-value', ...h.tokens]) {
    expect(haystack).not.toContain(secret);
  }
}

describe('token lifecycle (dev server and client on one manual clock)', () => {
  it('250 concurrent first requests cause exactly one login', async () => {
    const h = await harness();
    h.server.addLatency({ method: 'POST', path: 'auth/approle/login', ms: 200, count: 1 });
    const results = await Promise.all(
      Array.from({ length: 250 }, () => h.vault.request('GET', 'secret/data/app')),
    );
    expect(results).toHaveLength(250);
    expect(results.every((r) => r.status === 200)).toBe(true);
    expect(h.count('auth/approle/login')).toBe(1);
    assertNoSecrets(h);
  });

  it('renews on schedule and logs in again only when the max TTL forces it', async () => {
    const h = await harness();
    await h.vault.ready();
    let failures = 0;
    // 20 s of requests every 250 ms with token_ttl = 2 s, token_max_ttl = 6 s
    for (let t = 0; t < 80; t++) {
      await h.clock.advance(250);
      try {
        await h.vault.request('GET', 'secret/data/app');
      } catch {
        failures++;
      }
    }
    expect(failures).toBe(0);
    const logins = h.count('auth/approle/login');
    expect(logins).toBeGreaterThanOrEqual(4); // ceil(20 / 6)
    expect(logins).toBeLessThanOrEqual(5);
    expect(h.count('auth/token/renew-self')).toBeGreaterThan(0);
    const expiring = h.events.filter((e) => e.event === 'token:expiring');
    expect(expiring.length).toBeGreaterThan(0);
    expect(expiring[0]?.payload).toMatchObject({ reason: 'max-ttl' });
    // no request was sent with an expired token
    expect(h.events.some((e) => e.event === 'token:invalid' || e.event === 'token:expired')).toBe(false);
    // the server never saw an expired or revoked token
    expect(h.server.requests({ status: 403 })).toHaveLength(0);
    assertNoSecrets(h);
  });

  it('a token revoked out of band is replaced by exactly one re-login and the request retried once', async () => {
    const h = await harness();
    await h.vault.ready();
    const loggedInAt = h.clock.now();
    const first = h.events.find((e) => e.event === 'login')?.payload as { accessor: string; ttl: number };
    expect(first).toMatchObject({ previousAccessor: undefined, previousExpiresAt: undefined });
    await h.server.revokeToken(first.accessor);
    const res = await h.vault.request('GET', 'secret/data/app');
    expect(res.status).toBe(200);
    expect(h.count('auth/approle/login')).toBe(2);
    expect(h.count('secret/data/app')).toBe(2);
    const logins = h.events.filter((e) => e.event === 'login').map((e) => e.payload as { reason: string });
    expect(logins[1]?.reason).toBe('invalid-token');
    // The replaced token's end as the client knew it: its TTL counted from the login (no time passed since).
    expect(logins[1]).toMatchObject({
      previousAccessor: first.accessor,
      previousExpiresAt: loggedInAt + first.ttl * 1000,
    });
    expect(h.events.filter((e) => e.event === 'token:invalid')).toHaveLength(1);
  });

  it('concurrent requests hitting a revoked token share one re-login', async () => {
    const h = await harness();
    await h.vault.ready();
    const first = h.events.find((e) => e.event === 'login')?.payload as { accessor: string };
    await h.server.revokeToken(first.accessor);
    const results = await Promise.all(
      Array.from({ length: 50 }, () => h.vault.request('GET', 'secret/data/app')),
    );
    expect(results.every((r) => r.status === 200)).toBe(true);
    expect(h.count('auth/approle/login')).toBe(2);
  });

  it('a plain permission denied is a policy error: no re-login, no retry', async () => {
    const h = await harness();
    await h.vault.ready();
    const before = h.calls.length;
    const error = await h.vault.request('GET', 'secret/data/forbidden').catch((e: unknown) => e);
    expect(VaultError.is(error, VaultErrorCode.PERMISSION_DENIED)).toBe(true);
    expect(h.calls.length - before).toBe(1);
    expect(h.count('auth/approle/login')).toBe(1);
  });

  it('rejected credentials fail ready() at once with VAULT_LOGIN_FAILED and no secret in the message', async () => {
    const h = await harness();
    const { roleId } = h;
    const wrong = 'secret-id-that-is-not-issued';
    const c = clockedClient(h.server, h.clock, {
      random: fixedRandom(0.5),
      auth: auth.appRole({ roleId, secretId: wrong }),
    });
    open.push(c.vault);
    const error = await c.vault.ready({ timeoutMs: 5000 }).catch((e: unknown) => e);
    expect(VaultError.is(error, VaultErrorCode.LOGIN_FAILED)).toBe(true);
    const e = error as VaultError;
    expect(e.message).toContain('invalid role or secret ID');
    expect(e.message).not.toContain(wrong);
    expect(e.status).toBe(400);
    expect(c.count('auth/approle/login')).toBe(1);
    const haystack = [...c.logs, JSON.stringify(c.events)].join('\n');
    expect(haystack).not.toContain(wrong);
    expect(haystack).not.toContain(roleId);
  });

  it('ready() retries an unreachable Vault with backoff and times out with VAULT_TIMEOUT', async () => {
    const h = await harness();
    down(h);
    const start = h.clock.now();
    let settledAt: number | undefined;
    const p = h.vault
      .ready({ timeoutMs: 5000 })
      .catch((e: unknown) => e)
      .finally(() => {
        settledAt = h.clock.now();
      });
    await h.clock.advance(10_000);
    const error = await p;
    expect(VaultError.is(error, VaultErrorCode.TIMEOUT)).toBe(true);
    // it gives up once the next wait would pass the deadline, never after it
    expect(settledAt).toBeLessThanOrEqual(start + 5000);
    const attempts = h.count('auth/approle/login');
    expect(attempts).toBeGreaterThan(1);
    expect(attempts).toBeLessThan(10); // backoff, not a tight loop
  });

  it('while Vault is unreachable the current token is used as long as it is valid, then recovers', async () => {
    const h = await harness({ token_ttl: '60s', token_max_ttl: '1h' });
    await h.vault.ready();
    down(h);
    await h.clock.advance(45_000); // renewal time passes: renew fails, backoff
    expect(h.events.some((e) => e.event === 'token:renew-failed')).toBe(true);
    expect(h.vault.health().status).toBe('degraded');
    expect(h.vault.health().token).not.toBeNull();
    up(h);
    await h.clock.advance(14_000); // still inside the first token's life
    const res = await h.vault.request('GET', 'secret/data/app');
    expect(res.status).toBe(200);
    expect(h.vault.health().status).toBe('ready');
    // no request reached the server with a token it no longer honoured
    expect(h.server.requests({ status: 403 })).toHaveLength(0);
  });

  it('login failures back off with jitter in the background and the token is replaced when Vault returns', async () => {
    const h = await harness({}, { token: { loginBackoff: { initialMs: 200, maxIntervalMs: 1000 } } });
    await h.vault.ready();
    down(h);
    await h.clock.advance(8000); // token (2 s ttl, 6 s max) cannot be renewed or replaced
    const failed = h.events.filter((e) => e.event === 'login:failed');
    expect(failed.length).toBeGreaterThan(1);
    expect(failed.length).toBeLessThan(40);
    expect(h.events.some((e) => e.event === 'token:expired')).toBe(true);
    expect(h.vault.health().status).toBe('down');
    up(h);
    await h.clock.advance(1500);
    expect(h.vault.health().status).toBe('ready');
    expect((await h.vault.request('GET', 'secret/data/app')).status).toBe(200);
  });

  it('when the circuit closes (Vault answers again) the login backoff is forgotten', async () => {
    const h = await harness(
      {},
      { token: { loginBackoff: { initialMs: 20_000, maxIntervalMs: 20_000, randomizationFactor: 0 } } },
    );
    down(h);
    await expect(h.vault.request('GET', 'secret/data/app')).rejects.toMatchObject({
      code: 'VAULT_UNAVAILABLE',
    });
    up(h);
    // still inside the 20 s login backoff: fails fast with the last error, no login attempt
    await expect(h.vault.request('GET', 'secret/data/app')).rejects.toMatchObject({
      code: 'VAULT_UNAVAILABLE',
    });
    expect(h.count('auth/approle/login')).toBe(1);
    h.vault.emit('circuit:close', { openForMs: 1000 });
    expect((await h.vault.request('GET', 'secret/data/app')).status).toBe(200);
    expect(h.count('auth/approle/login')).toBe(2);
  });

  it('close() revokes a token obtained by login and clears every timer', async () => {
    const h = await harness();
    const serverTimers = h.clock.pendingCount;
    await h.vault.ready();
    expect(h.clock.pendingCount).toBeGreaterThan(serverTimers);
    await h.vault.close();
    expect(h.count('auth/token/revoke-self')).toBe(1);
    expect(h.events.some((e) => e.event === 'token:revoked')).toBe(true);
    // the client's timers are gone, and so is the server's expiry timer of the revoked token
    expect(h.clock.pendingCount).toBe(serverTimers);
    const lookup = await fetch(`${h.server.url}/v1/auth/token/lookup-self`, {
      headers: { 'X-Vault-Token': h.tokens[0] as string },
    });
    expect(lookup.status).toBe(403);
    await expect(h.vault.request('GET', 'secret/data/app')).rejects.toMatchObject({ code: 'VAULT_CLOSED' });
  });

  it('close() during ready() retries rejects with VAULT_CLOSED and leaves no timer', async () => {
    const h = await harness();
    const serverTimers = h.clock.pendingCount;
    down(h);
    const p = h.vault.ready({ timeoutMs: 60_000 }).catch((e: unknown) => e);
    await h.clock.advance(50);
    await h.vault.close();
    expect(await p).toMatchObject({ code: 'VAULT_CLOSED' });
    expect(h.clock.pendingCount).toBe(serverTimers);
  });

  it('close() does not revoke when revokeOnClose is false', async () => {
    const h = await harness({}, { token: { revokeOnClose: false } });
    await h.vault.ready();
    await h.vault.close();
    expect(h.count('auth/token/revoke-self')).toBe(0);
    const lookup = await fetch(`${h.server.url}/v1/auth/token/lookup-self`, {
      headers: { 'X-Vault-Token': h.tokens[0] as string },
    });
    expect(lookup.status).toBe(200);
  });

  it('a token given by the user is never revoked', async () => {
    const { server, clock } = await startClockedServer();
    servers.push(server);
    const created = (await fetch(`${server.url}/v1/auth/token/create`, {
      method: 'POST',
      headers: { 'X-Vault-Token': server.rootToken, 'Content-Type': 'application/json' },
      body: JSON.stringify({ ttl: '1h', policies: ['app'] }),
    }).then((r) => r.json())) as { auth: { client_token: string; accessor: string } };
    const c = clockedClient(server, clock, {
      random: fixedRandom(0.5),
      auth: auth.token({ token: created.auth.client_token }),
    });
    await c.vault.ready();
    expect(c.vault.health().token?.accessor).toBe(created.auth.accessor);
    await c.vault.close();
    expect(c.count('auth/token/revoke-self')).toBe(0);
    expect(c.count(/login$/)).toBe(0);
    const lookup = await fetch(`${server.url}/v1/auth/token/lookup-self`, {
      headers: { 'X-Vault-Token': created.auth.client_token },
    });
    expect(lookup.status).toBe(200);
  });

  it('non-renewable tokens are replaced before expiry', async () => {
    // batch tokens are never renewable (https://developer.hashicorp.com/vault/docs/concepts/tokens#batch-tokens)
    const h = await harness({ token_type: 'batch', token_ttl: '10s', token_max_ttl: '1h' });
    await h.vault.ready();
    let failures = 0;
    for (let i = 0; i < 120; i++) {
      await h.clock.advance(250);
      await h.vault.request('GET', 'secret/data/app').catch(() => failures++);
    }
    expect(failures).toBe(0);
    expect(h.count('auth/token/renew-self')).toBe(0);
    const logins = h.count('auth/approle/login');
    expect(logins).toBeGreaterThanOrEqual(3);
    expect(logins).toBeLessThanOrEqual(5);
    expect(h.server.requests({ status: 403 })).toHaveLength(0);
  });

  it('token.renew=false never calls renew-self and replaces the token before it expires', async () => {
    const h = await harness({ token_ttl: '10s', token_max_ttl: '1h' }, { token: { renew: false } });
    await h.vault.ready();
    let failures = 0;
    for (let i = 0; i < 100; i++) {
      await h.clock.advance(250);
      await h.vault.request('GET', 'secret/data/app').catch(() => failures++);
    }
    expect(failures).toBe(0);
    expect(h.count('auth/token/renew-self')).toBe(0);
    expect(h.count('auth/approle/login')).toBeGreaterThanOrEqual(3);
    expect(h.server.requests({ status: 403 })).toHaveLength(0);
  });

  it('a renewal refused with 400 (not renewable) stops renewing and logs in again before expiry', async () => {
    const h = await harness({ token_ttl: '30s', token_max_ttl: '1h' });
    await h.vault.ready();
    // Vault now refuses renew-self with 400 (as for a token that is not renewable)
    h.server.failNext({ path: 'auth/token/renew-self', status: 400, error: 'lease is not renewable' });
    let failures = 0;
    for (let i = 0; i < 160; i++) {
      await h.clock.advance(250);
      await h.vault.request('GET', 'secret/data/app').catch(() => failures++);
    }
    expect(failures).toBe(0);
    // The refused token is renewed once, never again (the new token of the re-login renews on its own schedule).
    const renewals = h.calls.filter((c) => c.path === 'auth/token/renew-self');
    expect(renewals.filter((c) => c.token === renewals[0]?.token)).toHaveLength(1);
    expect(h.events.find((e) => e.event === 'token:renew-failed')?.payload).toMatchObject({
      code: 'VAULT_BAD_REQUEST',
    });
    expect(h.count('auth/approle/login')).toBe(2);
  });

  it('the renew increment defaults to the TTL granted at login and can be set', async () => {
    const h = await harness({}, { token: { incrementSeconds: 3 } });
    await h.vault.ready();
    await h.clock.advance(2000);
    const renew = h.calls.find((c) => c.path === 'auth/token/renew-self');
    expect(renew?.body).toEqual({ increment: 3 });
    const h2 = await harness();
    await h2.vault.ready();
    await h2.clock.advance(2000);
    expect(h2.calls.find((c) => c.path === 'auth/token/renew-self')?.body).toEqual({ increment: 2 });
  });

  it('health reports the token ttl and renewability without the token', async () => {
    const h = await harness();
    expect(h.vault.health().status).toBe('down');
    await h.vault.ready();
    const health = h.vault.health();
    expect(health.status).toBe('ready');
    expect(health.token).toMatchObject({ ttl: 2, renewable: true });
    const text = JSON.stringify(health);
    for (const token of h.tokens) expect(text).not.toContain(token);
  });
});

/**
 * A batch token of 60 s (never renewable: given up at 43 s, Vault's grace) on a Vault that stops answering at once:
 * its background re-login attempts fail. `attempts`: their instants since `start`.
 */
async function batchTokenInOutage() {
  const h = await harness({ token_type: 'batch', token_ttl: '60s', token_max_ttl: '60s' });
  const start = h.clock.now();
  await h.vault.ready();
  const attempts: number[] = [];
  h.vault.on('login:failed', () => attempts.push(h.clock.now() - start));
  down(h);
  return { h, start, attempts };
}

describe('Vault back (circuit:close) with a background re-login pending', () => {
  it('a still-valid token that cannot be extended logs in again after a spread wait within the first third of its time left, not at once', async () => {
    const { h, start, attempts } = await batchTokenInOutage();
    // Given up at 43 s (see below), then attempts at 43, 44 and 46 s; the next is due at 50 s.
    await h.clock.advance(46_500);
    expect(attempts).toEqual([43_000, 44_000, 46_000]);
    up(h);
    h.vault.emit('circuit:close', { openForMs: 3500 });
    // spreadWake, replace: 0.5 · min(10 s, (59 − 46.5 s) / 3) = 2.083 s (59 s: the end minus the 1 s safety margin),
    // not at Vault's return nor at the attempt due at 50 s, and with two thirds of the time left for the login.
    await h.clock.advance(2082);
    expect(h.events.filter((e) => e.event === 'login')).toHaveLength(1);
    await h.clock.advance(1);
    const logged = h.server.requests({ path: 'auth/approle/login', status: 200 });
    expect(logged.map((r) => Date.parse(String(r.time)) - start)).toEqual([0, 48_583]);
    expect(h.vault.health().status).toBe('ready');
  });

  it('a re-login attempt whose probe sees Vault return waits a spread part of the time the token has left', async () => {
    const { h, start, attempts } = await batchTokenInOutage();
    await h.clock.advance(46_500);
    expect(attempts).toEqual([43_000, 44_000, 46_000]); // the next is due at 50 s
    up(h);
    // That attempt's probe of the open circuit is what sees Vault return.
    vi.spyOn(h.vault, 'probeIfOpen').mockResolvedValueOnce(true);
    // spreadWake, replace: 0.5 · min(10 s, (59 − 50 s) / 3) = 1.5 s after it: 51.5 s, not 50 s.
    await h.clock.advance(4999);
    expect(h.events.filter((e) => e.event === 'login')).toHaveLength(1);
    await h.clock.advance(1);
    const logged = h.server.requests({ path: 'auth/approle/login', status: 200 });
    expect(logged.map((r) => Date.parse(String(r.time)) - start)).toEqual([0, 51_500]);
  });

  it('a token no longer usable (past its end minus the safety margin) logs in again at once', async () => {
    const { h, start, attempts } = await batchTokenInOutage();
    await h.clock.advance(59_100);
    // the attempts of the test below, then the 500 ms floor: the next is due at 59.315 s; the token stopped being
    // usable at 59 s (its end minus the 1 s safety margin)
    expect(attempts.slice(-3)).toEqual([57_815, 58_315, 58_815]);
    expect(h.vault.health().status).toBe('down');
    up(h);
    h.vault.emit('circuit:close', { openForMs: 16_100 });
    await h.clock.advance(0);
    const logged = h.server.requests({ path: 'auth/approle/login', status: 200 });
    expect(logged.map((r) => Date.parse(String(r.time)) - start)).toEqual([0, 59_100]);
  });
});

describe('renewals that failed only because Vault was unreachable', () => {
  /** A renewable 60 s token (max 1 h) whose renewals fail from the start: Vault is unreachable. */
  async function renewableTokenInOutage() {
    const h = await harness({ token_ttl: '60s', token_max_ttl: '1h' });
    const start = h.clock.now();
    await h.vault.ready();
    const first = h.vault.health().token?.accessor;
    const failedLogins: number[] = [];
    h.vault.on('login:failed', () => failedLogins.push(h.clock.now() - start));
    down(h);
    return { h, start, first, failedLogins };
  }

  it('a token still valid when Vault answers again is renewed, not replaced: one login in all', async () => {
    const { h, start, first, failedLogins } = await renewableTokenInOutage();
    // Renewal at (⅔·60 + ⅓·9 s)·0.75 = 32.25 s fails; the renewal backoff (10 s, then 20 s) outruns the 27.75 s left
    // at 42.25 s: the schedule ends there and the background attempts begin (a renewal, then a login, both failing),
    // 1 s and 2 s apart; the next is due at 49.25 s.
    await h.clock.advance(46_500);
    expect(h.events.find((e) => e.event === 'token:expiring')?.payload).toMatchObject({
      reason: 'renew-failed',
    });
    expect(failedLogins).toEqual([42_250, 43_250, 45_250]);
    expect(h.vault.health().status).toBe('degraded');
    up(h);
    h.vault.emit('circuit:close', { openForMs: 14_250 });
    // spreadWake: 0.75 · min(10 s, ⅔ · (59 − 46.5 s)) = 6.25 s (59 s: the end minus the 1 s safety margin): the
    // attempt, moved from 49.25 s to 52.75 s, renews the token instead of logging in.
    await h.clock.advance(6249);
    expect(h.server.requests({ path: 'auth/token/renew-self', status: 200 })).toHaveLength(0);
    await h.clock.advance(1);
    const renewed = h.server.requests({ path: 'auth/token/renew-self', status: 200 });
    expect(renewed.map((r) => Date.parse(String(r.time)) - start)).toEqual([52_750]);
    expect(h.server.requests({ path: 'auth/approle/login', status: 200 })).toHaveLength(1);
    expect(h.vault.health().token).toMatchObject({ accessor: first, ttl: 60 });
    expect(h.vault.health().status).toBe('ready');
    expect(h.events.filter((e) => e.event === 'token:renewed').at(-1)?.payload).toMatchObject({
      accessor: first,
      ttl: 60,
      capped: false,
    });
    // Its schedule starts again from the renewal: the next one at 52.75 + 32.25 s, no login meanwhile.
    await h.clock.advance(32_249);
    expect(h.server.requests({ path: 'auth/token/renew-self', status: 200 })).toHaveLength(1);
    await h.clock.advance(1);
    expect(
      h.server
        .requests({ path: 'auth/token/renew-self', status: 200 })
        .map((r) => Date.parse(String(r.time)) - start),
    ).toEqual([52_750, 85_000]);
    expect(h.server.requests({ path: 'auth/approle/login', status: 200 })).toHaveLength(1);
    assertNoSecrets(h);
  });

  it('a token Vault no longer honours when it answers again is replaced by a login at the same attempt', async () => {
    const { h, start, first } = await renewableTokenInOutage();
    await h.clock.advance(46_500);
    up(h);
    // Revoked out of band during the outage: the renewal is refused, the login that follows replaces the token.
    const accessor = String(first);
    const res = await fetch(`${h.server.url}/v1/auth/token/revoke-accessor`, {
      method: 'POST',
      headers: { 'X-Vault-Token': h.server.rootToken, 'Content-Type': 'application/json' },
      body: JSON.stringify({ accessor }),
    });
    expect(res.status).toBe(204);
    h.vault.emit('circuit:close', { openForMs: 14_250 });
    await h.clock.advance(6250);
    const at = (path: string, status: number) =>
      h.server.requests({ path, status }).map((r) => Date.parse(String(r.time)) - start);
    expect(at('auth/token/renew-self', 403)).toEqual([52_750]);
    expect(at('auth/approle/login', 200)).toEqual([0, 52_750]);
    expect(h.vault.health().token?.accessor).not.toBe(first);
    expect(h.vault.health().status).toBe('ready');
  });
});

describe('Vault back while the client holds no usable token', () => {
  it('a token that ended during the outage is replaced at once, even after a request found it ended', async () => {
    const h = await harness({ token_ttl: '60s', token_max_ttl: '1h' });
    const start = h.clock.now();
    await h.vault.ready();
    down(h);
    const attempts = () =>
      h.server.requests({ path: 'auth/approle/login' }).map((r) => Date.parse(String(r.time)) - start);
    // Renewals fail from 32.25 s; the background attempts (a renewal, then a login) come closer as the token ends:
    // 58.716 s, then 59.216 s. The token is usable until 59 s (its 60 s end minus the 1 s safety margin).
    await h.clock.advance(59_100);
    expect(attempts().slice(-2)).toEqual([58_216, 58_716]);
    // A request at 59.1 s is the first to find the token ended: it fails fast with the last login error, and the
    // background attempt due at 59.216 s still goes.
    await expect(h.vault.request('GET', 'secret/data/app')).rejects.toBeInstanceOf(VaultError);
    expect(h.events.some((e) => e.event === 'token:expired')).toBe(true);
    expect(h.vault.health().status).toBe('down');
    await h.clock.advanceTo(start + 61_000);
    expect(attempts().at(-1)).toBe(59_216);
    up(h);
    h.vault.emit('circuit:close', { openForMs: 28_750 });
    await h.clock.advance(0);
    const logged = h.server.requests({ path: 'auth/approle/login', status: 200 });
    expect(logged.map((r) => Date.parse(String(r.time)) - start)).toEqual([0, 61_000]);
    expect(h.vault.health().status).toBe('ready');
  });

  it('a token dropped as invalid while logins failed is replaced at once when Vault answers again', async () => {
    const h = await harness({ token_ttl: '60s', token_max_ttl: '1h' });
    const start = h.clock.now();
    await h.vault.ready();
    await h.clock.advance(10_000);
    // Revoked out of band, and logins fail: the request that finds it invalid cannot replace it.
    const accessor = String(h.vault.health().token?.accessor);
    const res = await fetch(`${h.server.url}/v1/auth/token/revoke-accessor`, {
      method: 'POST',
      headers: { 'X-Vault-Token': h.server.rootToken, 'Content-Type': 'application/json' },
      body: JSON.stringify({ accessor }),
    });
    expect(res.status).toBe(204);
    h.server.failNext({ path: 'auth/approle/login', status: 503, error: 'injected outage', count: 1000 });
    await expect(h.vault.request('GET', 'secret/data/app')).rejects.toBeInstanceOf(VaultError);
    expect(h.vault.health().status).toBe('down');
    h.server.clearFaults();
    h.vault.emit('circuit:close', { openForMs: 1000 });
    await h.clock.advance(0);
    const logged = h.server.requests({ path: 'auth/approle/login', status: 200 });
    expect(logged.map((r) => Date.parse(String(r.time)) - start)).toEqual([0, 10_000]);
    expect(h.vault.health().token?.accessor).not.toBe(accessor);
    expect(h.vault.health().status).toBe('ready');
  });
});

describe('the last re-login attempts before the token ends are made in time', () => {
  it('background re-logins wait at most a third of the time left (≥ 500 ms): Vault back 2 s before the end is used', async () => {
    const h = await harness({ token_type: 'batch', token_ttl: '60s', token_max_ttl: '60s' });
    const start = h.clock.now();
    await h.vault.ready();
    const attempts: number[] = [];
    h.vault.on('login:failed', () => attempts.push(h.clock.now() - start));
    let loggedInAt: number | undefined;
    h.vault.on('login', () => {
      loggedInAt = h.clock.now() - start;
    });
    down(h);
    await h.clock.advance(58_000);
    up(h);
    await h.clock.advance(1500);
    const logins = h.events.filter((e) => e.event === 'login');
    expect(logins).toHaveLength(2);
    expect(h.events.some((e) => e.event === 'token:expired')).toBe(false);
    // Backoff 1, 2, 4, 8 s… capped at round(left / 3), left = end − 1 s safety margin − now.
    // The schedule gives up on the non-renewable token at 43 s (Vault's grace), then: 1 s, 2 s, 4 s, then
    // min(8 s, 3 s), min(16 s, 2 s), 1333, 889, 593, and 500 (floor): the login at 58.315 s succeeds.
    expect(attempts).toEqual([43_000, 44_000, 46_000, 50_000, 53_000, 55_000, 56_333, 57_222, 57_815]);
    expect(loggedInAt).toBe(58_315);
    // the server issued the second token at that instant
    const logged = h.server.requests({ path: 'auth/approle/login', status: 200 });
    expect(logged.map((r) => Date.parse(String(r.time)) - start)).toEqual([0, 58_315]);
  });
});
