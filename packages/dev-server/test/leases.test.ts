import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevServer, ManualClock, startDevServer } from '../src/index.js';
import { newState, testEngine } from './fixtures.js';
import { call } from './helpers.js';

const state = newState();
let server: DevServer;
const clock = new ManualClock();

beforeAll(async () => {
  server = await startDevServer({ clock, secretEngines: { test: testEngine(state) } });
  await server.mount('db', 'test', { config: { default_lease_ttl: '1h', max_lease_ttl: '2h' } });
});
afterAll(async () => {
  await server.close();
});

async function issue(query = '', token?: string) {
  const res = await call(server, 'GET', `db/creds/app${query}`, { token });
  expect(res.status).toBe(200);
  return res.body as {
    lease_id: string;
    lease_duration: number;
    renewable: boolean;
    data: Record<string, string>;
  };
}

describe('lease registry', () => {
  it('registers leases with <mount+path>/<24 base62> IDs and the mount default TTL', async () => {
    const secret = await issue();
    expect(secret.lease_id).toMatch(/^db\/creds\/app\/[A-Za-z0-9]{24}$/);
    expect(secret.lease_duration).toBe(3600);
    expect(secret.renewable).toBe(true);
    expect(secret.data.username).toBe('user-app');
    const capped = await call(server, 'GET', 'db/creds/app?ttl=99999');
    expect(capped.body.lease_duration).toBe(7200);
    expect(capped.body.warnings[0]).toBe(
      'TTL of "27h46m39s" exceeded the effective max_ttl of "2h"; TTL value is capped accordingly',
    );
  });

  it('renews with CalculateTTL and calls the backend', async () => {
    const secret = await issue('?ttl=60&max_ttl=100');
    expect(secret.lease_duration).toBe(60);
    const r1 = await call(server, 'PUT', 'sys/leases/renew', {
      body: { lease_id: secret.lease_id, increment: 30 },
    });
    expect(r1.status).toBe(200);
    expect(r1.body).toMatchObject({
      lease_id: secret.lease_id,
      lease_duration: 30,
      renewable: true,
      data: null,
      warnings: null,
    });
    expect(state.renewed.at(-1)?.lease.leaseId).toBe(secret.lease_id);
    expect(state.renewed.at(-1)?.lease.internal).toEqual({ role: 'app' });
    const r2 = await call(server, 'PUT', 'sys/leases/renew', {
      body: { lease_id: secret.lease_id, increment: 3600 },
    });
    expect(r2.body.lease_duration).toBeLessThanOrEqual(100);
    expect(r2.body.lease_duration).toBeGreaterThanOrEqual(85);
    expect(r2.body.warnings[0]).toMatch(
      /^TTL of "1h" exceeded the effective max_ttl of "1m[2-4]\ds"; TTL value is capped accordingly$/,
    );
    // No increment → the secret's own TTL.
    const r3 = await call(server, 'PUT', `sys/leases/renew/${secret.lease_id}`, { body: {} });
    expect(r3.body.lease_duration).toBe(60);
    // Legacy alias.
    const r4 = await call(server, 'PUT', 'sys/renew', { body: { lease_id: secret.lease_id, increment: 5 } });
    expect(r4.body.lease_duration).toBe(5);
  });

  // Vault's texts: https://github.com/hashicorp/vault/blob/main/vault/logical_system.go (sys/leases handlers),
  // https://github.com/hashicorp/vault/blob/main/vault/expiration.go and CalculateTTL in
  // https://github.com/hashicorp/vault/blob/main/sdk/framework/lease.go.
  it("answers Vault's lease errors exactly", async () => {
    const missing = await call(server, 'PUT', 'sys/leases/renew', { body: {} });
    expect(missing.body.errors).toEqual(['lease_id must be specified']);
    const unknown = await call(server, 'PUT', 'sys/leases/renew', {
      body: { lease_id: 'db/creds/app/nope' },
    });
    expect(unknown.status).toBe(400);
    expect(unknown.body.errors).toEqual(['lease not found']);
    const nonRenewable = await issue('?renewable=false');
    const nr = await call(server, 'PUT', 'sys/leases/renew', { body: { lease_id: nonRenewable.lease_id } });
    expect(nr.body.errors).toEqual(['lease is not renewable']);
    const lookupUnknown = await call(server, 'PUT', 'sys/leases/lookup', {
      body: { lease_id: 'db/creds/app/nope' },
    });
    expect(lookupUnknown.status).toBe(400);
    expect(lookupUnknown.body.errors).toEqual(['invalid lease']);
    const revokeUnknown = await call(server, 'PUT', 'sys/leases/revoke', {
      body: { lease_id: 'db/creds/app/nope' },
    });
    expect(revokeUnknown.status).toBe(204);
    const past = await issue('?ttl=5&max_ttl=1');
    expect(past.lease_duration).toBe(1);
    // At its max TTL the lease expires and is revoked: renewing it finds nothing.
    await clock.advance(1000);
    expect(state.revoked.map((l) => l.leaseId)).toContain(past.lease_id);
    const pastRenew = await call(server, 'PUT', 'sys/leases/renew', { body: { lease_id: past.lease_id } });
    expect(pastRenew.status).toBe(400);
    expect(pastRenew.body.errors).toEqual(['lease not found']);
  });

  it('looks up leases', async () => {
    const secret = await issue('?ttl=120');
    const res = await call(server, 'PUT', 'sys/leases/lookup', { body: { lease_id: secret.lease_id } });
    expect(res.status).toBe(200);
    expect(res.body.data).toMatchObject({ id: secret.lease_id, renewable: true, last_renewal: null });
    expect(res.body.data.ttl).toBe(120);
    expect(Date.parse(res.body.data.issue_time)).toBe(clock.now());
    expect(Date.parse(res.body.data.expire_time)).toBe(clock.now() + 120_000);
    await clock.advance(20_000);
    const later = await call(server, 'PUT', 'sys/leases/lookup', { body: { lease_id: secret.lease_id } });
    expect(later.body.data.ttl).toBe(100);
    const list = await call(server, 'LIST', 'sys/leases/lookup/db/creds/app/');
    expect(list.status).toBe(200);
    expect(list.body.data.keys).toContain(secret.lease_id.split('/').at(-1));
  });

  it('revokes (sync → 204, sync=false → 202) and calls revokeSecret', async () => {
    const a = await issue();
    const r = await call(server, 'PUT', 'sys/leases/revoke', { body: { lease_id: a.lease_id } });
    expect(r.status).toBe(204);
    expect(state.revoked.map((l) => l.leaseId)).toContain(a.lease_id);
    const b = await issue();
    const async = await call(server, 'PUT', 'sys/leases/revoke', {
      body: { lease_id: b.lease_id, sync: false },
    });
    expect(async.status).toBe(202);
    await clock.advance(0);
    expect(state.revoked.map((l) => l.leaseId)).toContain(b.lease_id);
    const c = await issue();
    expect((await call(server, 'PUT', `sys/leases/revoke/${c.lease_id}`)).status).toBe(204);
    expect((await call(server, 'PUT', 'sys/leases/lookup', { body: { lease_id: c.lease_id } })).status).toBe(
      400,
    );
  });

  it('revoke-prefix and revoke-force need sudo and revoke everything under the prefix', async () => {
    const a = await issue();
    const b = await call(server, 'GET', 'db/creds/other');
    const res = await call(server, 'PUT', 'sys/leases/revoke-prefix/db/creds/app');
    expect(res.status).toBe(204);
    expect(state.revoked.map((l) => l.leaseId)).toContain(a.lease_id);
    expect(
      (await call(server, 'PUT', 'sys/leases/lookup', { body: { lease_id: b.body.lease_id } })).status,
    ).toBe(200);
    state.failRevoke = true;
    const failing = await call(server, 'PUT', 'sys/leases/revoke', { body: { lease_id: b.body.lease_id } });
    expect(failing.status).toBe(400);
    const forced = await call(server, 'PUT', 'sys/leases/revoke-force/db/creds/other');
    expect(forced.status).toBe(204);
    expect(
      (await call(server, 'PUT', 'sys/leases/lookup', { body: { lease_id: b.body.lease_id } })).status,
    ).toBe(400);
    state.failRevoke = false;
    const t = await call(server, 'POST', 'auth/token/create', { body: { policies: ['default'] } });
    const denied = await call(server, 'PUT', 'sys/leases/revoke-prefix/db', {
      token: t.body.auth.client_token,
    });
    expect(denied.status).toBe(403);
  });

  it('expires leases on time and calls revokeSecret', async () => {
    const secret = await issue('?ttl=1');
    await clock.advance(999);
    expect(state.revoked.map((l) => l.leaseId)).not.toContain(secret.lease_id);
    await clock.advance(1);
    expect(state.revoked.map((l) => l.leaseId)).toContain(secret.lease_id);
    expect(
      (await call(server, 'PUT', 'sys/leases/lookup', { body: { lease_id: secret.lease_id } })).status,
    ).toBe(400);
  });

  it('pauses expiry while sealed, as Vault does, and revokes what ran out right after unseal', async () => {
    const expiring = await issue('?ttl=1');
    const token = await call(server, 'POST', 'auth/token/create', {
      body: { policies: ['default'], ttl: 1 },
    });
    const tokenAccessor = token.body.auth.accessor as string;
    server.seal();
    try {
      await clock.advance(1400);
      // Nothing is revoked during the seal.
      expect(state.revoked.map((l) => l.leaseId)).not.toContain(expiring.lease_id);
    } finally {
      server.unseal();
    }
    await clock.advance(0);
    expect(state.revoked.map((l) => l.leaseId)).toContain(expiring.lease_id);
    const lookup = await call(server, 'POST', 'auth/token/lookup-accessor', {
      body: { accessor: tokenAccessor },
    });
    expect(lookup.status).toBe(400);
  });

  it('revoking or expiring a token revokes its leases (and its children’s)', async () => {
    server.writePolicy('db', 'path "db/*" { capabilities = ["read"] }');
    const parent = await call(server, 'POST', 'auth/token/create', { body: { policies: ['db'], ttl: 60 } });
    const child = await call(server, 'POST', 'auth/token/create', {
      body: { policies: ['db'] },
      token: undefined,
    });
    void child;
    const parentToken = parent.body.auth.client_token;
    const childRes = await call(server, 'POST', 'auth/token/create', { body: { policies: ['db'] } });
    void childRes;
    const a = await issue('', parentToken);
    const revoke = await call(server, 'POST', 'auth/token/revoke-self', { token: parentToken });
    expect(revoke.status).toBe(204);
    expect(state.revoked.map((l) => l.leaseId)).toContain(a.lease_id);

    const short = await call(server, 'POST', 'auth/token/create', { body: { policies: ['db'], ttl: 1 } });
    const b = await issue('?ttl=600', short.body.auth.client_token);
    await clock.advance(999);
    expect(state.revoked.map((l) => l.leaseId)).not.toContain(b.lease_id);
    await clock.advance(1);
    expect(state.revoked.map((l) => l.leaseId)).toContain(b.lease_id);
  });

  it('the default policy may renew and look up but not revoke', async () => {
    server.writePolicy('db', 'path "db/*" { capabilities = ["read"] }');
    const t = await call(server, 'POST', 'auth/token/create', { body: { policies: ['db'] } });
    const token = t.body.auth.client_token;
    const secret = await issue('', token);
    expect(
      (await call(server, 'PUT', 'sys/leases/renew', { token, body: { lease_id: secret.lease_id } })).status,
    ).toBe(200);
    expect(
      (await call(server, 'PUT', 'sys/leases/lookup', { token, body: { lease_id: secret.lease_id } })).status,
    ).toBe(200);
    const revoke = await call(server, 'PUT', 'sys/leases/revoke', {
      token,
      body: { lease_id: secret.lease_id },
    });
    expect(revoke.status).toBe(403);
  });

  it('disabling a mount revokes its leases', async () => {
    await server.mount('db2', 'test');
    const res = await call(server, 'GET', 'db2/creds/x');
    expect((await call(server, 'DELETE', 'sys/mounts/db2')).status).toBe(204);
    expect(state.revoked.map((l) => l.leaseId)).toContain(res.body.lease_id);
  });

  it('revoke-prefix matches whole path segments, as Vault does', async () => {
    const app = await issue();
    const apple = await call(server, 'GET', 'db/creds/apple');
    expect((await call(server, 'PUT', 'sys/leases/revoke-prefix/db/creds/app')).status).toBe(204);
    expect(state.revoked.map((l) => l.leaseId)).toContain(app.lease_id);
    expect(state.revoked.map((l) => l.leaseId)).not.toContain(apple.body.lease_id);
    expect(
      (await call(server, 'PUT', 'sys/leases/lookup', { body: { lease_id: apple.body.lease_id } })).status,
    ).toBe(200);
  });

  it('a failed revocation keeps the mount: unmounting answers 400 until the leases can be revoked', async () => {
    await server.mount('db3', 'test');
    const res = await call(server, 'GET', 'db3/creds/x');
    state.failRevoke = true;
    try {
      const refused = await call(server, 'DELETE', 'sys/mounts/db3');
      expect(refused.status).toBe(400);
      expect(refused.body.errors).toEqual([
        `failed to revoke ${JSON.stringify(res.body.lease_id)} (1 / 1): failed to revoke entry: resp: (*logical.Response)(nil) err: revocation failed`,
      ]);
      expect((await call(server, 'GET', 'sys/mounts')).body.data['db3/']).toBeDefined();
    } finally {
      state.failRevoke = false;
    }
    expect((await call(server, 'DELETE', 'sys/mounts/db3')).status).toBe(204);
    expect(state.revoked.map((l) => l.leaseId)).toContain(res.body.lease_id);
  });

  it('validates the leaseRevocation option', async () => {
    await expect(startDevServer({ leaseRevocation: { retryBaseMs: 0 } })).rejects.toThrow(
      /`leaseRevocation.retryBaseMs` must be a positive number/,
    );
    await expect(startDevServer({ leaseRevocation: { maxAttempts: 1.5 } })).rejects.toThrow(
      /`leaseRevocation.maxAttempts` must be a positive integer/,
    );
    await expect(
      startDevServer({ leaseRevocation: 'fast' as unknown as { retryBaseMs: number } }),
    ).rejects.toThrow(/`leaseRevocation` must be an object/);
  });

  it('a lazy revoke (sync=false) that fails keeps the lease and retries it; an irrevocable lease can still be revoked', async () => {
    const own = newState();
    const ownClock = new ManualClock();
    const fast = await startDevServer({
      clock: ownClock,
      secretEngines: { test: testEngine(own) },
      leaseRevocation: { maxAttempts: 2 },
    });
    try {
      await fast.mount('db', 'test');
      const secret = (await call(fast, 'GET', 'db/creds/app')).body.lease_id as string;
      const known = async () =>
        (await call(fast, 'PUT', 'sys/leases/lookup', { body: { lease_id: secret } })).status === 200;
      const irrevocable = async () =>
        (await call(fast, 'GET', 'sys/leases?type=irrevocable')).body.data.leases as { lease_id: string }[];
      own.failRevoke = true;
      expect(
        (await call(fast, 'PUT', 'sys/leases/revoke', { body: { lease_id: secret, sync: false } })).status,
      ).toBe(202);
      // The first attempt failed at once; Vault's backoff retries after 10 s × 2¹, ±50 %.
      await ownClock.advance(0);
      const failedAt = ownClock.now();
      const retryAt = ownClock.nextTimerAt() ?? 0;
      expect(retryAt - failedAt).toBeGreaterThanOrEqual(10_000);
      expect(retryAt - failedAt).toBeLessThanOrEqual(30_000);
      await ownClock.advanceTo(retryAt - 1);
      expect(await irrevocable()).toEqual([]);
      await ownClock.advance(1);
      expect((await irrevocable()).map((l) => l.lease_id)).toEqual([secret]);
      expect(await known()).toBe(true);
      expect(own.revoked).toEqual([]);
      own.failRevoke = false;
      expect((await call(fast, 'PUT', 'sys/leases/revoke', { body: { lease_id: secret } })).status).toBe(204);
      expect(own.revoked.map((l) => l.leaseId)).toEqual([secret]);
      expect(await irrevocable()).toEqual([]);
      expect(await known()).toBe(false);
    } finally {
      await fast.close();
    }
  });
});
