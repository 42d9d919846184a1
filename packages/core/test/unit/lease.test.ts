import type { DevServer } from '@leasehold/dev-server';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  auth,
  createVault,
  type DatabaseCredentials,
  type Lease,
  type LeaseRotateEvent,
  type LeaseState,
  type Vault,
  VaultError,
  VaultErrorCode,
  type VaultEvents,
  type VaultOptions,
} from '../../src/index.js';
import { type CredsEngineState, type CredsRole, credsEngine } from '../helpers/creds-engine.js';
import { appRole, clockedClient, startClockedServer } from '../helpers/dev-vault.js';
import { fixedRandom } from '../helpers/manual-clock.js';

// The lease state machine against the in-process dev server, client and server on one manual clock: leases come
// from a light test engine mounted at `database/` (the lease itself is the server's), every rule is asserted at an
// exact instant on the clock and by the server's view (`sys/leases/lookup`, the request log).

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
let servers: DevServer[] = [];
afterEach(async () => {
  await Promise.all(open.map((v) => v.close({ revokeToken: false, timeoutMs: 50 })));
  await Promise.all(servers.map((s) => s.close()));
  open = [];
  servers = [];
});

async function rootCall(server: DevServer, method: string, path: string, body?: unknown) {
  const res = await fetch(`${server.url}/v1/${path}`, {
    method,
    headers: { 'X-Vault-Token': server.rootToken, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return {
    status: res.status,
    body: (text ? JSON.parse(text) : undefined) as Record<string, unknown> | undefined,
  };
}

interface HarnessOptions {
  /** Lease roles of the test engine (default `app`: TTL 3 s, max 9 s, renewable). */
  roles?: Record<string, CredsRole>;
  /** The AppRole token's TTL and max TTL (default 1 h / 2 h). */
  token?: { ttl: string; maxTtl: string };
  /** Runs against the server (with its root token) before the client is created. */
  setup?: (server: DevServer) => Promise<void>;
  /** Paths whose calls the clock does not wait for (see `clockedClient`). */
  untracked?: RegExp;
}

async function harness(extra: VaultOptions = {}, options: HarnessOptions = {}) {
  const engine: CredsEngineState = {
    roles: new Map(Object.entries(options.roles ?? { app: { ttl: 3, maxTtl: 9, renewable: true } })),
    staticPassword: 'static-password-1',
    revoked: new Set(),
  };
  const { server, clock } = await startClockedServer({
    secretEngines: { 'test-creds': credsEngine(engine) },
  });
  servers.push(server);
  await server.mount('database', 'test-creds');
  await options.setup?.(server);
  const token = options.token ?? { ttl: '1h', maxTtl: '2h' };
  const creds = await appRole(server, 'app', { token_ttl: token.ttl, token_max_ttl: token.maxTtl });
  const client = clockedClient(server, clock, {
    random: fixedRandom(0.5),
    auth: auth.appRole(creds),
    untracked: options.untracked,
    ...extra,
  });
  open.push(client.vault);
  for (const event of LEASE_EVENTS)
    client.vault.on(event, (payload) => client.events.push({ event, payload }));
  /** The server's view of a lease (`sys/leases/lookup`), or undefined when it does not know it. */
  const lookup = async (leaseId: string) => {
    const r = await rootCall(server, 'PUT', 'sys/leases/lookup', { lease_id: leaseId });
    return r.status === 200 ? (r.body?.data as { ttl: number; renewable: boolean }) : undefined;
  };
  /** Whether the server holds the lease as living. */
  const alive = async (leaseId: string) => ((await lookup(leaseId))?.ttl ?? 0) > 0;
  /** How many requests to `path` the server answered (or saw dropped). */
  const served = (path: string) => server.requests({ path }).length;
  return { ...client, server, clock, engine, creds, lookup, alive, served };
}
type Harness = Awaited<ReturnType<typeof harness>>;

/**
 * A 10 s renewable lease (max TTL 10 min, 1.5 s rotation margin, retries 200 ms doubling to 1 s), issued at `t0`;
 * its first renewal is due at (⅔·10 + ⅓·1.5 s)·0.75 = 5.375 s.
 */
async function tenSecondLease() {
  const h = await harness(
    { leases: { rotationMarginMs: 1500, retry: { initialMs: 200, maxMs: 1000 } } },
    { roles: { app: { ttl: 10, maxTtl: 600, renewable: true } } },
  );
  const lease = h.vault.database.credentials('app');
  const first = await readyLease(lease);
  return { h, lease, first, t0: h.clock.now() };
}

/**
 * A 60 s non-renewable lease (re-issued 20 s before its end, retries 10 s apart) on a Vault that stops answering
 * at 39 s: its re-issue at 40 s fails. `t0`: the instant it was issued.
 */
async function reissueInOutage() {
  const h = await harness(
    { leases: { rotationMarginMs: 20_000, retry: { initialMs: 10_000, maxMs: 10_000 } } },
    { roles: { app: { ttl: 60, maxTtl: 60, renewable: false } } },
  );
  const lease = h.vault.database.credentials('app');
  const first = await readyLease(lease);
  const t0 = h.clock.now();
  expect(first.expiresAt - t0).toBe(60_000);
  await h.clock.advance(39_000);
  h.server.dropConnections({ count: Number.POSITIVE_INFINITY });
  return { h, lease, t0 };
}

/**
 * Asserts that the lease of {@link reissueInOutage} is re-issued exactly `at` ms after `t0` (its only other request
 * being the failed one at 40 s): still generation 1 and serving (`expiring`) 1 ms before, generation 2 at `at`.
 */
async function reissuedAt(
  { h, lease, t0 }: Awaited<ReturnType<typeof reissueInOutage>>,
  at: number,
): Promise<void> {
  await h.clock.advanceTo(t0 + at - 1);
  expect(lease.current().generation).toBe(1);
  expect(lease.state).toBe('expiring');
  await h.clock.advance(1);
  expect(
    h.server.requests({ path: 'database/creds/app' }).map((r) => [Date.parse(r.time) - t0, r.status]),
  ).toEqual([
    [0, 200],
    [40_000, 0],
    [at, 200],
  ]);
  expect(lease.current().generation).toBe(2);
}

function assertNoSecrets(h: Harness, extra: unknown[] = []): void {
  const haystack = [...h.logs, JSON.stringify(h.events), JSON.stringify(extra)].join('\n');
  expect(haystack).not.toMatch(/pw-secret|KEY-secret|static-password/);
  expect(haystack).not.toContain(h.creds.secretId);
}

/** A PKI mount with a root CA and a role `web` for `*.test` names (certificates up to a year). */
async function mountPki(server: DevServer): Promise<void> {
  await server.mount('pki', 'pki', { config: { max_lease_ttl: '87600h' } });
  const ok = async (path: string, body: unknown) => {
    const r = await rootCall(server, 'POST', path, body);
    if (r.status >= 400) throw new Error(`${path}: ${r.status} ${JSON.stringify(r.body)}`);
  };
  await ok('pki/root/generate/internal', {
    common_name: 'Leasehold Test Root',
    ttl: '87600h',
    key_type: 'ec',
  });
  await ok('pki/roles/web', {
    allowed_domains: 'test',
    allow_subdomains: true,
    max_ttl: '8760h',
    key_type: 'ec',
  });
}

async function readyLease(lease: Lease<DatabaseCredentials>) {
  return lease.ready({ timeoutMs: 10_000 });
}

describe('lease state machine (dev server on one manual clock)', () => {
  it('issues, exposes a Redacted-safe snapshot and renews on the LifetimeWatcher schedule', async () => {
    const h = await harness(
      { leases: { rotationMarginMs: 1500 } },
      { roles: { app: { ttl: 30, maxTtl: 3600, renewable: true } } },
    );
    const lease = h.vault.database.credentials('app');
    const snap = await readyLease(lease);
    const t0 = h.clock.now();
    expect(snap.issuedAt).toBe(t0);
    expect(snap.expiresAt).toBe(t0 + 30_000);
    expect(snap.generation).toBe(1);
    expect(snap.leaseId).toMatch(/^database\/creds\/app\//);
    expect(snap.value.username).toMatch(/^v-token-app-/);
    expect(snap.value.password.reveal()).toMatch(/^pw-secret-/);
    expect(JSON.stringify(snap)).not.toContain('pw-secret');
    expect(lease.state).toBe('issued');
    expect(lease.current()).toBe(snap);
    expect(await h.lookup(snap.leaseId)).toMatchObject({ ttl: 30, renewable: true });

    const renewals: Array<{ at: number; ttlMs: number }> = [];
    lease.on('renewed', ({ ttlMs }) => renewals.push({ at: h.clock.now() - t0, ttlMs }));
    // grace = 15 % of 30 s (random 0.5) = 4.5 s; sleep = ⅔·30 + ⅓·4.5 = 21.5 s, spread to 21.5·(1 − 0.5·0.5)
    // = 16.125 s (spreadRenewal)
    await h.clock.advance(16_124);
    expect(h.served('sys/leases/renew')).toBe(0);
    await h.clock.advance(1);
    expect(h.served('sys/leases/renew')).toBe(1);
    expect(renewals).toEqual([{ at: 16_125, ttlMs: 30_000 }]);
    expect(lease.state).toBe('renewed');
    expect(lease.current().generation).toBe(1);
    expect(lease.current().expiresAt).toBe(t0 + 16_125 + 30_000);
    expect((await h.lookup(snap.leaseId))?.ttl).toBe(30);
    await h.clock.advance(5 * 60_000);
    expect(h.served('sys/leases/renew')).toBeGreaterThan(10);
    expect(await h.alive(snap.leaseId)).toBe(true);
    expect(h.served('database/creds/app')).toBe(1);
    assertNoSecrets(h, [snap]);
  });

  it('a capped renewal re-issues before max TTL; the previous lease is revoked only after the listener drained', async () => {
    const h = await harness({ leases: { rotationMarginMs: 1500 } }); // ttl 3 s, max 9 s
    const lease = h.vault.database.credentials('app');
    const first = await readyLease(lease);
    let release: () => void = () => {};
    const rotations: Array<LeaseRotateEvent<DatabaseCredentials>> = [];
    lease.on('rotated', (e) => {
      rotations.push(e);
      return new Promise<void>((resolve) => {
        release = resolve;
      });
    });
    // Run 9 s: renewals until capped, then a rotation while the first lease is still valid.
    for (let t = 0; t < 90 && rotations.length === 0; t++) {
      await h.clock.advance(100);
      expect(await h.alive(lease.current().leaseId)).toBe(true);
    }
    expect(rotations).toHaveLength(1);
    const e = rotations[0] as LeaseRotateEvent<DatabaseCredentials>;
    expect(e.previous.leaseId).toBe(first.leaseId);
    expect(e.current.generation).toBe(2);
    expect(e.reason).toBe('max-ttl');
    expect(e.retirePrevious).toBe(true); // a Vault lease's previous value is always retired (revoked after drain)
    expect(h.clock.now() - first.issuedAt).toBeLessThan(9000);
    expect(h.served('sys/leases/renew')).toBeGreaterThanOrEqual(2);
    expect(
      h.events.some((x) => x.event === 'lease:renewed' && (x.payload as { capped: boolean }).capped),
    ).toBe(true);
    // Still draining: old lease alive and not revoked.
    await h.clock.advance(200);
    expect(await h.alive(first.leaseId)).toBe(true);
    expect(h.served('sys/leases/revoke')).toBe(0);
    release();
    await h.clock.idle();
    expect(h.served('sys/leases/revoke')).toBe(1);
    expect(await h.lookup(first.leaseId)).toBeUndefined();
    expect(h.engine.revoked).toEqual(new Set([first.value.username]));
    expect(await h.alive(lease.current().leaseId)).toBe(true);
    assertNoSecrets(h, [e.previous, e.current]);
  });

  it('drain by callback, drain timeout, and no listener (immediate revoke)', async () => {
    // callback
    const h = await harness({ leases: { rotationMarginMs: 1500 } });
    const lease = h.vault.database.credentials('app');
    const first = await readyLease(lease);
    let drained: (() => void) | undefined;
    lease.on('rotated', (e) => {
      drained = e.drained;
    });
    await lease.reissue({ reason: 'test' });
    await h.clock.idle();
    expect(lease.current().generation).toBe(2);
    expect(await h.alive(first.leaseId)).toBe(true);
    drained?.();
    await h.clock.idle();
    expect(await h.lookup(first.leaseId)).toBeUndefined();
    expect(h.engine.revoked.has(first.value.username)).toBe(true);

    // drain timeout
    const long = { app: { ttl: 60, maxTtl: 600, renewable: true } };
    const h2 = await harness({ leases: { rotationMarginMs: 1500, drainTimeoutMs: 400 } }, { roles: long });
    const l2 = h2.vault.database.credentials('app');
    const f2 = await readyLease(l2);
    const drainBy2: number[] = [];
    l2.on('rotated', (e) => {
      drainBy2.push(e.drainBy);
      return new Promise<void>(() => {});
    });
    await l2.reissue();
    const r2 = h2.clock.now();
    // The event says when the revocation comes: the drain timeout after the rotation.
    expect(drainBy2).toEqual([r2 + 400]);
    await h2.clock.advance(399);
    expect(await h2.alive(f2.leaseId)).toBe(true);
    await h2.clock.advance(1);
    expect(await h2.lookup(f2.leaseId)).toBeUndefined();
    expect(h2.server.requests({ path: 'sys/leases/revoke' }).map((r) => Date.parse(r.time))).toEqual([
      r2 + 400,
    ]);

    // no drain timeout: revoked just before the previous lease would expire anyway
    const h3 = await harness({ leases: { rotationMarginMs: 1500 } }, { roles: long });
    const l3 = h3.vault.database.credentials('app');
    const f3 = await readyLease(l3);
    const drainBy3: number[] = [];
    l3.on('rotated', (e) => {
      drainBy3.push(e.drainBy);
      return new Promise<void>(() => {});
    });
    await l3.reissue();
    // … just before the previous value ends (its expiry guard, 500 ms).
    expect(drainBy3).toEqual([f3.expiresAt - 500]);
    const remaining = f3.expiresAt - h3.clock.now();
    await h3.clock.advance(remaining - 600);
    expect(await h3.alive(f3.leaseId)).toBe(true);
    await h3.clock.advance(200);
    expect(await h3.lookup(f3.leaseId)).toBeUndefined();
    expect(h3.engine.revoked.has(f3.value.username)).toBe(true);

    // no listener: revoked at once
    const h4 = await harness();
    const l4 = h4.vault.database.credentials('app');
    const f4 = await readyLease(l4);
    await l4.reissue();
    await h4.clock.idle();
    expect(await h4.lookup(f4.leaseId)).toBeUndefined();
    expect(h4.served('sys/leases/revoke')).toBe(1);
  });

  it('a retired lease whose revocation fails is revoked again in the background with backoff (1 s, 2 s, 4 s)', async () => {
    const h = await harness({}, { roles: { app: { ttl: 60, maxTtl: 600, renewable: true } } });
    const lease = h.vault.database.credentials('app');
    const first = await readyLease(lease);
    const errors: Array<{ at: number; code: string; retryInMs: number | undefined }> = [];
    lease.on('error', (e) => {
      if (e.operation === 'revoke')
        errors.push({ at: h.clock.now(), code: e.error.code, retryInMs: e.retryInMs });
    });
    h.server.failNext({ path: 'sys/leases/revoke', status: 500, error: 'internal error', count: 3 });
    const t0 = h.clock.now();
    await lease.reissue();
    await h.clock.idle();
    expect(h.served('sys/leases/revoke')).toBe(1);
    await h.clock.advance(999);
    expect(h.served('sys/leases/revoke')).toBe(1);
    await h.clock.advance(1); // t0 + 1 s
    expect(h.served('sys/leases/revoke')).toBe(2);
    await h.clock.advance(1999);
    expect(h.served('sys/leases/revoke')).toBe(2);
    await h.clock.advance(1); // t0 + 3 s
    expect(h.served('sys/leases/revoke')).toBe(3);
    await h.clock.advance(3999);
    expect(await h.alive(first.leaseId)).toBe(true);
    await h.clock.advance(1); // t0 + 7 s: the fourth attempt succeeds
    expect(
      h.server.requests({ path: 'sys/leases/revoke' }).map((r) => [Date.parse(r.time) - t0, r.status]),
    ).toEqual([
      [0, 500],
      [1000, 500],
      [3000, 500],
      [7000, 204],
    ]);
    expect(await h.lookup(first.leaseId)).toBeUndefined();
    expect(errors).toEqual([
      { at: t0, code: 'VAULT_SERVER_ERROR', retryInMs: 1000 },
      { at: t0 + 1000, code: 'VAULT_SERVER_ERROR', retryInMs: 2000 },
      { at: t0 + 3000, code: 'VAULT_SERVER_ERROR', retryInMs: 4000 },
    ]);
    expect(h.events.filter((e) => e.event === 'lease:revoked')).toHaveLength(1);
    // No further attempt once it succeeded.
    await h.clock.advance(60_000);
    expect(h.served('sys/leases/revoke')).toBe(4);
  });

  it('background revocation attempts come closer as the retired lease ends, and stop at its end', async () => {
    const h = await harness({}, { roles: { app: { ttl: 10, maxTtl: 600, renewable: true } } });
    const lease = h.vault.database.credentials('app');
    const first = await readyLease(lease);
    const waits: number[] = [];
    lease.on('error', (e) => {
      if (e.operation === 'revoke') waits.push(e.retryInMs ?? -1);
    });
    h.server.failNext({ path: 'sys/leases/revoke', status: 503, error: 'upstream unavailable', count: 1000 });
    const t0 = h.clock.now();
    expect(first.expiresAt).toBe(t0 + 10_000);
    await lease.reissue();
    await h.clock.idle();
    await h.clock.advance(10_000);
    // Backoff 1, 2, 4, 8 s… but never more than a third of the time left (at least 500 ms); none after the end.
    // Attempts at t0 + 0, 1000, 3000, 5333, 6889, 7926, 8617, 9117, 9617 (then 383 ms left < 500 ms: stop).
    expect(waits).toEqual([1000, 2000, 2333, 1556, 1037, 691, 500, 500, -1]);
    expect(h.server.requests({ path: 'sys/leases/revoke' }).map((r) => Date.parse(r.time) - t0)).toEqual([
      0, 1000, 3000, 5333, 6889, 7926, 8617, 9117, 9617,
    ]);
    // The server ended the retired lease itself at its expiry.
    expect(await h.lookup(first.leaseId)).toBeUndefined();
    expect(h.engine.revoked.has(first.value.username)).toBe(true);
    await h.clock.advance(60_000);
    expect(h.served('sys/leases/revoke')).toBe(9);
  });

  it('close() cancels the background revocation retries (no timer left)', async () => {
    const h = await harness({}, { roles: { app: { ttl: 60, maxTtl: 600, renewable: true } } });
    const lease = h.vault.database.credentials('app');
    const first = await readyLease(lease);
    h.server.failNext({ path: 'sys/leases/revoke', status: 500, error: 'internal error', count: 1 });
    const second = await lease.reissue();
    await h.clock.idle();
    expect(h.served('sys/leases/revoke')).toBe(1);
    await h.vault.close({ revokeToken: false });
    // The retry timer is gone; the client's close revokes the current lease only (the retired one ends by itself).
    expect(h.served('sys/leases/revoke')).toBe(2);
    expect(await h.alive(first.leaseId)).toBe(true);
    expect(await h.lookup(second.leaseId)).toBeUndefined();
    await h.clock.advance(60_000);
    expect(h.served('sys/leases/revoke')).toBe(2);
    expect(await h.lookup(first.leaseId)).toBeUndefined(); // ended by the server at its expiry
  });

  it('reissue() is single flight and honours ifGeneration', async () => {
    const h = await harness({}, { roles: { app: { ttl: 60, maxTtl: 600, renewable: true } } });
    const lease = h.vault.database.credentials('app');
    await readyLease(lease);
    h.server.addLatency({ path: 'database/creds/app', ms: 50, count: 1 });
    const calls = Array.from({ length: 100 }, () =>
      lease.reissue({ ifGeneration: 1, reason: 'auth failed' }),
    );
    const snaps = await Promise.all(calls);
    expect(new Set(snaps.map((s) => s.generation))).toEqual(new Set([2]));
    expect(h.served('database/creds/app')).toBe(2);
    // a stale generation does not re-issue again
    const again = await lease.reissue({ ifGeneration: 1 });
    expect(again.generation).toBe(2);
    expect(h.served('database/creds/app')).toBe(2);
  });

  it('a secret without a TTL is held, not re-issued in a loop', async () => {
    const h = await harness(
      {},
      { roles: { forever: { ttl: 0, maxTtl: 0, renewable: false, leased: false } } },
    );
    const lease = h.vault.database.credentials('forever');
    const snap = await readyLease(lease);
    expect(snap.leaseId).toBe('');
    expect(snap.expiresAt).toBe(Number.POSITIVE_INFINITY);
    await h.clock.advance(60_000);
    expect(h.served('database/creds/forever')).toBe(1);
    expect(h.vault.leases.list()[0]?.ttl).toBe(0);
    // a re-issue waits for its listener's drain (no expiry to bound it), and nothing is marked expired; there is
    // no Vault lease to revoke afterwards
    let release: () => void = () => {};
    lease.on('rotated', () => new Promise<void>((r) => (release = r)));
    await lease.reissue();
    await h.clock.advance(10_000);
    expect(h.served('database/creds/forever')).toBe(2);
    expect(lease.state).toBe('issued');
    release();
    await h.clock.advance(60_000);
    expect(lease.state).toBe('issued');
    expect(h.served('database/creds/forever')).toBe(2);
    expect(h.events.some((e) => e.event === 'lease:expired')).toBe(false);
    expect(h.served('sys/leases/revoke')).toBe(0);
  });

  it('one handle per role and options', async () => {
    const h = await harness();
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

  it('bad arguments fail with VAULT_CONFIG naming the option', async () => {
    const h = await harness();
    expect(() => h.vault.database.credentials('')).toThrow(/"role"/);
    expect(() => h.vault.database.credentials('a/b')).toThrow(VaultError);
    expect(() => h.vault.database.credentials('app', { drainTimeoutMs: -1 })).toThrow(/drainTimeoutMs/);
    expect(() => h.vault.database.credentials('app', { nope: 1 } as never)).toThrow(/unknown keys: nope/);
    expect(() => h.vault.pki.certificate('web', { commonName: '' })).toThrow(/commonName/);
    const address = h.server.url;
    expect(() => createVault({ env: {}, address, leases: { rotationMarginMs: -1 } })).toThrow(
      /"leases.rotationMarginMs" must be a non-negative integer \(got -1\)/,
    );
    expect(() => createVault({ env: {}, address, cache: { ttl: 5 } as never })).toThrow(
      /"cache" has unknown keys: ttl/,
    );
    expect(h.server.requests({ path: 'database/*' })).toEqual([]);
  });

  it('renewal errors: back off, keep the value while valid, re-issue as soon as Vault is back', async () => {
    const { h, lease, first, t0 } = await tenSecondLease();
    const errors: Array<{ at: number; what: string }> = [];
    lease.on('error', (e) => errors.push({ at: h.clock.now() - t0, what: `${e.operation}:${e.error.code}` }));
    h.server.dropConnections({ count: Number.POSITIVE_INFINITY });
    // first renewal at (⅔·10 + ⅓·1.5 s)·0.75 = 5.375 s fails; then backoff 200, 400, 800, 1000 ms
    await h.clock.advance(7500);
    expect(errors[0]).toEqual({ at: 5375, what: 'renew:VAULT_UNAVAILABLE' });
    expect(lease.current().leaseId).toBe(first.leaseId);
    expect(lease.current().generation).toBe(1);
    // Inside the margin: re-issue attempts (failing) — value kept.
    await h.clock.advance(1500);
    expect(errors.some((e) => e.what.startsWith('issue:'))).toBe(true);
    expect(h.vault.health().status).toBe('degraded');
    expect(h.vault.health().reasons.join()).toMatch(/cannot be re-issued \(VAULT_UNAVAILABLE\)/);
    expect(lease.current().leaseId).toBe(first.leaseId);
    // Past expiry: expired event and state, still retrying.
    const expired: number[] = [];
    lease.on('expired', () => expired.push(h.clock.now() - t0));
    await h.clock.advance(1500);
    expect(lease.state).toBe('expired');
    expect(expired).toEqual([10_000]);
    expect(h.vault.health().reasons.join()).toMatch(/expired/);
    // Vault is back: the next attempt (≤ 1 s backoff) re-issues.
    h.server.clearFaults();
    expect(await h.lookup(first.leaseId)).toBeUndefined(); // the server ended it at 10 s
    await h.clock.advance(1000);
    expect(lease.current().generation).toBe(2);
    expect(lease.state).toBe('issued');
    expect(await h.alive(lease.current().leaseId)).toBe(true);
    expect(h.events.some((e) => e.event === 'lease:expired')).toBe(true);
  });

  it('a short outage is bridged by renewal: same value, renewals resume', async () => {
    const h = await harness(
      { leases: { rotationMarginMs: 1500, retry: { initialMs: 200, maxMs: 500 } } },
      { roles: { app: { ttl: 10, maxTtl: 600, renewable: true } } },
    );
    const lease = h.vault.database.credentials('app');
    const first = await readyLease(lease);
    const t0 = h.clock.now();
    // The renewal is due at (⅔·10 + ⅓·1.5 s)·0.75 = 5.375 s: Vault is down from 5 s to 6 s.
    await h.clock.advance(5000);
    h.server.dropConnections({ count: Number.POSITIVE_INFINITY });
    await h.clock.advance(1000);
    // attempts at 5.375, 5.575, 5.975 s, all dropped
    expect(
      h.server.requests({ path: 'sys/leases/renew' }).map((r) => [Date.parse(r.time) - t0, r.status]),
    ).toEqual([
      [5375, 0],
      [5575, 0],
      [5975, 0],
    ]);
    h.server.clearFaults();
    await h.clock.advance(600);
    // the next attempt, 500 ms later (6.475 s), renews the same lease
    expect(
      h.server.requests({ path: 'sys/leases/renew', status: 200 }).map((r) => Date.parse(r.time) - t0),
    ).toEqual([6475]);
    expect(lease.current().leaseId).toBe(first.leaseId);
    expect(lease.current().expiresAt).toBe(t0 + 6475 + 10_000);
    expect(lease.state).toBe('renewed');
    expect((await h.lookup(first.leaseId))?.ttl).toBe(10);
  });

  it('an outage past the rotation deadline: a lease still valid when Vault answers again is renewed, not replaced', async () => {
    const { h, lease, first, t0 } = await tenSecondLease();
    const rotated: unknown[] = [];
    lease.on('rotated', (e) => rotated.push(e));
    h.server.dropConnections({ count: Number.POSITIVE_INFINITY });
    const at = (path: string, status?: number) =>
      h.server.requests({ path, status }).map((r) => Date.parse(r.time) - t0);
    // The renewal at 5.375 s fails, then its retries 200, 400, 800 and 1000 ms apart; at 7.775 s the backoff leaves
    // no time before the end (10 s) beyond the grace, so the renewals end and the re-issue begins: each attempt is a
    // renewal, then an issue, both failing, 200 and 400 ms apart, then a third of the time left. The value serves.
    await h.clock.advance(9000);
    expect(h.events.find((e) => e.event === 'lease:expiring')?.payload).toMatchObject({
      reason: 'renew-failed',
    });
    expect(lease.state).toBe('expiring');
    expect(at('sys/leases/renew')).toEqual([5375, 5575, 5975, 6775, 7775, 7775, 7975, 8375, 8917]);
    expect(at('database/creds/app')).toEqual([0, 7775, 7975, 8375, 8917]);
    h.server.clearFaults();
    h.vault.emit('circuit:close', { openForMs: 4000 });
    // spreadWake: 0.75 · min(10 s, ⅔ · (10 − 9 s)) = 500 ms after Vault's return: the attempt at 9.5 s renews.
    await h.clock.advance(499);
    expect(at('sys/leases/renew', 200)).toEqual([]);
    await h.clock.advance(1);
    expect(at('sys/leases/renew', 200)).toEqual([9500]);
    // Same lease, same value, extended from the renewal: nothing was issued, rotated or revoked.
    expect(at('database/creds/app', 200)).toEqual([0]);
    expect(lease.current()).toMatchObject({ leaseId: first.leaseId, generation: 1 });
    expect(lease.current().expiresAt).toBe(t0 + 9500 + 10_000);
    expect(lease.state).toBe('renewed');
    expect(h.events.filter((e) => e.event === 'lease:renewed').at(-1)?.payload).toMatchObject({
      leaseId: first.leaseId,
      ttl: 10,
    });
    expect(rotated).toEqual([]);
    expect((await h.lookup(first.leaseId))?.ttl).toBe(10);
    expect(h.vault.health().status).toBe('ready');
    // The renewal schedule starts again from there: (⅔·10 + ⅓·1.5 s)·0.75 = 5.375 s later.
    await h.clock.advance(5374);
    expect(at('sys/leases/renew', 200)).toEqual([9500]);
    await h.clock.advance(1);
    expect(at('sys/leases/renew', 200)).toEqual([9500, 14_875]);
    expect(lease.current().leaseId).toBe(first.leaseId);
    assertNoSecrets(h);
  });

  it('an outage past the rotation deadline: a lease Vault revoked meanwhile is re-issued at once, not revoked', async () => {
    const { h, lease, first, t0 } = await tenSecondLease();
    h.server.dropConnections({ count: Number.POSITIVE_INFINITY });
    await h.clock.advance(9000);
    h.server.clearFaults();
    expect((await rootCall(h.server, 'PUT', 'sys/leases/revoke', { lease_id: first.leaseId })).status).toBe(
      204,
    );
    h.vault.emit('circuit:close', { openForMs: 4000 });
    await h.clock.advance(500);
    const at = (path: string, status: number) =>
      h.server.requests({ path, status }).map((r) => Date.parse(r.time) - t0);
    // At 9.5 s (as in the test above) the renewal is refused — the lease is gone — and the issue follows at once.
    expect(at('sys/leases/renew', 400)).toEqual([9500]);
    expect(at('database/creds/app', 200)).toEqual([0, 9500]);
    expect(lease.current().generation).toBe(2);
    expect(h.events.find((e) => e.event === 'lease:rotated')?.payload).toMatchObject({
      reason: 'lease-lost',
    });
    // Lost, so never revoked by the client: the only revocation is the test's own.
    expect(h.server.requests({ path: 'sys/leases/revoke' })).toHaveLength(1);
  });

  it('a lease whose token ended during the outage is re-issued as soon as the client has a new token', async () => {
    // Lease 60 s with a 30 s margin: its renewals end at 30 s and its re-issue attempts begin. Token 40 s: its
    // renewals fail from 21.5 s and it ends at 40 s, taking the lease with it on the server's side.
    const h = await harness(
      { leases: { rotationMarginMs: 30_000, retry: { initialMs: 200, maxMs: 1000 } } },
      { roles: { app: { ttl: 60, maxTtl: 600, renewable: true } }, token: { ttl: '40s', maxTtl: '1h' } },
    );
    const lease = h.vault.database.credentials('app');
    const first = await readyLease(lease);
    const t0 = h.clock.now();
    h.server.dropConnections({ count: Number.POSITIVE_INFINITY });
    await h.clock.advance(45_000);
    expect(lease.state).toBe('expiring');
    expect(h.vault.health().token).toBeNull();
    h.server.clearFaults();
    expect(await h.lookup(first.leaseId)).toBeUndefined(); // revoked with its token at 40 s
    h.vault.emit('circuit:close', { openForMs: 23_500 });
    // The lease alone would wait spreadWake of the 15 s it seems to have left (7.5 s); the login at 45 s shows that
    // its token has ended, so the lease is gone and re-issued at once, under the new token.
    await h.clock.advance(0);
    const at = (path: string, status: number) =>
      h.server.requests({ path, status }).map((r) => Date.parse(r.time) - t0);
    expect(at('auth/approle/login', 200)).toEqual([0, 45_000]);
    expect(at('database/creds/app', 200)).toEqual([0, 45_000]);
    expect(lease.current().generation).toBe(2);
    expect(await h.alive(lease.current().leaseId)).toBe(true);
    expect(h.server.requests({ path: 'sys/leases/revoke' })).toHaveLength(0);
    expect(h.vault.health().status).toBe('ready');
  });

  it('circuit:close (Vault is back) moves a renewal backoff to a spread wait of a third to two thirds of the time left', async () => {
    const h = await harness(
      { leases: { rotationMarginMs: 1500, retry: { initialMs: 10_000, maxMs: 10_000 } } },
      { roles: { app: { ttl: 60, maxTtl: 600, renewable: true } } },
    );
    const lease = h.vault.database.credentials('app');
    const first = await readyLease(lease);
    h.server.dropConnections({ count: Number.POSITIVE_INFINITY });
    await h.clock.advance(33_000); // renewal at (⅔·60 + ⅓·9 s)·0.75 = 32.25 s fails; retry in 10 s (42.25 s)
    expect(h.served('sys/leases/renew')).toBe(1);
    h.server.clearFaults();
    const t = h.clock.now();
    h.vault.emit('circuit:close', { openForMs: 1000 });
    await h.clock.idle();
    // spreadWake: 0.75 · min(10 s, ⅔ · (58.5 − 33 s)) = 7.5 s after Vault's return (58.5 s: the lease's end minus its
    // 1.5 s rotation margin), not at once and not at 42.25 s.
    expect(first.expiresAt - t).toBe(27_000);
    await h.clock.advance(7499);
    expect(h.served('sys/leases/renew')).toBe(1);
    await h.clock.advance(1);
    expect(
      h.server.requests({ path: 'sys/leases/renew' }).map((r) => [Date.parse(r.time) - t, r.status]),
    ).toEqual([
      [-750, 0],
      [7500, 200],
    ]);
    expect(lease.state).toBe('renewed');
  });

  it('circuit:close moves a re-issue backoff to a spread wait within the first third of the time the held value has left', async () => {
    const { h, lease, t0 } = await reissueInOutage();
    // the re-issue due at 40 s (60 s − the 20 s margin) fails; the next attempt waits min(10 s, 20 s / 3) = 6.667 s
    await h.clock.advance(2000);
    h.server.clearFaults();
    h.vault.emit('circuit:close', { openForMs: 1000 });
    // spreadWake, replace: 0.5 · min(10 s, (60 − 41 s) / 3) = 3.167 s after Vault's return (44.167 s), not at that
    // instant nor at the backoff's 46.667 s; two thirds of the time left remain for the re-issue and its retries, and
    // the held value serves meanwhile.
    await reissuedAt({ h, lease, t0 }, 44_167);
  });

  it('a re-issue attempt whose probe sees Vault return waits a spread part of the time the held value has left', async () => {
    const { h, lease, t0 } = await reissueInOutage();
    await h.clock.advance(2000); // the attempt at 40 s fails; the next is due at 40 + min(10, 20 / 3) = 46.667 s
    h.server.clearFaults();
    // The next attempt's probe of the open circuit is what sees Vault return (as in a fleet, where every client's
    // probe sees it within a probe interval of the others).
    vi.spyOn(h.vault, 'probeIfOpen').mockResolvedValueOnce(true);
    // spreadWake, replace: 0.5 · min(10 s, (60 − 46.667 s) / 3) = 2.222 s after that probe: 48.889 s, not 46.667 s.
    await reissuedAt({ h, lease, t0 }, 48_889);
  });

  it('circuit:close re-issues at once when the held value has ended', async () => {
    const { h, lease, t0 } = await reissueInOutage();
    await h.clock.advance(22_500); // the value ended at 60 s
    expect(lease.state).toBe('expired');
    h.server.clearFaults();
    h.vault.emit('circuit:close', { openForMs: 22_500 });
    await h.clock.idle();
    const issued = h.server.requests({ path: 'database/creds/app', status: 200 });
    expect(issued.map((r) => Date.parse(r.time) - t0)).toEqual([0, 61_500]);
    expect(lease.current().generation).toBe(2);
  });

  it('a lease Vault no longer knows is re-issued at once and not revoked', async () => {
    const long = { app: { ttl: 60, maxTtl: 600, renewable: true } };
    const h = await harness({ leases: { rotationMarginMs: 1500, lookupIntervalMs: 250 } }, { roles: long });
    const lease = h.vault.database.credentials('app');
    const first = await readyLease(lease);
    const rotated: string[] = [];
    lease.on('rotated', (e) => {
      rotated.push(e.reason);
    });
    await h.server.revokeLease(first.leaseId);
    const t = h.clock.now();
    await h.clock.advance(300);
    expect(lease.current().generation).toBe(2);
    expect(rotated).toEqual(['lease-lost']);
    // noticed by the lookup at 250 ms, re-issued at once
    expect(h.server.requests({ path: 'database/creds/app' }).map((r) => Date.parse(r.time) - t)).toEqual([
      expect.any(Number),
      250,
    ]);
    expect(h.served('sys/leases/revoke')).toBe(0);
    expect(await h.alive(lease.current().leaseId)).toBe(true);

    // Without lookups: noticed at the next renewal (`lease not found`), due at (3 − 1.5 s margin)·0.75 = 1.125 s;
    // the new lease is renewed 1.125 s after that.
    const h2 = await harness({ leases: { rotationMarginMs: 1500 } });
    const l2 = h2.vault.database.credentials('app');
    const f2 = await readyLease(l2);
    await h2.server.revokeLease(f2.leaseId);
    const t2 = h2.clock.now();
    await h2.clock.advance(2500);
    expect(l2.current().generation).toBe(2);
    expect(
      h2.server.requests({ path: 'sys/leases/renew' }).map((r) => [Date.parse(r.time) - t2, r.status]),
    ).toEqual([
      [1125, 400],
      [2250, 200],
    ]);
    expect(h2.server.requests({ path: 'database/creds/app' }).map((r) => Date.parse(r.time) - t2)).toEqual([
      expect.any(Number),
      1125,
    ]);
    expect(await h2.alive(l2.current().leaseId)).toBe(true);
  });

  it('a token revoked out of band: its leases are re-issued under the new token and not revoked', async () => {
    const h = await harness(
      { leases: { rotationMarginMs: 1500 } },
      { roles: { app: { ttl: 60, maxTtl: 600, renewable: true } } },
    );
    const lease = h.vault.database.credentials('app');
    const first = await readyLease(lease);
    const accessor = h.vault.health().token?.accessor as string;
    expect(await h.server.revokeToken(accessor)).toBe(true);
    expect(await h.lookup(first.leaseId)).toBeUndefined(); // died with its token
    expect(h.engine.revoked.has(first.value.username)).toBe(true);
    await h.vault.kv.get('x', { kvVersion: 2 }).catch(() => undefined); // any request notices the invalid token
    await h.clock.idle();
    const login = h.events.find(
      (e) => e.event === 'login' && (e.payload as { reason: string }).reason === 'invalid-token',
    );
    expect(login).toBeDefined();
    expect(lease.current().generation).toBe(2);
    expect(await h.alive(lease.current().leaseId)).toBe(true);
    expect(h.served('sys/leases/revoke')).toBe(0);
  });

  it('the first issue failing permanently rejects ready() and fails the handle', async () => {
    const h = await harness();
    const lease = h.vault.database.credentials('nope');
    const p = lease.ready();
    p.catch(() => undefined);
    await expect(p).rejects.toMatchObject({ code: VaultErrorCode.BAD_REQUEST });
    expect(lease.state).toBe('failed');
    expect(() => lease.current()).toThrow(/unknown role/);
    expect(h.vault.database.credentials('nope')).not.toBe(lease);
    expect(h.server.requests({ path: 'database/creds/nope' }).map((r) => r.status)).toEqual([400]);
  });

  it('ready() times out with VAULT_TIMEOUT while Vault is unreachable, and succeeds once it is back', async () => {
    const h = await harness({ leases: { retry: { initialMs: 100, maxMs: 200 } } });
    await h.vault.ready();
    h.server.dropConnections({ path: 'database/*', count: Number.POSITIVE_INFINITY });
    const lease = h.vault.database.credentials('app');
    const p = lease.ready({ timeoutMs: 1000 });
    p.catch(() => undefined);
    await h.clock.advance(999);
    expect(lease.state).toBe('issuing');
    await h.clock.advance(1);
    await expect(p).rejects.toMatchObject({ code: VaultErrorCode.TIMEOUT });
    expect(lease.state).toBe('issuing');
    h.server.clearFaults();
    await h.clock.advance(200);
    expect((await lease.ready()).generation).toBe(1);
    expect(await h.alive(lease.current().leaseId)).toBe(true);
  });

  it('close() revokes held leases and stops every timer', async () => {
    const h = await harness();
    const lease = h.vault.database.credentials('app');
    const snap = await readyLease(lease);
    await h.vault.close({ revokeToken: false });
    expect(await h.lookup(snap.leaseId)).toBeUndefined();
    expect(h.engine.revoked.has(snap.value.username)).toBe(true);
    expect(lease.state).toBe('revoked');
    expect(() => lease.current()).toThrow(VaultError);
    expect(h.events.some((e) => e.event === 'lease:revoked')).toBe(true);
    // no client timer is left: time passing causes no request
    const before = h.calls.length;
    await h.clock.advance(3 * 3_600_000);
    expect(h.calls.length).toBe(before);
  });

  it('static credentials rotate only when Vault changed the password', async () => {
    const h = await harness();
    const lease = h.vault.database.staticCredentials('svc');
    const first = await lease.ready();
    expect(first.leaseId).toBe('');
    expect(first.value.password.reveal()).toBe('static-password-1');
    const rotations: string[] = [];
    lease.on('rotated', (e) => {
      rotations.push(`${e.previous.value.password.reveal()}->${e.current.value.password.reveal()}`);
    });
    await h.clock.advance(10_600);
    expect(h.served('database/static-creds/svc')).toBe(2);
    expect(rotations).toEqual([]);
    h.engine.staticPassword = 'static-password-2';
    await h.clock.advance(10_600);
    expect(rotations).toEqual(['static-password-1->static-password-2']);
    expect(lease.current().generation).toBe(2);
    expect(h.served('sys/leases/revoke')).toBe(0);
  });

  it('a 768 h non-renewable lease and a 1-year certificate re-issue exactly at end − margin, once', async () => {
    const hour = 3_600_000;
    const h = await harness(
      {},
      {
        roles: { long: { ttl: 768 * 3600, maxTtl: 768 * 3600, renewable: false } },
        // the token outlives both, so no re-login interferes
        token: { ttl: '17520h', maxTtl: '17520h' },
        setup: async (server) => {
          await server.enableAuth('approle', 'approle');
          await rootCall(server, 'POST', 'sys/auth/approle/tune', { max_lease_ttl: '17520h' });
          await mountPki(server);
        },
      },
    );
    const lease = h.vault.database.credentials('long');
    const cert = h.vault.pki.certificate('web', { commonName: 'api.test', ttl: '8760h' });
    const snap = await readyLease(lease);
    const certSnap = await cert.ready();
    expect(snap.expiresAt - snap.issuedAt).toBe(768 * hour);
    expect(certSnap.expiresAt - h.clock.now()).toBe(8760 * hour);
    const token = await rootCall(h.server, 'POST', 'auth/token/lookup', { token: h.calls.at(-1)?.token });
    expect((token.body?.data as { ttl: number } | undefined)?.ttl).toBe(17_520 * 3600);
    // rotation margin: 20 % of the lifetime (above the 30 s floor)
    const leaseAt = snap.issuedAt + 768 * hour * 0.8;
    const certAt = certSnap.expiresAt - (certSnap.expiresAt - certSnap.issuedAt) * 0.2;
    await h.clock.advance(leaseAt - h.clock.now() - 1);
    expect(h.served('database/creds/long')).toBe(1);
    await h.clock.advance(1);
    expect(h.server.requests({ path: 'database/creds/long' }).map((r) => Date.parse(r.time))).toEqual([
      snap.issuedAt,
      leaseAt,
    ]);
    await h.clock.advance(certAt - h.clock.now() - 1);
    expect(h.served('pki/issue/web')).toBe(1);
    await h.clock.advance(1);
    expect(h.server.requests({ path: 'pki/issue/web' }).map((r) => Date.parse(r.time))).toEqual([
      certSnap.issuedAt,
      certAt,
    ]);
    expect(h.served('auth/approle/login')).toBe(1);
  });

  it('a re-login while the old token is still valid re-issues its lease after a spread wait, before that token ends', async () => {
    const h = await harness(
      { leases: { rotationMarginMs: 1500 } },
      { roles: { app: { ttl: 60, maxTtl: 600, renewable: true } }, token: { ttl: '20s', maxTtl: '30s' } },
    );
    const t0 = h.clock.now();
    const lease = h.vault.database.credentials('app');
    const first = await readyLease(lease);
    const logins: Array<{ at: number; reason: string }> = [];
    const tokenEnds: number[] = [];
    h.vault.on('token:renewed', (e) => tokenEnds.push(h.clock.now() - t0 + e.ttl * 1000));
    h.vault.on('login', (e) => {
      if (e.previousAccessor) logins.push({ at: h.clock.now() - t0, reason: e.reason });
    });
    await h.clock.advance(25_305);
    // The token reaches its max TTL: a re-login at 24.417 s, while the old token (which ends at 29.75 s, as its last
    // renewal said) and the lease (60 s) are still valid. The lease is not re-issued in the same instant …
    expect(logins).toEqual([{ at: 24_417, reason: 'expiring' }]);
    expect(tokenEnds.at(-1)).toBe(29_750);
    expect(lease.current().generation).toBe(1);
    expect(await h.alive(first.leaseId)).toBe(true);
    // … but after spreadWake (replace) of the time the old token has left: 0.5 · min(10 s, (29.75 − 24.417 s) / 3) =
    // 0.889 s, at 25.306 s: two thirds of it remain for the re-issue before the old token ends.
    await h.clock.advance(1);
    expect(h.server.requests({ path: 'database/creds/app' }).map((r) => Date.parse(r.time) - t0)).toEqual([
      0, 25_306,
    ]);
    expect(lease.current().generation).toBe(2);
    // The new lease belongs to the new token; the old one was revoked after the drain, before its token ended.
    const issuedWith = h.calls.filter((c) => c.path === 'database/creds/app').at(-1)?.token;
    expect(issuedWith).toBe(h.calls.at(-1)?.token);
    await h.clock.idle();
    expect(await h.lookup(first.leaseId)).toBeUndefined();
    expect(h.served('sys/leases/revoke')).toBe(1);
  });

  it('a lease issued while a re-login happened is re-issued under the new token at once, and revoked after it', async () => {
    // Token 20 s / max 30 s: the re-login at 24.417 s lands while a re-issue's request (300 ms, real time) is in
    // flight; that request may have used the old token, which stays valid until 29.75 s.
    const h = await harness(
      { leases: { rotationMarginMs: 1500 } },
      {
        roles: { app: { ttl: 60, maxTtl: 600, renewable: true } },
        token: { ttl: '20s', maxTtl: '30s' },
        untracked: /database\/creds/,
      },
    );
    const t0 = h.clock.now();
    const lease = h.vault.database.credentials('app');
    const first = await readyLease(lease);
    await h.clock.advanceTo(t0 + 24_300);
    h.server.addLatency({ path: 'database/creds/app', ms: 300, count: 1 });
    const reissued = lease.reissue();
    await h.clock.advanceTo(t0 + 24_417);
    expect(h.events.filter((e) => e.event === 'login')).toHaveLength(2);
    const second = await reissued;
    expect(second.generation).toBe(2);
    // Issued under either token: re-issued under the new one at once, and (the old token still valid) revoked.
    await h.clock.advance(0);
    await vi.waitFor(() => expect(lease.current().generation).toBe(3), { timeout: 5000 });
    await h.clock.idle();
    expect(await h.lookup(second.leaseId)).toBeUndefined();
    expect(h.events.filter((e) => e.event === 'lease:revoked').map((e) => e.payload)).toEqual([
      expect.objectContaining({ leaseId: first.leaseId, reason: 'rotated' }),
      expect.objectContaining({ leaseId: second.leaseId, reason: 'rotated' }),
    ]);
  });

  it('a re-login re-issues every lease of the old token before that token ends', async () => {
    const h = await harness(
      { leases: { rotationMarginMs: 1500 } },
      { roles: { app: { ttl: 5, maxTtl: 600, renewable: true } }, token: { ttl: '20s', maxTtl: '30s' } },
    );
    const lease = h.vault.database.credentials('app');
    const other = h.vault.database.credentials('app', { drainTimeoutMs: 100 });
    await readyLease(lease);
    await readyLease(other);
    const reasons: string[] = [];
    lease.on('rotated', (e) => {
      reasons.push(e.reason);
    });
    // Check continuously that both handles hold a living lease for 60 s (two token max TTLs).
    for (let t = 0; t < 600; t++) {
      await h.clock.advance(100);
      expect(await h.alive(lease.current().leaseId)).toBe(true);
      expect(await h.alive(other.current().leaseId)).toBe(true);
    }
    expect(h.served('auth/approle/login')).toBeGreaterThanOrEqual(3);
    expect(reasons).toContain('token-changed');
    // the current lease belongs to the current token: it was issued with the token the client uses now, which the
    // server still holds as living
    const issuedWith = h.calls.filter((c) => c.path === 'database/creds/app').at(-1)?.token;
    expect(issuedWith).toBe(h.calls.at(-1)?.token);
    const tokenLookup = await rootCall(h.server, 'POST', 'auth/token/lookup', { token: issuedWith });
    expect(tokenLookup.status).toBe(200);
    expect((tokenLookup.body?.data as { ttl: number } | undefined)?.ttl).toBeGreaterThan(0);
  });

  it('close() is bounded when a revocation hangs', async () => {
    const h = await harness(
      {},
      { roles: { app: { ttl: 3600, maxTtl: 7200, renewable: true } }, untracked: /^sys\/leases\/revoke$/ },
    );
    const lease = h.vault.database.credentials('app');
    const snap = await readyLease(lease);
    // The server holds the revocation for 5 s of real time, while the test moves the shared clock by a minute in
    // a few milliseconds: the client's close gives up at its own deadline on that clock.
    h.server.addLatency({ path: 'sys/leases/revoke', ms: 5000, count: 1 });
    const t0 = h.clock.now();
    let closedAt: number | undefined;
    const p = h.vault.close({ revokeToken: false, timeoutMs: 60_000 }).then(() => {
      closedAt = h.clock.now() - t0;
    });
    await h.clock.advance(59_999);
    expect(closedAt).toBeUndefined();
    await h.clock.advance(1);
    await p;
    expect(closedAt).toBe(60_000);
    expect(lease.state).toBe('revoked');
    expect(h.logs.some((l) => l.includes('revoking the lease failed') && l.includes('VAULT_TIMEOUT'))).toBe(
      true,
    );
    expect(await h.alive(snap.leaseId)).toBe(true); // the revocation never reached the engine
  });

  it('a PKI certificate is re-issued before NotAfter', async () => {
    const h = await harness({}, { setup: mountPki });
    const cert = h.vault.pki.certificate('web', { commonName: 'api.test', ttl: '6s' });
    const first = await cert.ready();
    expect(first.value.certificate).toContain('BEGIN CERTIFICATE');
    expect(String(first.value.privateKey)).toBe('[redacted]');
    expect(first.expiresAt).toBe(first.value.notAfter);
    expect(first.expiresAt).toBe(h.clock.now() + 6000);
    const seen: Array<{ generation: number; at: number }> = [];
    cert.on('rotated', (e) => {
      seen.push({ generation: e.current.generation, at: h.clock.now() });
    });
    await h.clock.advance(first.expiresAt - h.clock.now() - 1);
    expect(seen).toHaveLength(1);
    expect(seen[0]?.generation).toBe(2);
    expect(seen[0]?.at).toBeLessThan(first.expiresAt);
    expect(h.server.requests({ path: 'pki/issue/web' }).map((r) => Date.parse(r.time))).toEqual([
      first.issuedAt,
      seen[0]?.at,
    ]);
    expect(cert.current().expiresAt).toBeGreaterThan(first.expiresAt);
    assertNoSecrets(h, [first]);
  });
});

describe('the last attempts before a lease ends are made in time', () => {
  it('re-issue attempts wait at most a third of the time left (≥ 500 ms): Vault back at 58.5 s is used before the 60 s end', async () => {
    const h = await harness(
      { leases: { rotationMarginMs: 12_000 } },
      { roles: { app: { ttl: 60, maxTtl: 60, renewable: false } } },
    );
    const lease = h.vault.database.credentials('app');
    const first = await readyLease(lease);
    const start = first.issuedAt;
    expect(first.expiresAt).toBe(start + 60_000);
    await h.clock.advance(40_000);
    h.server.dropConnections({ count: Number.POSITIVE_INFINITY });
    const attempts: number[] = [];
    h.vault.on('lease:issue-failed', () => attempts.push(h.clock.now() - start));
    let rotatedAt: number | undefined;
    h.vault.on('lease:rotated', () => {
      rotatedAt = h.clock.now() - start;
    });
    await h.clock.advance(18_500);
    h.server.clearFaults();
    await h.clock.advance(1000);
    // The re-issue starts at the margin (48 s). Backoff 1, 2, 4, 8, 16 s, each capped at round(left / 3):
    // 49 000 (1000), 51 000 (2000), 54 000 (min(4000, 3000)), 56 000 (2000), 57 333, 58 222, then 58 815 succeeds.
    expect(attempts).toEqual([48_000, 49_000, 51_000, 54_000, 56_000, 57_333, 58_222]);
    expect(
      h.server.requests({ path: 'database/creds/app' }).map((r) => [Date.parse(r.time) - start, r.status]),
    ).toEqual([
      [0, 200],
      [48_000, 0],
      [49_000, 0],
      [51_000, 0],
      [54_000, 0],
      [56_000, 0],
      [57_333, 0],
      [58_222, 0],
      [58_815, 200],
    ]);
    const current = lease.current();
    expect(current.generation).toBe(2);
    expect(await h.alive(current.leaseId)).toBe(true);
    expect(h.events.some((e) => e.event === 'lease:expired')).toBe(false);
    // Without the cap the backoff alone would have tried next at 63 s — after the end.
    expect(rotatedAt).toBe(58_815);
  });
});

describe('a lease walked through its life', () => {
  it('issue → renew → expiring → rotate → revoke: states, handle events and client events in order', async () => {
    const h = await harness({ leases: { rotationMarginMs: 1500 } }); // ttl 3 s, max 9 s, renewable
    const lease = h.vault.database.credentials('app');

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

    const first = await readyLease(lease);
    expect(lease.state).toBe('issued');
    // Renewals until Vault caps the lease at its max TTL (9 s), then the re-issue inside the margin.
    for (let t = 0; t < 120 && lease.current().generation === 1; t++) await h.clock.advance(100);
    expect(lease.current().generation).toBe(2);
    await h.clock.advance(10); // the previous generation is revoked (no rotate listener waits)
    const second = lease.current();
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
    expect(await h.lookup(first.leaseId)).toBeUndefined();
    expect(await h.lookup(second.leaseId)).toBeUndefined();
    expect(h.engine.revoked).toEqual(new Set([first.value.username, second.value.username]));
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
