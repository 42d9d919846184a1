import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevServer, ManualClock, startDevServer } from '../src/index.js';
import { newState, testEngine } from './fixtures.js';
import { call } from './helpers.js';

const state = newState();
let server: DevServer;
const clock = new ManualClock();

beforeAll(async () => {
  server = await startDevServer({
    clock,
    authMethods: { test: testEngine(state) },
    secretEngines: { test: testEngine(state) },
  });
  await server.enableAuth('test', 'test');
  await server.mount('engine', 'test');
  server.writePolicy('reader', 'path "engine/*" { capabilities = ["read", "update"] }');
  server.writePolicy('other', 'path "other/*" { capabilities = ["read"] }');
});
afterAll(async () => {
  await server.close();
});

async function create(body: Record<string, unknown>, token?: string) {
  const res = await call(server, 'POST', 'auth/token/create', { body, token });
  expect(res.status).toBe(200);
  return res.body.auth as {
    client_token: string;
    accessor: string;
    lease_duration: number;
    policies: string[];
  };
}

describe('token store', () => {
  it('creates tokens with the auth block and looks them up', async () => {
    const res = await call(server, 'POST', 'auth/token/create', {
      body: { policies: ['reader'], ttl: '1h', meta: { app: 'x' }, display_name: 'my app', num_uses: 5 },
    });
    expect(res.status).toBe(200);
    expect(res.body.data).toBeNull();
    const auth = res.body.auth;
    expect(auth.client_token).toMatch(/^hvs\.[A-Za-z0-9]{24}$/);
    expect(auth).toMatchObject({
      policies: ['default', 'reader'],
      token_policies: ['default', 'reader'],
      metadata: { app: 'x' },
      lease_duration: 3600,
      renewable: true,
      token_type: 'service',
      orphan: false,
      entity_id: '',
    });
    const self = await call(server, 'GET', 'auth/token/lookup-self', { token: auth.client_token });
    expect(self.status).toBe(200);
    expect(self.body.data).toMatchObject({
      id: auth.client_token,
      accessor: auth.accessor,
      display_name: 'token-my-app',
      path: 'auth/token/create',
      policies: ['default', 'reader'],
      meta: { app: 'x' },
      num_uses: 4,
      orphan: false,
      creation_ttl: 3600,
      explicit_max_ttl: 0,
      renewable: true,
      type: 'service',
    });
    expect(self.body.data.ttl).toBeGreaterThan(3590);
    expect(typeof self.body.data.creation_time).toBe('number');
    expect(self.body.data.expire_time).toMatch(/^\d{4}-\d\d-\d\dT/);
    const byAccessor = await call(server, 'POST', 'auth/token/lookup-accessor', {
      body: { accessor: auth.accessor },
    });
    expect(byAccessor.body.data.id).toBe('');
    expect(byAccessor.body.data.accessor).toBe(auth.accessor);
    const lookup = await call(server, 'POST', 'auth/token/lookup', { body: { token: auth.client_token } });
    expect(lookup.body.data.id).toBe(auth.client_token);
  });

  it('root lookup-self has no expiry', async () => {
    const self = await call(server, 'GET', 'auth/token/lookup-self');
    expect(self.body.data).toMatchObject({
      policies: ['root'],
      ttl: 0,
      expire_time: null,
      display_name: 'root',
    });
  });

  it('enforces policy subsets and orphan privileges for non-root parents', async () => {
    const parent = await create({ policies: ['reader'] });
    // The default policy does not grant auth/token/create.
    const denied = await call(server, 'POST', 'auth/token/create', { token: parent.client_token, body: {} });
    expect(denied.status).toBe(403);
    expect(denied.body.errors).toEqual(['1 error occurred:\n\t* permission denied\n\n']);
    server.writePolicy('creator', 'path "auth/token/create*" { capabilities = ["update"] }');
    const creator = await create({ policies: ['reader', 'creator'] });
    const bad = await call(server, 'POST', 'auth/token/create', {
      token: creator.client_token,
      body: { policies: ['other'] },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.errors).toEqual(['child policies must be subset of parent']);
    const orphan = await call(server, 'POST', 'auth/token/create', {
      token: creator.client_token,
      body: { no_parent: true },
    });
    expect(orphan.status).toBe(400);
    expect(orphan.body.errors[0]).toContain('root or sudo privileges required to create orphan token');
    const viaOrphanPath = await call(server, 'POST', 'auth/token/create-orphan', {
      token: creator.client_token,
      body: {},
    });
    expect(viaOrphanPath.status).toBe(200);
    expect(viaOrphanPath.body.auth.orphan).toBe(true);
    const child = await call(server, 'POST', 'auth/token/create', {
      token: creator.client_token,
      body: { policies: ['reader'] },
    });
    expect(child.status).toBe(200);
    expect(child.body.auth.policies).toEqual(['default', 'reader']);
  });

  it('no_default_policy, explicit_max_ttl capping and batch tokens', async () => {
    const nd = await create({ policies: ['reader'], no_default_policy: true });
    expect(nd.policies).toEqual(['reader']);
    const capped = await call(server, 'POST', 'auth/token/create', {
      body: { ttl: '2h', explicit_max_ttl: '1h' },
    });
    expect(capped.body.auth.lease_duration).toBe(3600);
    expect(capped.body.warnings).toEqual([
      'TTL of "2h" exceeded the effective max_ttl of "1h"; TTL value is capped accordingly',
    ]);
    const batch = await call(server, 'POST', 'auth/token/create', {
      body: { type: 'batch', policies: ['reader'], ttl: 60 },
    });
    expect(batch.body.auth.client_token).toMatch(/^hvb\./);
    expect(batch.body.auth).toMatchObject({ token_type: 'batch', renewable: false, accessor: '' });
    const renew = await call(server, 'POST', 'auth/token/renew-self', {
      token: batch.body.auth.client_token,
      body: {},
    });
    expect(renew.status).toBe(400);
    expect(renew.body.errors).toEqual(['batch tokens cannot be renewed']);
  });

  it('renews with CalculateTTL: now + increment, capped at issue + max with the exact warning', async () => {
    const t = await create({ policies: ['reader'], ttl: 60, explicit_max_ttl: 100 });
    const r1 = await call(server, 'POST', 'auth/token/renew-self', {
      token: t.client_token,
      body: { increment: '30s' },
    });
    expect(r1.status).toBe(200);
    expect(r1.body.auth).toMatchObject({ client_token: t.client_token, lease_duration: 30, renewable: true });
    expect(r1.body.warnings).toBeNull();
    const r2 = await call(server, 'POST', 'auth/token/renew-self', {
      token: t.client_token,
      body: { increment: 3600 },
    });
    expect(r2.body.auth.lease_duration).toBeGreaterThanOrEqual(85);
    expect(r2.body.auth.lease_duration).toBeLessThanOrEqual(100);
    expect(r2.body.warnings[0]).toMatch(
      /^TTL of "1h" exceeded the effective max_ttl of "1m[2-4]\ds"; TTL value is capped accordingly$/,
    );
    const byAccessor = await call(server, 'POST', 'auth/token/renew-accessor', {
      body: { accessor: t.accessor, increment: 10 },
    });
    expect(byAccessor.body.auth.client_token).toBe('');
    expect(byAccessor.body.auth.lease_duration).toBe(10);
    const byValue = await call(server, 'POST', 'auth/token/renew', { body: { token: t.client_token } });
    expect(byValue.body.auth.lease_duration).toBe(10);
    const missing = await call(server, 'POST', 'auth/token/renew', { body: { token: 'hvs.unknown' } });
    expect(missing.body.errors).toEqual(['token not found']);
  });

  it('refuses to renew non-renewable and root tokens; past the max TTL', async () => {
    const t = await create({ ttl: 60, renewable: false });
    const r = await call(server, 'POST', 'auth/token/renew-self', { token: t.client_token, body: {} });
    expect(r.status).toBe(400);
    expect(r.body.errors).toEqual(['lease is not renewable']);
    const root = await call(server, 'POST', 'auth/token/renew-self', { body: {} });
    expect(root.body.errors).toEqual(['lease is not renewable']);
    const short = await create({ ttl: 5, explicit_max_ttl: 1 });
    await clock.advance(999);
    const alive = await call(server, 'POST', 'auth/token/lookup-accessor', {
      body: { accessor: short.accessor },
    });
    expect(alive.status).toBe(200);
    await clock.advance(1);
    const past = await call(server, 'POST', 'auth/token/renew-accessor', {
      body: { accessor: short.accessor },
    });
    expect(past.status).toBe(400);
  });

  it('periodic tokens reset to the period', async () => {
    const t = await call(server, 'POST', 'auth/token/create', { body: { period: '10m', ttl: '1m' } });
    expect(t.body.auth.lease_duration).toBe(600);
    const r = await call(server, 'POST', 'auth/token/renew-self', {
      token: t.body.auth.client_token,
      body: { increment: 30 },
    });
    expect(r.body.auth.lease_duration).toBe(600);
  });

  it('expires tokens on time', async () => {
    const t = await create({ ttl: 1 });
    const issued = clock.now();
    const before = await call(server, 'GET', 'auth/token/lookup-self', { token: t.client_token });
    expect(before.body.data.expire_time).toBe(new Date(issued + 1000).toISOString());
    await clock.advance(999);
    expect((await call(server, 'GET', 'auth/token/lookup-self', { token: t.client_token })).status).toBe(200);
    await clock.advance(1);
    const res = await call(server, 'GET', 'auth/token/lookup-self', { token: t.client_token });
    expect(res.status).toBe(403);
    expect(res.body.errors.join()).toContain('invalid token');
  });

  it('revokes a token after num_uses', async () => {
    const t = await create({ num_uses: 2 });
    expect(
      (await call(server, 'GET', 'auth/token/lookup-self', { token: t.client_token })).body.data.num_uses,
    ).toBe(1);
    expect((await call(server, 'GET', 'auth/token/lookup-self', { token: t.client_token })).status).toBe(200);
    const third = await call(server, 'GET', 'auth/token/lookup-self', { token: t.client_token });
    expect(third.status).toBe(403);
  });

  it('revokes children with the parent; revoke-orphan keeps them', async () => {
    const parent = await create({});
    const child = await create({}, parent.client_token);
    const grandchild = await create({}, child.client_token);
    const rev = await call(server, 'POST', 'auth/token/revoke-self', { token: parent.client_token });
    expect(rev.status).toBe(204);
    for (const t of [parent, child, grandchild]) {
      expect((await call(server, 'GET', 'auth/token/lookup-self', { token: t.client_token })).status).toBe(
        403,
      );
    }
    const p2 = await create({});
    const c2 = await create({}, p2.client_token);
    expect(
      (await call(server, 'POST', 'auth/token/revoke-orphan', { body: { token: p2.client_token } })).status,
    ).toBe(204);
    const still = await call(server, 'GET', 'auth/token/lookup-self', { token: c2.client_token });
    expect(still.status).toBe(200);
    expect(still.body.data.orphan).toBe(true);
    expect(
      (await call(server, 'POST', 'auth/token/revoke-accessor', { body: { accessor: c2.accessor } })).status,
    ).toBe(204);
    expect((await call(server, 'GET', 'auth/token/lookup-self', { token: c2.client_token })).status).toBe(
      403,
    );
    const p3 = await create({});
    expect(
      (await call(server, 'POST', 'auth/token/revoke', { body: { token: p3.client_token } })).status,
    ).toBe(204);
    expect((await call(server, 'GET', 'auth/token/lookup-self', { token: p3.client_token })).status).toBe(
      403,
    );
  });

  it('token roles: create/:role applies the role', async () => {
    expect(
      (
        await call(server, 'POST', 'auth/token/roles/app', {
          body: { allowed_policies: ['reader'], orphan: true, token_period: 300 },
        })
      ).status,
    ).toBe(204);
    const role = await call(server, 'GET', 'auth/token/roles/app');
    expect(role.body.data).toMatchObject({ allowed_policies: ['reader'], orphan: true, token_period: 300 });
    const t = await call(server, 'POST', 'auth/token/create/app', { body: {} });
    expect(t.body.auth).toMatchObject({ orphan: true, lease_duration: 300, policies: ['default', 'reader'] });
    const bad = await call(server, 'POST', 'auth/token/create/app', { body: { policies: ['other'] } });
    expect(bad.status).toBe(400);
    const list = await call(server, 'LIST', 'auth/token/roles');
    expect(list.body.data.keys).toEqual(['app']);
  });
});

describe('tokens from auth backends', () => {
  it('logs in through an unauthenticated path and renews via renewAuth', async () => {
    const bad = await call(server, 'POST', 'auth/test/login', { token: null, body: { password: 'nope' } });
    expect(bad.status).toBe(400);
    expect(bad.body.errors).toEqual(['invalid username or password']);
    const login = await call(server, 'POST', 'auth/test/login', {
      token: null,
      body: { password: 'open-sesame', ttl: 60, max_ttl: 120 },
    });
    expect(login.status).toBe(200);
    expect(login.body.auth).toMatchObject({
      policies: ['default', 'reader'],
      metadata: { user: 'alice' },
      lease_duration: 60,
      renewable: true,
      orphan: true,
      token_type: 'service',
    });
    const token = login.body.auth.client_token;
    const self = await call(server, 'GET', 'auth/token/lookup-self', { token });
    expect(self.body.data).toMatchObject({ path: 'auth/test/login', display_name: 'test-alice' });
    state.roleMaxTtl = 30;
    const renew = await call(server, 'POST', 'auth/token/renew-self', { token, body: { increment: 100 } });
    expect(renew.status).toBe(200);
    expect(state.renewAuth.at(-1)?.internal).toEqual({ role: 'alice' });
    expect(renew.body.auth.lease_duration).toBeLessThanOrEqual(30);
    expect(renew.body.warnings[0]).toContain('exceeded the effective max_ttl');
    state.roleMaxTtl = -1;
    const denied = await call(server, 'POST', 'auth/token/renew-self', { token, body: {} });
    expect(denied.status).toBe(400);
    expect(denied.body.errors).toEqual(['role deleted']);
    state.roleMaxTtl = undefined;
  });

  it('disabling the auth mount revokes its tokens', async () => {
    await server.enableAuth('test2', 'test');
    const login = await call(server, 'POST', 'auth/test2/login', {
      token: null,
      body: { password: 'open-sesame' },
    });
    const token = login.body.auth.client_token;
    expect((await call(server, 'DELETE', 'sys/auth/test2')).status).toBe(204);
    expect((await call(server, 'GET', 'auth/token/lookup-self', { token })).status).toBe(403);
  });

  it('enforces bound CIDRs of auth-method tokens', async () => {
    const outside = await call(server, 'POST', 'auth/test/login', {
      token: null,
      body: { password: 'open-sesame', bound_cidrs: '10.0.0.0/8' },
    });
    const denied = await call(server, 'GET', 'auth/token/lookup-self', {
      token: outside.body.auth.client_token,
    });
    expect(denied.status).toBe(403);
    expect(denied.body.errors).toEqual(['permission denied']);
    const inside = await call(server, 'POST', 'auth/test/login', {
      token: null,
      body: { password: 'open-sesame', bound_cidrs: '127.0.0.0/8,::1/128' },
    });
    expect(
      (await call(server, 'GET', 'auth/token/lookup-self', { token: inside.body.auth.client_token })).status,
    ).toBe(200);
  });
});

describe('cubbyhole', () => {
  it('is private per token and dies with the token', async () => {
    const a = await create({ policies: ['default'] });
    const b = await create({ policies: ['default'] });
    expect(
      (await call(server, 'POST', 'cubbyhole/note', { token: a.client_token, body: { v: 'mine' } })).status,
    ).toBe(204);
    expect((await call(server, 'GET', 'cubbyhole/note', { token: a.client_token })).body.data).toEqual({
      v: 'mine',
    });
    expect((await call(server, 'GET', 'cubbyhole/note', { token: b.client_token })).status).toBe(404);
    expect((await call(server, 'LIST', 'cubbyhole/', { token: a.client_token })).body.data.keys).toEqual([
      'note',
    ]);
  });
});
