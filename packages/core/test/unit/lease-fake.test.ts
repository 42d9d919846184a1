import { afterEach, describe, expect, it } from 'vitest';
import {
  auth,
  createVault,
  type DatabaseCredentials,
  type Lease,
  type LeaseState,
  type Vault,
  VaultError,
  VaultErrorCode,
  type VaultEvents,
} from '../../src/index.js';
import { FakeLeaseVault } from '../helpers/fake-lease-vault.js';
import { fixedRandom, flush, ManualClock } from '../helpers/manual-clock.js';

interface Harness {
  vault: Vault;
  clock: ManualClock;
  fake: FakeLeaseVault;
  logs: string[];
  events: Array<{ event: keyof VaultEvents; payload: unknown }>;
}

/** Every client-wide event of a lease. */
const LEASE_EVENTS = [
  'lease:issued',
  'lease:renewed',
  'lease:renew-failed',
  'lease:expiring',
  'lease:rotated',
  'lease:expired',
  'lease:revoked',
  'lease:issue-failed',
] as const satisfies ReadonlyArray<keyof VaultEvents>;

let open: Vault[] = [];
afterEach(async () => {
  await Promise.all(open.map((v) => v.close({ revokeToken: false, timeoutMs: 50 })));
  open = [];
});

function harness(extra: Parameters<typeof createVault>[0] = {}): Harness {
  const clock = new ManualClock();
  const fake = new FakeLeaseVault(clock);
  const logs: string[] = [];
  const log = (level: string) => (obj: Record<string, unknown>, msg?: string) =>
    logs.push(`${level} ${msg ?? ''} ${JSON.stringify(obj)}`);
  const vault = createVault({
    env: {},
    clock,
    random: fixedRandom(0.5),
    transport: fake,
    auth: auth.appRole({ roleId: 'role-id-value', secretId: 'secret-id-value' }),
    logger: { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') },
    ...extra,
  });
  open.push(vault);
  const events: Harness['events'] = [];
  const names: Array<keyof VaultEvents> = [...LEASE_EVENTS, 'login'];
  for (const event of names) vault.on(event, (payload) => events.push({ event, payload }));
  return { vault, clock, fake, logs, events };
}

function assertNoSecrets(h: Harness, extra: unknown[] = []): void {
  const haystack = [...h.logs, JSON.stringify(h.events), JSON.stringify(extra)].join('\n');
  expect(haystack).not.toMatch(/pw-secret|KEY-secret|static-password|secret-id-value/);
}

async function readyLease(_h: Harness, lease: Lease<DatabaseCredentials>) {
  const p = lease.ready({ timeoutMs: 10_000 });
  await flush();
  return p;
}

describe('lease state machine (injected clock and transport)', () => {
  it('a 768 h non-renewable lease and a 1-year certificate re-issue exactly at end − margin, once', async () => {
    const h = harness();
    const hour = 3_600_000;
    h.fake.inner.ttlMs = 2 * 365 * 24 * hour; // the token outlives both, so no re-login interferes
    h.fake.inner.maxTtlMs = 2 * 365 * 24 * hour;
    h.fake.roles.set('long', { ttlMs: 768 * hour, maxTtlMs: 768 * hour, renewable: false });
    h.fake.certTtlMs = 365 * 24 * hour;
    const lease = h.vault.database.credentials('long');
    const cert = h.vault.pki.certificate('web', { commonName: 'api.test', ttl: '8760h' });
    const snap = await readyLease(h, lease);
    const certSnap = await cert.ready();
    // rotation margin: 20 % of the lifetime (above the 30 s floor)
    const leaseAt = snap.issuedAt + 768 * hour * 0.8;
    const certAt = certSnap.expiresAt - (certSnap.expiresAt - certSnap.issuedAt) * 0.2;
    await h.clock.advance(leaseAt - h.clock.now() - 1);
    expect(h.fake.count('database/creds/long')).toBe(1);
    await h.clock.advance(1);
    expect(h.fake.count('database/creds/long')).toBe(2);
    await h.clock.advance(certAt - h.clock.now() - 1);
    expect(h.fake.count('pki/issue/web')).toBe(1);
    await h.clock.advance(1);
    expect(h.fake.count('pki/issue/web')).toBe(2);
  });

  it('one handle per role and options', async () => {
    const h = harness();
    const a = h.vault.database.credentials('app');
    expect(h.vault.database.credentials('app')).toBe(a);
    expect(h.vault.database.credentials('app', {})).toBe(a);
    const b = h.vault.database.credentials('app', { drainTimeoutMs: 10 });
    expect(b).not.toBe(a);
    expect(h.vault.database.credentials('app', { drainTimeoutMs: 10 })).toBe(b);
    expect(h.vault.database.credentials('app', { mount: 'db2' })).not.toBe(a);
    await a.revoke();
    expect(a.state).toBe('revoked');
    expect(h.vault.database.credentials('app')).not.toBe(a);
    expect(h.vault.leases.list().map((l) => l.path)).toContain('database/creds/app');
  });

  it('bad arguments fail with VAULT_CONFIG naming the option', () => {
    const h = harness();
    expect(() => h.vault.database.credentials('')).toThrow(/"role"/);
    expect(() => h.vault.database.credentials('a/b')).toThrow(VaultError);
    expect(() => h.vault.database.credentials('app', { drainTimeoutMs: -1 })).toThrow(/drainTimeoutMs/);
    expect(() => h.vault.database.credentials('app', { nope: 1 } as never)).toThrow(/unknown keys: nope/);
    expect(() => h.vault.pki.certificate('web', { commonName: '' })).toThrow(/commonName/);
    expect(() => createVault({ env: {}, transport: h.fake, leases: { rotationMarginMs: -1 } })).toThrow(
      /"leases.rotationMarginMs" must be a non-negative integer \(got -1\)/,
    );
    expect(() => createVault({ env: {}, transport: h.fake, cache: { ttl: 5 } as never })).toThrow(
      /"cache" has unknown keys: ttl/,
    );
  });

  it('renewal errors: back off, keep the value while valid, re-issue as soon as Vault is back', async () => {
    const h = harness({ leases: { rotationMarginMs: 1500, retry: { initialMs: 200, maxMs: 1000 } } });
    h.fake.roles.set('app', { ttlMs: 10_000, maxTtlMs: 600_000, renewable: true });
    const lease = h.vault.database.credentials('app');
    const first = await readyLease(h, lease);
    const errors: string[] = [];
    lease.on('error', (e) => errors.push(`${e.operation}:${e.error.code}`));
    h.fake.down = true;
    await h.clock.advance(7500); // first renewal at ~7.2 s fails
    expect(errors[0]).toBe('renew:VAULT_UNAVAILABLE');
    expect(lease.current().leaseId).toBe(first.leaseId);
    expect(lease.current().generation).toBe(1);
    // Inside the margin: re-issue attempts (failing) — value kept.
    await h.clock.advance(1500);
    expect(errors.some((e) => e.startsWith('issue:'))).toBe(true);
    expect(h.vault.health().status).toBe('degraded');
    expect(h.vault.health().reasons.join()).toMatch(/cannot be re-issued \(VAULT_UNAVAILABLE\)/);
    expect(lease.current().leaseId).toBe(first.leaseId);
    // Past expiry: expired event and state, still retrying.
    const expired: unknown[] = [];
    lease.on('expired', (e) => expired.push(e));
    await h.clock.advance(1500);
    expect(lease.state).toBe('expired');
    expect(expired).toHaveLength(1);
    expect(h.vault.health().reasons.join()).toMatch(/expired/);
    // Vault is back: the next attempt (≤ 1 s backoff) re-issues.
    h.fake.down = false;
    await h.clock.advance(1000);
    expect(lease.current().generation).toBe(2);
    expect(lease.state).toBe('issued');
    expect(h.fake.alive(lease.current().leaseId)).toBe(true);
    expect(h.events.some((e) => e.event === 'lease:expired')).toBe(true);
  });

  it('a short outage is bridged by renewal: same value, renewals resume', async () => {
    const h = harness({ leases: { rotationMarginMs: 1500, retry: { initialMs: 200, maxMs: 500 } } });
    h.fake.roles.set('app', { ttlMs: 10_000, maxTtlMs: 600_000, renewable: true });
    const lease = h.vault.database.credentials('app');
    const first = await readyLease(h, lease);
    // The renewal is due at (⅔·10 + ⅓·1.5 s)·0.75 = 5.375 s: Vault is down from 5 s to 6 s.
    await h.clock.advance(5000);
    h.fake.down = true;
    await h.clock.advance(1000);
    expect(h.fake.count('sys/leases/renew')).toBeGreaterThan(0);
    h.fake.down = false;
    await h.clock.advance(600);
    expect(lease.current().leaseId).toBe(first.leaseId);
    expect(lease.current().expiresAt).toBeGreaterThan(h.clock.now() + 9000);
    expect(lease.state).toBe('renewed');
  });

  it('circuit:close (Vault is back) cuts a renewal backoff short, to a spread wait within half the time left', async () => {
    const h = harness({ leases: { rotationMarginMs: 1500, retry: { initialMs: 10_000, maxMs: 10_000 } } });
    h.fake.roles.set('app', { ttlMs: 60_000, maxTtlMs: 600_000, renewable: true });
    const lease = h.vault.database.credentials('app');
    const first = await readyLease(h, lease);
    h.fake.down = true;
    await h.clock.advance(33_000); // renewal at (⅔·60 + ⅓·9 s)·0.75 = 32.25 s fails; retry in 10 s (42.25 s)
    expect(h.fake.count('sys/leases/renew')).toBe(1);
    h.fake.down = false;
    const t = h.clock.now();
    h.vault.emit('circuit:close', { openForMs: 1000 });
    await flush();
    // spreadWake: 0.5 · min(10 s, (58.5 − 33 s) / 2) = 5 s after Vault's return (58.5 s: the lease's end minus its
    // 1.5 s rotation margin), not at once and not at 42.25 s.
    expect(first.expiresAt - t).toBe(27_000);
    await h.clock.advance(4999);
    expect(h.fake.count('sys/leases/renew')).toBe(1);
    await h.clock.advance(1);
    expect(h.fake.count('sys/leases/renew')).toBe(2);
    expect(lease.state).toBe('renewed');
  });

  it('a lease Vault no longer knows is re-issued at once and not revoked', async () => {
    const h = harness({ leases: { rotationMarginMs: 1500, lookupIntervalMs: 250 } });
    h.fake.roles.set('app', { ttlMs: 60_000, maxTtlMs: 600_000, renewable: true });
    const lease = h.vault.database.credentials('app');
    const first = await readyLease(h, lease);
    const rotated: string[] = [];
    lease.on('rotated', (e) => {
      rotated.push(e.reason);
    });
    h.fake.revokeOutOfBand(first.leaseId);
    await h.clock.advance(300);
    expect(lease.current().generation).toBe(2);
    expect(rotated).toEqual(['lease-lost']);
    expect(h.fake.count('sys/leases/revoke')).toBe(0);
    expect(h.fake.alive(lease.current().leaseId)).toBe(true);

    // Without lookups: noticed at the next renewal (`lease not found`).
    const h2 = harness({ leases: { rotationMarginMs: 1500 } });
    const l2 = h2.vault.database.credentials('app');
    const f2 = await readyLease(h2, l2);
    h2.fake.revokeOutOfBand(f2.leaseId);
    await h2.clock.advance(2500);
    expect(l2.current().generation).toBe(2);
    expect(h2.fake.alive(l2.current().leaseId)).toBe(true);
  });

  it('a re-login re-issues every lease of the old token before that token ends', async () => {
    const h = harness({ leases: { rotationMarginMs: 1500 } });
    h.fake.inner.ttlMs = 20_000;
    h.fake.inner.maxTtlMs = 30_000;
    h.fake.roles.set('app', { ttlMs: 5000, maxTtlMs: 600_000, renewable: true });
    const lease = h.vault.database.credentials('app');
    const other = h.vault.database.credentials('app', { drainTimeoutMs: 100 });
    await readyLease(h, lease);
    await readyLease(h, other);
    const reasons: string[] = [];
    lease.on('rotated', (e) => {
      reasons.push(e.reason);
    });
    // Check continuously that both handles hold a living lease for 60 s (two token max TTLs).
    for (let t = 0; t < 600; t++) {
      await h.clock.advance(100);
      expect(h.fake.alive(lease.current().leaseId)).toBe(true);
      expect(h.fake.alive(other.current().leaseId)).toBe(true);
    }
    const logins = h.events.filter((e) => e.event === 'login');
    expect(logins.length).toBeGreaterThanOrEqual(2);
    expect(reasons).toContain('token-changed');
    // the current lease belongs to the current token
    const holder = h.fake.leases.get(lease.current().leaseId)?.token;
    const latest = [...h.fake.inner.tokens.values()].at(-1);
    expect(holder).toBe(latest?.id);
  });

  it('a token revoked out of band: its leases are re-issued under the new token and not revoked', async () => {
    const h = harness({ leases: { rotationMarginMs: 1500 } });
    h.fake.roles.set('app', { ttlMs: 60_000, maxTtlMs: 600_000, renewable: true });
    const lease = h.vault.database.credentials('app');
    const first = await readyLease(h, lease);
    const accessor = h.vault.health().token?.accessor as string;
    h.fake.inner.revokeOutOfBand(accessor);
    expect(h.fake.alive(first.leaseId)).toBe(false); // died with its token
    await h.vault.kv.get('x', { kvVersion: 2 }).catch(() => undefined); // any request notices the invalid token
    await flush();
    const login = h.events.find(
      (e) => e.event === 'login' && (e.payload as { reason: string }).reason === 'invalid-token',
    );
    expect(login).toBeDefined();
    expect(lease.current().generation).toBe(2);
    expect(h.fake.alive(lease.current().leaseId)).toBe(true);
    expect(h.fake.count('sys/leases/revoke')).toBe(0);
  });

  it('the first issue failing permanently rejects ready() and fails the handle', async () => {
    const h = harness();
    const lease = h.vault.database.credentials('nope');
    const p = lease.ready();
    p.catch(() => undefined);
    await flush();
    await expect(p).rejects.toMatchObject({ code: VaultErrorCode.BAD_REQUEST });
    expect(lease.state).toBe('failed');
    expect(() => lease.current()).toThrow(/unknown role/);
    expect(h.vault.database.credentials('nope')).not.toBe(lease);
  });

  it('ready() times out with VAULT_TIMEOUT while Vault is unreachable, and succeeds once it is back', async () => {
    const h = harness({ leases: { retry: { initialMs: 100, maxMs: 200 } } });
    await h.vault.ready();
    h.fake.down = true;
    const lease = h.vault.database.credentials('app');
    const p = lease.ready({ timeoutMs: 1000 });
    p.catch(() => undefined);
    await h.clock.advance(1001);
    await expect(p).rejects.toMatchObject({ code: VaultErrorCode.TIMEOUT });
    expect(lease.state).toBe('issuing');
    h.fake.down = false;
    await h.clock.advance(300);
    expect((await lease.ready()).generation).toBe(1);
  });

  it('close() revokes held leases (bounded even when Vault hangs) and stops every timer', async () => {
    const h = harness();
    const lease = h.vault.database.credentials('app');
    const snap = await readyLease(h, lease);
    await h.vault.close({ revokeToken: false });
    expect(h.fake.leases.get(snap.leaseId)?.revoked).toBe(true);
    expect(lease.state).toBe('revoked');
    expect(() => lease.current()).toThrow(VaultError);
    expect(h.clock.pendingCount).toBe(0);
    expect(h.events.some((e) => e.event === 'lease:revoked')).toBe(true);
  });

  it('close() is bounded when a revocation hangs', async () => {
    const h = harness();
    const lease = h.vault.database.credentials('app');
    const snap = await readyLease(h, lease);
    h.fake.revokeGate = new Promise<void>(() => {});
    let closed = false;
    const p = h.vault.close({ revokeToken: false, timeoutMs: 1000 }).then(() => {
      closed = true;
    });
    await h.clock.advance(1000);
    expect(closed).toBe(false);
    await h.clock.advance(200);
    await p;
    expect(closed).toBe(true);
    expect(lease.state).toBe('revoked');
    expect(h.fake.leases.get(snap.leaseId)?.revoked).toBe(false);
  });

  it('static credentials rotate only when Vault changed the password', async () => {
    const h = harness();
    const lease = h.vault.database.staticCredentials('svc');
    const first = await lease.ready();
    expect(first.leaseId).toBe('');
    expect(first.value.password.reveal()).toBe('static-password-1');
    const rotations: string[] = [];
    lease.on('rotated', (e) => {
      rotations.push(`${e.previous.value.password.reveal()}->${e.current.value.password.reveal()}`);
    });
    await h.clock.advance(10_600);
    expect(h.fake.count('database/static-creds/svc')).toBe(2);
    expect(rotations).toEqual([]);
    h.fake.staticPassword = 'static-password-2';
    await h.clock.advance(10_600);
    expect(rotations).toEqual(['static-password-1->static-password-2']);
    expect(lease.current().generation).toBe(2);
    expect(h.fake.count('sys/leases/revoke')).toBe(0);
  });

  it('a PKI certificate is re-issued before NotAfter', async () => {
    const h = harness();
    const cert = h.vault.pki.certificate('web', { commonName: 'api.test', ttl: '6s' });
    const first = await cert.ready();
    expect(first.value.certificate).toContain('BEGIN CERTIFICATE');
    expect(String(first.value.privateKey)).toBe('[redacted]');
    expect(first.expiresAt).toBe(first.value.notAfter);
    const seen: number[] = [];
    cert.on('rotated', (e) => {
      seen.push(e.current.generation);
    });
    await h.clock.advance(first.expiresAt - h.clock.now() - 1);
    expect(seen).toEqual([2]);
    expect(cert.current().expiresAt).toBeGreaterThan(first.expiresAt);
    assertNoSecrets(h, [first]);
  });
});

describe('the last attempts before a lease ends are made in time', () => {
  it('re-issue attempts wait at most a third of the time left (≥ 500 ms): Vault back at 58.5 s is used before the 60 s end', async () => {
    const h = harness({ leases: { rotationMarginMs: 12_000 } });
    h.fake.roles.set('app', { ttlMs: 60_000, maxTtlMs: 60_000, renewable: false });
    const start = h.clock.now();
    const lease = h.vault.database.credentials('app');
    const first = await readyLease(h, lease);
    expect(first.expiresAt).toBe(start + 60_000);
    await h.clock.advance(40_000);
    h.fake.down = true;
    const attempts: number[] = [];
    h.vault.on('lease:issue-failed', () => attempts.push(h.clock.now() - start));
    let rotatedAt: number | undefined;
    h.vault.on('lease:rotated', () => {
      rotatedAt = h.clock.now() - start;
    });
    await h.clock.advance(18_500);
    h.fake.down = false;
    await h.clock.advance(1000);
    // The re-issue starts at the margin (48 s). Backoff 1, 2, 4, 8, 16 s, each capped at round(left / 3):
    // 49 000 (1000), 51 000 (2000), 54 000 (min(4000, 3000)), 56 000 (2000), 57 333, 58 222, then 58 815 succeeds.
    expect(attempts).toEqual([48_000, 49_000, 51_000, 54_000, 56_000, 57_333, 58_222]);
    const current = lease.current();
    expect(current.generation).toBe(2);
    expect(h.events.some((e) => e.event === 'lease:expired')).toBe(false);
    // Without the cap the backoff alone would have tried next at 63 s — after the end.
    expect(rotatedAt).toBe(58_815);
  });
});

describe('a lease walked through its life', () => {
  it('issue → renew → expiring → rotate → revoke: states, handle events and client events in order', async () => {
    const h = harness({ leases: { rotationMarginMs: 1500 } });
    const lease = h.vault.database.credentials('app'); // ttl 3 s, max 9 s, renewable

    // Every event with the state the handle is in when it goes out.
    const handle: string[] = [];
    const client: string[] = [];
    const states: LeaseState[] = [lease.state];
    const note = (list: string[], name: string): void => {
      list.push(`${name}@${lease.state}`);
      if (states.at(-1) !== lease.state) states.push(lease.state);
    };
    lease.on('issued', () => note(handle, 'issue'));
    lease.on('renewed', () => note(handle, 'renew'));
    lease.on('expiring', () => note(handle, 'expiring'));
    lease.on('rotated', () => note(handle, 'rotate'));
    lease.on('expired', () => note(handle, 'expired'));
    lease.on('revoked', (e) => note(handle, `revoked:${e.reason}:${e.generation}`));
    lease.on('error', (e) => note(handle, `error:${e.operation}`));
    for (const name of LEASE_EVENTS) h.vault.on(name, () => note(client, name));

    const first = await readyLease(h, lease);
    expect(lease.state).toBe('issued');
    // Renewals until Vault caps the lease at its max TTL (9 s), then the re-issue inside the margin.
    for (let t = 0; t < 120 && lease.current().generation === 1; t++) await h.clock.advance(100);
    expect(lease.current().generation).toBe(2);
    await h.clock.advance(10); // the previous generation is revoked (no rotate listener waits)
    await lease.revoke();
    expect(lease.state).toBe('revoked');

    const collapse = (list: string[]): string[] => list.filter((x, i) => x !== list[i - 1]);
    expect(collapse(handle)).toEqual([
      'issue@issued',
      'renew@renewed',
      'expiring@expiring',
      'rotate@issued',
      'revoked:rotated:1@issued',
      'revoked:closed:2@revoked',
    ]);
    expect(collapse(client)).toEqual([
      'lease:issued@issued',
      'lease:renewed@renewed',
      'lease:expiring@expiring',
      'lease:issued@issued',
      'lease:rotated@issued',
      'lease:revoked@issued',
      'lease:revoked@revoked',
    ]);
    expect(states).toEqual(['issuing', 'issued', 'renewed', 'expiring', 'issued', 'revoked']);
    expect(h.fake.alive(first.leaseId)).toBe(false);
    expect(h.logs.some((l) => l.includes('not allowed'))).toBe(false);
    expect(h.logs.map((l) => l.split(' {')[0])).toEqual(
      expect.arrayContaining([
        'info lease issued',
        'debug lease renewed',
        'info lease expiring: re-issuing',
        'info lease re-issued',
        'info lease revoked',
      ]),
    );
    assertNoSecrets(h, [handle, client]);
  });
});
