import { afterEach, describe, expect, it } from 'vitest';
import {
  auth,
  createVault,
  type DatabaseCredentials,
  type Lease,
  type LeaseState,
  type Vault,
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
