import type { DevServer } from '@leasehold/dev-server';
import { afterEach, describe, expect, it } from 'vitest';
import {
  auth,
  type DatabaseCredentials,
  type Lease,
  type LeaseRotateEvent,
  type Vault,
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
  const token = options.token ?? { ttl: '1h', maxTtl: '2h' };
  const creds = await appRole(server, 'app', { token_ttl: token.ttl, token_max_ttl: token.maxTtl });
  const client = clockedClient(server, clock, {
    random: fixedRandom(0.5),
    auth: auth.appRole(creds),
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

function assertNoSecrets(h: Harness, extra: unknown[] = []): void {
  const haystack = [...h.logs, JSON.stringify(h.events), JSON.stringify(extra)].join('\n');
  expect(haystack).not.toMatch(/pw-secret|KEY-secret|static-password/);
  expect(haystack).not.toContain(h.creds.secretId);
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
    l2.on('rotated', () => new Promise<void>(() => {}));
    await l2.reissue();
    const r2 = h2.clock.now();
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
    l3.on('rotated', () => new Promise<void>(() => {}));
    await l3.reissue();
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
});
