import { afterEach, describe, expect, it } from 'vitest';
import {
  auth,
  createVault,
  type Vault,
  VaultError,
  VaultErrorCode,
  type VaultEvents,
} from '../../src/index.js';
import { FakeVaultTransport } from '../helpers/fake-transport.js';
import { fixedRandom, flush, ManualClock } from '../helpers/manual-clock.js';

const ROLE_ID = 'role-id-value-1234';
const SECRET_ID = 'secret-id-value-5678';

interface Harness {
  vault: Vault;
  clock: ManualClock;
  transport: FakeVaultTransport;
  logs: string[];
  events: Array<{ event: keyof VaultEvents; payload: unknown }>;
}

let open: Vault[] = [];
afterEach(async () => {
  await Promise.all(open.map((v) => v.close({ revokeToken: false })));
  open = [];
});

function harness(extra: Parameters<typeof createVault>[0] = {}): Harness {
  const clock = new ManualClock();
  const transport = new FakeVaultTransport(clock);
  const logs: string[] = [];
  const log = (level: string) => (obj: Record<string, unknown>, msg?: string) =>
    logs.push(`${level} ${msg ?? ''} ${JSON.stringify(obj)}`);
  const vault = createVault({
    env: {},
    clock,
    random: fixedRandom(0.5),
    transport,
    auth: auth.appRole({ roleId: ROLE_ID, secretId: SECRET_ID }),
    logger: { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') },
    ...extra,
  });
  open.push(vault);
  const events: Harness['events'] = [];
  const names: Array<keyof VaultEvents> = [
    'login',
    'login:failed',
    'token:renewed',
    'token:renew-failed',
    'token:expiring',
    'token:expired',
    'token:invalid',
    'token:revoked',
  ];
  for (const event of names) vault.on(event, (payload) => events.push({ event, payload }));
  return { vault, clock, transport, logs, events };
}

function assertNoSecrets(h: Harness, extra: string[] = []): void {
  const haystack = [...h.logs, JSON.stringify(h.events)].join('\n');
  for (const secret of [ROLE_ID, SECRET_ID, 'secretvalue', 'db-password-value', ...extra]) {
    expect(haystack).not.toContain(secret);
  }
}

describe('token lifecycle (injected clock and transport)', () => {
  it('1000 concurrent first requests cause exactly one login', async () => {
    const h = harness();
    let release: () => void = () => {};
    h.transport.loginGate = new Promise<void>((r) => {
      release = r;
    });
    const requests = Array.from({ length: 1000 }, () => h.vault.request('GET', 'secret/data/app'));
    await flush();
    release();
    const results = await Promise.all(requests);
    expect(results).toHaveLength(1000);
    expect(results.every((r) => r.status === 200)).toBe(true);
    expect(h.transport.count('auth/approle/login')).toBe(1);
    assertNoSecrets(h);
  });

  it('renews on schedule and logs in again only when the max TTL forces it', async () => {
    const h = harness();
    await h.vault.ready();
    let failures = 0;
    // 20 s of requests every 100 ms with token_ttl = 2 s, token_max_ttl = 6 s
    for (let t = 0; t < 200; t++) {
      await h.clock.advance(100);
      try {
        await h.vault.request('GET', 'secret/data/app');
      } catch {
        failures++;
      }
    }
    expect(failures).toBe(0);
    const logins = h.transport.count('auth/approle/login');
    expect(logins).toBeGreaterThanOrEqual(4); // ceil(20 / 6)
    expect(logins).toBeLessThanOrEqual(5);
    expect(h.transport.count('auth/token/renew-self')).toBeGreaterThan(0);
    const expiring = h.events.filter((e) => e.event === 'token:expiring');
    expect(expiring.length).toBeGreaterThan(0);
    expect(expiring[0]?.payload).toMatchObject({ reason: 'max-ttl' });
    // no request was sent with an expired token
    expect(h.events.some((e) => e.event === 'token:invalid' || e.event === 'token:expired')).toBe(false);
    assertNoSecrets(h);
  });

  it('a token revoked out of band is replaced by exactly one re-login and the request retried once', async () => {
    const h = harness();
    await h.vault.ready();
    const first = h.events.find((e) => e.event === 'login')?.payload as { accessor: string };
    h.transport.revokeOutOfBand(first.accessor);
    const res = await h.vault.request('GET', 'secret/data/app');
    expect(res.status).toBe(200);
    expect(h.transport.count('auth/approle/login')).toBe(2);
    const logins = h.events.filter((e) => e.event === 'login').map((e) => e.payload as VaultEvents['login']);
    expect(logins[1]?.reason).toBe('invalid-token');
    expect(logins[1]?.previousAccessor).toBe(first.accessor);
    expect(h.events.filter((e) => e.event === 'token:invalid')).toHaveLength(1);
  });

  it('concurrent requests hitting a revoked token share one re-login', async () => {
    const h = harness();
    await h.vault.ready();
    const first = h.events.find((e) => e.event === 'login')?.payload as { accessor: string };
    h.transport.revokeOutOfBand(first.accessor);
    const results = await Promise.all(
      Array.from({ length: 50 }, () => h.vault.request('GET', 'secret/data/app')),
    );
    expect(results.every((r) => r.status === 200)).toBe(true);
    expect(h.transport.count('auth/approle/login')).toBe(2);
  });

  it('a plain permission denied is a policy error: no re-login, no retry', async () => {
    const h = harness();
    await h.vault.ready();
    const before = h.transport.calls.length;
    const error = await h.vault.request('GET', 'secret/data/forbidden').catch((e: unknown) => e);
    expect(VaultError.is(error, VaultErrorCode.PERMISSION_DENIED)).toBe(true);
    expect(h.transport.calls.length - before).toBe(1);
    expect(h.transport.count('auth/approle/login')).toBe(1);
  });

  it('rejected credentials fail ready() at once with VAULT_LOGIN_FAILED and no secret in the message', async () => {
    const h = harness();
    h.transport.loginFailure = { status: 400, errors: ['invalid role or secret ID'] };
    const error = await h.vault.ready({ timeoutMs: 5000 }).catch((e: unknown) => e);
    expect(VaultError.is(error, VaultErrorCode.LOGIN_FAILED)).toBe(true);
    const e = error as VaultError;
    expect(e.message).toContain('invalid role or secret ID');
    expect(e.message).not.toContain(SECRET_ID);
    expect(e.status).toBe(400);
    expect(h.transport.count('auth/approle/login')).toBe(1);
    assertNoSecrets(h);
  });

  it('ready() retries an unreachable Vault with backoff and times out with VAULT_TIMEOUT', async () => {
    const h = harness();
    h.transport.down = true;
    const p = h.vault.ready({ timeoutMs: 5000 }).catch((e: unknown) => e);
    await h.clock.advance(10_000);
    const error = await p;
    expect(VaultError.is(error, VaultErrorCode.TIMEOUT)).toBe(true);
    const attempts = h.transport.count('auth/approle/login');
    expect(attempts).toBeGreaterThan(1);
    expect(attempts).toBeLessThan(10); // backoff, not a tight loop
  });

  it('while Vault is unreachable the current token is used as long as it is valid, then recovers', async () => {
    const h = harness();
    h.transport.ttlMs = 60_000;
    h.transport.maxTtlMs = 3_600_000;
    await h.vault.ready();
    h.transport.down = true;
    await h.clock.advance(45_000); // renewal time passes: renew fails, backoff
    expect(h.events.some((e) => e.event === 'token:renew-failed')).toBe(true);
    expect(h.vault.health().status).toBe('degraded');
    expect(h.vault.health().token).not.toBeNull();
    h.transport.down = false;
    await h.clock.advance(14_000); // still inside the first token's life
    const res = await h.vault.request('GET', 'secret/data/app');
    expect(res.status).toBe(200);
    expect(h.vault.health().status).toBe('ready');
  });

  it('login failures back off with jitter in the background and the token is replaced when Vault returns', async () => {
    const h = harness({
      token: { loginBackoff: { initialMs: 200, maxIntervalMs: 1000 } },
    });
    await h.vault.ready();
    h.transport.down = true;
    await h.clock.advance(8000); // token (2 s ttl, 6 s max) cannot be renewed or replaced
    const failed = h.events.filter((e) => e.event === 'login:failed');
    expect(failed.length).toBeGreaterThan(1);
    expect(failed.length).toBeLessThan(40);
    expect(h.events.some((e) => e.event === 'token:expired')).toBe(true);
    expect(h.vault.health().status).toBe('down');
    h.transport.down = false;
    await h.clock.advance(1500);
    expect(h.vault.health().status).toBe('ready');
    expect((await h.vault.request('GET', 'secret/data/app')).status).toBe(200);
  });

  it('when the circuit closes (Vault answers again) the login backoff is forgotten', async () => {
    const h = harness({
      token: { loginBackoff: { initialMs: 20_000, maxIntervalMs: 20_000, randomizationFactor: 0 } },
    });
    h.transport.down = true;
    await expect(h.vault.request('GET', 'secret/data/app')).rejects.toMatchObject({
      code: 'VAULT_UNAVAILABLE',
    });
    h.transport.down = false;
    // still inside the 20 s login backoff: fails fast with the last error, no login attempt
    await expect(h.vault.request('GET', 'secret/data/app')).rejects.toMatchObject({
      code: 'VAULT_UNAVAILABLE',
    });
    expect(h.transport.count('auth/approle/login')).toBe(1);
    h.vault.emit('circuit:close', { openForMs: 1000 });
    expect((await h.vault.request('GET', 'secret/data/app')).status).toBe(200);
    expect(h.transport.count('auth/approle/login')).toBe(2);
  });

  it('close() revokes a token obtained by login and clears every timer', async () => {
    const h = harness();
    await h.vault.ready();
    expect(h.clock.pendingCount).toBeGreaterThan(0);
    await h.vault.close();
    expect(h.transport.count('auth/token/revoke-self')).toBe(1);
    expect(h.events.some((e) => e.event === 'token:revoked')).toBe(true);
    expect(h.clock.pendingCount).toBe(0);
    expect(h.transport.closed).toBe(true);
    await expect(h.vault.request('GET', 'secret/data/app')).rejects.toMatchObject({ code: 'VAULT_CLOSED' });
  });

  it('close() during ready() retries rejects with VAULT_CLOSED and leaves no timer', async () => {
    const h = harness();
    h.transport.down = true;
    const p = h.vault.ready({ timeoutMs: 60_000 }).catch((e: unknown) => e);
    await h.clock.advance(50);
    await h.vault.close();
    expect(await p).toMatchObject({ code: 'VAULT_CLOSED' });
    expect(h.clock.pendingCount).toBe(0);
  });

  it('close() does not revoke when revokeOnClose is false', async () => {
    const h = harness({ token: { revokeOnClose: false } });
    await h.vault.ready();
    await h.vault.close();
    expect(h.transport.count('auth/token/revoke-self')).toBe(0);
  });

  it('a token given by the user is never revoked', async () => {
    const clock = new ManualClock();
    const transport = new FakeVaultTransport(clock);
    const issued = transport.issue();
    const vault = createVault({ env: {}, clock, transport, auth: auth.token({ token: issued.id }) });
    await vault.ready();
    expect(vault.health().token?.accessor).toBe(issued.accessor);
    await vault.close();
    expect(transport.count('auth/token/revoke-self')).toBe(0);
    expect(transport.count('auth/approle/login')).toBe(0);
  });

  it('non-renewable tokens are replaced before expiry', async () => {
    const h = harness();
    h.transport.renewable = false;
    h.transport.ttlMs = 10_000;
    await h.vault.ready();
    let failures = 0;
    for (let i = 0; i < 300; i++) {
      await h.clock.advance(100);
      await h.vault.request('GET', 'secret/data/app').catch(() => failures++);
    }
    expect(failures).toBe(0);
    expect(h.transport.count('auth/token/renew-self')).toBe(0);
    const logins = h.transport.count('auth/approle/login');
    expect(logins).toBeGreaterThanOrEqual(3);
    expect(logins).toBeLessThanOrEqual(5);
  });

  it('token.renew=false never calls renew-self and replaces the token before it expires', async () => {
    const h = harness({ token: { renew: false } });
    h.transport.ttlMs = 10_000;
    h.transport.maxTtlMs = 3_600_000;
    await h.vault.ready();
    let failures = 0;
    for (let i = 0; i < 250; i++) {
      await h.clock.advance(100);
      await h.vault.request('GET', 'secret/data/app').catch(() => failures++);
    }
    expect(failures).toBe(0);
    expect(h.transport.count('auth/token/renew-self')).toBe(0);
    expect(h.transport.count('auth/approle/login')).toBeGreaterThanOrEqual(3);
  });

  it('a renewal refused with 400 (not renewable) stops renewing and logs in again before expiry', async () => {
    const h = harness();
    h.transport.ttlMs = 30_000;
    h.transport.maxTtlMs = 3_600_000;
    await h.vault.ready();
    for (const t of h.transport.tokens.values()) t.renewable = false; // Vault now refuses renew-self with 400
    let failures = 0;
    for (let i = 0; i < 400; i++) {
      await h.clock.advance(100);
      await h.vault.request('GET', 'secret/data/app').catch(() => failures++);
    }
    expect(failures).toBe(0);
    // The refused token is renewed once, never again (the new token of the re-login renews on its own schedule).
    const renewals = h.transport.calls.filter((c) => c.path === 'auth/token/renew-self');
    expect(renewals.filter((c) => c.token === renewals[0]?.token)).toHaveLength(1);
    expect(h.events.find((e) => e.event === 'token:renew-failed')?.payload).toMatchObject({
      code: 'VAULT_BAD_REQUEST',
    });
    expect(h.transport.count('auth/approle/login')).toBe(2);
  });

  it('the renew increment defaults to the TTL granted at login and can be set', async () => {
    const h = harness({ token: { incrementSeconds: 3 } });
    await h.vault.ready();
    await h.clock.advance(2000);
    const renew = h.transport.calls.find((c) => c.path === 'auth/token/renew-self');
    expect(renew?.body).toEqual({ increment: 3 });
    const h2 = harness();
    await h2.vault.ready();
    await h2.clock.advance(2000);
    expect(h2.transport.calls.find((c) => c.path === 'auth/token/renew-self')?.body).toEqual({
      increment: 2,
    });
  });

  it('health reports the token ttl and renewability without the token', async () => {
    const h = harness();
    expect(h.vault.health().status).toBe('down');
    await h.vault.ready();
    const health = h.vault.health();
    expect(health.status).toBe('ready');
    expect(health.token).toMatchObject({ ttl: 2, renewable: true });
    expect(JSON.stringify(health)).not.toContain('secretvalue');
  });
});

describe('the last re-login attempts before the token ends are made in time', () => {
  it('background re-logins wait at most a third of the time left (≥ 500 ms): Vault back 2 s before the end is used', async () => {
    const h = harness();
    h.transport.renewable = false;
    h.transport.ttlMs = 60_000;
    h.transport.maxTtlMs = 60_000;
    const start = h.clock.now();
    await h.vault.ready();
    const attempts: number[] = [];
    h.vault.on('login:failed', () => attempts.push(h.clock.now() - start));
    let loggedInAt: number | undefined;
    h.vault.on('login', () => {
      loggedInAt = h.clock.now() - start;
    });
    h.transport.down = true;
    await h.clock.advance(58_000);
    h.transport.down = false;
    await h.clock.advance(1500);
    const logins = h.events.filter((e) => e.event === 'login');
    expect(logins).toHaveLength(2);
    expect(h.events.some((e) => e.event === 'token:expired')).toBe(false);
    // Backoff 1, 2, 4, 8 s… capped at round(left / 3), left = end − 1 s safety margin − now.
    // The schedule gives up on the non-renewable token at 43 s (Vault's grace), then: 1 s, 2 s, 4 s, then
    // min(8 s, 3 s), min(16 s, 2 s), 1333, 889, 593, and 500 (floor): the login at 58.315 s succeeds.
    expect(attempts).toEqual([43_000, 44_000, 46_000, 50_000, 53_000, 55_000, 56_333, 57_222, 57_815]);
    expect(loggedInAt).toBe(58_315);
  });
});
