import { beforeEach, describe, expect, it } from 'vitest';
import { createAppRoleBackend, INVALID_CREDENTIALS } from '../../src/backends/auth/approle.js';
import type { Backend } from '../../src/sdk/index.js';
import { call, expectError, makeContext, request, type TestClock, tokenFromLogin } from './harness.js';

describe('approle backend (handle level)', () => {
  let backend: Backend;
  let clock: TestClock;

  beforeEach(() => {
    const made = makeContext('auth/approle/');
    clock = made.clock;
    backend = createAppRoleBackend(made.context);
  });

  const roleId = async (name: string): Promise<string> =>
    String((await call(backend, 'read', `role/${name}/role-id`)).data?.role_id);
  const secretId = async (name: string, data: Record<string, unknown> = {}) =>
    (await call(backend, 'update', `role/${name}/secret-id`, data)).data as {
      secret_id: string;
      secret_id_accessor: string;
      secret_id_ttl: number;
      secret_id_num_uses: number;
    };

  it('role CRUD: write with duration strings, read back in seconds, list, delete', async () => {
    expect(
      await backend.handle(
        request('create', 'role/app', {
          token_policies: 'app,Shared',
          token_ttl: '20m',
          token_max_ttl: 3600,
          secret_id_ttl: '10m',
          secret_id_num_uses: '3',
          token_type: 'service',
        }),
      ),
    ).toBeNull();
    const read = await call(backend, 'read', 'role/app');
    expect(read.data).toMatchObject({
      bind_secret_id: true,
      token_policies: ['app', 'shared'],
      policies: ['app', 'shared'],
      token_ttl: 1200,
      token_max_ttl: 3600,
      secret_id_ttl: 600,
      secret_id_num_uses: 3,
      token_type: 'service',
      token_num_uses: 0,
      token_period: 0,
      period: 0,
      secret_id_bound_cidrs: [],
      token_bound_cidrs: [],
    });
    expect(await backend.handle(request('update', 'role/app', { token_ttl: 60 }))).toBeNull();
    expect((await call(backend, 'read', 'role/app')).data).toMatchObject({
      token_ttl: 60,
      token_max_ttl: 3600,
    });
    await backend.handle(request('update', 'role/other', { token_policies: ['x'] }));
    expect((await call(backend, 'list', 'role/')).data).toEqual({ keys: ['app', 'other'] });
    expect(await backend.exists?.(request('update', 'role/app'))).toBe(true);
    expect(await backend.handle(request('delete', 'role/app'))).toBeNull();
    expect(await backend.handle(request('read', 'role/app'))).toBeNull();
    expect(await backend.exists?.(request('update', 'role/app'))).toBe(false);
  });

  it('validates role fields', async () => {
    await expectError(
      backend.handle(request('update', 'role/a', { token_ttl: '2h', token_max_ttl: '1h' })),
      400,
      '"token_ttl" should not be greater than "token_max_ttl"',
    );
    await expectError(
      backend.handle(request('update', 'role/a', { token_ttl: 'soon' })),
      400,
      /invalid duration/,
    );
    await expectError(
      backend.handle(request('update', 'role/a', { bind_secret_id: false })),
      400,
      'at least one constraint should be enabled on the role',
    );
    await expectError(
      backend.handle(request('update', 'role/a', { secret_id_bound_cidrs: ['10.0.0.0/33'] })),
      400,
      /invalid CIDR block/,
    );
    await expectError(
      backend.handle(request('update', 'role/a', { token_type: 'weird' })),
      400,
      /token_type/,
    );
    await expectError(backend.handle(request('read', 'nothing/here')), 404, 'unsupported path');
    await expectError(backend.handle(request('delete', 'role/')), 405, 'unsupported operation');
  });

  it("single-field role endpoints (Vault's role/:role/token-ttl, policies, …): read, update, delete", async () => {
    await backend.handle(
      request('update', 'role/app', { token_policies: ['a'], token_ttl: 60, secret_id_num_uses: 3 }),
    );
    expect((await call(backend, 'read', 'role/app/token-ttl')).data).toEqual({ token_ttl: 60 });
    expect(await backend.handle(request('update', 'role/app/token-ttl', { token_ttl: '5m' }))).toBeNull();
    expect((await call(backend, 'read', 'role/app/token-ttl')).data).toEqual({ token_ttl: 300 });
    expect((await call(backend, 'read', 'role/app/policies')).data).toEqual({
      token_policies: ['a'],
      policies: ['a'],
    });
    await backend.handle(request('update', 'role/app/policies', { policies: 'b,c' }));
    expect((await call(backend, 'read', 'role/app')).data?.token_policies).toEqual(['b', 'c']);
    await backend.handle(request('delete', 'role/app/secret-id-num-uses'));
    expect((await call(backend, 'read', 'role/app/secret-id-num-uses')).data).toEqual({
      secret_id_num_uses: 0,
    });
    await backend.handle(request('update', 'role/app/period', { period: '1h' }));
    expect((await call(backend, 'read', 'role/app/period')).data).toEqual({
      token_period: 3600,
      period: 3600,
    });
    expect((await call(backend, 'read', 'role/app/local-secret-ids')).data).toEqual({
      local_secret_ids: false,
    });
    await expectError(backend.handle(request('update', 'role/app/token-ttl', {})), 400, 'missing token_ttl');
    await expectError(
      backend.handle(request('update', 'role/app/bind-secret-id', { bind_secret_id: false })),
      400,
      'at least one constraint should be enabled on the role',
    );
    expect(await backend.handle(request('read', 'role/nope/token-ttl'))).toBeNull();
    await expectError(
      backend.handle(request('update', 'role/nope/token-ttl', { token_ttl: 1 })),
      404,
      'role "nope" does not exist',
    );
  });

  it('role-id read/write; ids are unique across roles; unknown role → null (404)', async () => {
    expect(await backend.handle(request('update', 'role/a', {}))).toBeNull();
    expect(await backend.handle(request('update', 'role/b', { role_id: 'fixed-b' }))).toBeNull();
    expect(await roleId('b')).toBe('fixed-b');
    expect(await roleId('a')).toMatch(/^[0-9a-f-]{36}$/);
    expect(await backend.handle(request('update', 'role/a/role-id', { role_id: 'custom-a' }))).toBeNull();
    expect(await roleId('a')).toBe('custom-a');
    await expectError(
      backend.handle(request('update', 'role/a/role-id', { role_id: 'fixed-b' })),
      400,
      'role_id already in use',
    );
    await expectError(backend.handle(request('update', 'role/a/role-id', {})), 400, 'missing role_id');
    expect(await backend.handle(request('read', 'role/missing/role-id'))).toBeNull();
  });

  it('login returns the auth spec (policies, ttl, metadata incl. secret-id metadata, approle display name)', async () => {
    await backend.handle(
      request('update', 'role/app', { token_policies: ['app'], token_ttl: '20m', token_max_ttl: '1h' }),
    );
    const secret = await secretId('app', { metadata: JSON.stringify({ team: 'payments' }) });
    expect(secret.secret_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(secret.secret_id_accessor).toMatch(/^[0-9a-f-]{36}$/);
    const login = await call(backend, 'update', 'login', {
      role_id: await roleId('app'),
      secret_id: secret.secret_id,
    });
    expect(login.auth).toMatchObject({
      policies: ['app'],
      ttl: 1200,
      maxTtl: 3600,
      renewable: true,
      displayName: 'approle',
      metadata: { role_name: 'app', team: 'payments' },
      tokenType: 'service',
      noDefaultPolicy: false,
    });
    expect(JSON.stringify(login.auth)).not.toContain(secret.secret_id);
  });

  it('login errors use the documented texts and never echo the secret ID', async () => {
    await backend.handle(request('update', 'role/app', { token_policies: ['app'] }));
    const id = await roleId('app');
    const secret = await secretId('app');
    await expectError(backend.handle(request('update', 'login', {})), 400, 'missing role_id');
    await expectError(backend.handle(request('update', 'login', { role_id: id })), 400, 'missing secret_id');
    await expectError(
      backend.handle(request('update', 'login', { role_id: 'nope', secret_id: secret.secret_id })),
      400,
      INVALID_CREDENTIALS,
      [secret.secret_id],
    );
    const wrong = 'wrong-secret-id-value-123';
    await expectError(
      backend.handle(request('update', 'login', { role_id: id, secret_id: wrong })),
      400,
      INVALID_CREDENTIALS,
      [wrong],
    );
  });

  it('secret-id num_uses: login works N times, then the secret ID is gone', async () => {
    await backend.handle(request('update', 'role/app', { token_policies: ['app'], secret_id_num_uses: 2 }));
    const id = await roleId('app');
    const secret = await secretId('app');
    expect(secret.secret_id_num_uses).toBe(2);
    await call(backend, 'update', 'login', { role_id: id, secret_id: secret.secret_id });
    const lookup = await call(backend, 'update', 'role/app/secret-id/lookup', {
      secret_id: secret.secret_id,
    });
    expect(lookup.data?.secret_id_num_uses).toBe(1);
    await call(backend, 'update', 'login', { role_id: id, secret_id: secret.secret_id });
    await expectError(
      backend.handle(request('update', 'login', { role_id: id, secret_id: secret.secret_id })),
      400,
      INVALID_CREDENTIALS,
      [secret.secret_id],
    );
    expect(
      await backend.handle(request('update', 'role/app/secret-id/lookup', { secret_id: secret.secret_id })),
    ).toBeNull();
    expect(await backend.handle(request('list', 'role/app/secret-id/'))).toBeNull();
  });

  it('secret-id num_uses / ttl requested on generation are bounded by the role', async () => {
    await backend.handle(
      request('update', 'role/app', { token_policies: ['app'], secret_id_num_uses: 5, secret_id_ttl: 600 }),
    );
    await expectError(
      backend.handle(request('update', 'role/app/secret-id', { num_uses: -1 })),
      400,
      'num_uses cannot be negative',
    );
    await expectError(
      backend.handle(request('update', 'role/app/secret-id', { num_uses: 6 })),
      400,
      "num_uses cannot be higher than the role's secret_id_num_uses",
    );
    await expectError(
      backend.handle(request('update', 'role/app/secret-id', { ttl: '11m' })),
      400,
      "ttl cannot be longer than the role's secret_id_ttl",
    );
    await expectError(
      backend.handle(request('update', 'role/app/secret-id', { metadata: '{not json' })),
      400,
      /^failed to parse metadata: /,
    );
    const secret = await secretId('app', { num_uses: 1, ttl: '5m' });
    expect(secret).toMatchObject({ secret_id_num_uses: 1, secret_id_ttl: 300 });
    await expectError(
      backend.handle(request('update', 'role/missing/secret-id')),
      404,
      'role "missing" does not exist',
    );
    await backend.handle(
      request('update', 'role/nobind', { bind_secret_id: false, token_bound_cidrs: ['127.0.0.1/32'] }),
    );
    await expectError(
      backend.handle(request('update', 'role/nobind/secret-id')),
      400,
      'bind_secret_id is not set on the role',
    );
  });

  it('secret_id_ttl expiry: login fails after the TTL and the secret ID disappears', async () => {
    await backend.handle(request('update', 'role/app', { token_policies: ['app'], secret_id_ttl: '30s' }));
    const id = await roleId('app');
    const secret = await secretId('app');
    const lookup = await call(backend, 'update', 'role/app/secret-id/lookup', {
      secret_id: secret.secret_id,
    });
    expect(lookup.data?.secret_id_ttl).toBe(30);
    expect(
      Date.parse(String(lookup.data?.expiration_time)) - Date.parse(String(lookup.data?.creation_time)),
    ).toBe(30_000);
    clock.advance(29);
    await call(backend, 'update', 'login', { role_id: id, secret_id: secret.secret_id });
    clock.advance(2);
    await expectError(
      backend.handle(request('update', 'login', { role_id: id, secret_id: secret.secret_id })),
      400,
      INVALID_CREDENTIALS,
      [secret.secret_id],
    );
    expect(await backend.handle(request('list', 'role/app/secret-id/'))).toBeNull();
  });

  it('CIDR restrictions: secret-id cidr_list and role secret_id_bound_cidrs are checked against remoteAddress', async () => {
    await backend.handle(
      request('update', 'role/app', {
        token_policies: ['app'],
        secret_id_bound_cidrs: '10.0.0.0/8,127.0.0.0/8',
      }),
    );
    const id = await roleId('app');
    await expectError(
      backend.handle(request('update', 'role/app/secret-id', { cidr_list: ['192.168.0.0/16'] })),
      400,
      /cidr_list is not a subset/,
    );
    const secret = await secretId('app', { cidr_list: ['10.1.0.0/16'] });
    const lookup = await call(backend, 'update', 'role/app/secret-id/lookup', {
      secret_id: secret.secret_id,
    });
    expect(lookup.data?.cidr_list).toEqual(['10.1.0.0/16']);
    await expectError(
      backend.handle(
        request(
          'update',
          'login',
          { role_id: id, secret_id: secret.secret_id },
          { remoteAddress: '127.0.0.1' },
        ),
      ),
      400,
      'source address "127.0.0.1" unauthorized through CIDR restrictions on the secret ID',
      [secret.secret_id],
    );
    await call(
      backend,
      'update',
      'login',
      { role_id: id, secret_id: secret.secret_id },
      { remoteAddress: '10.1.2.3' },
    );
    const open = await secretId('app');
    await expectError(
      backend.handle(
        request(
          'update',
          'login',
          { role_id: id, secret_id: open.secret_id },
          { remoteAddress: '192.168.1.1' },
        ),
      ),
      400,
      'source address "192.168.1.1" unauthorized by CIDR restrictions on the role',
      [open.secret_id],
    );
    // IPv4-mapped IPv6 addresses (what node reports on dual-stack sockets) match IPv4 blocks.
    await call(
      backend,
      'update',
      'login',
      { role_id: id, secret_id: open.secret_id },
      { remoteAddress: '::ffff:127.0.0.1' },
    );
  });

  it('secret-id token_bound_cidrs override the role and reach the auth spec', async () => {
    await backend.handle(
      request('update', 'role/app', { token_policies: ['app'], token_bound_cidrs: ['10.0.0.0/8'] }),
    );
    const secret = await secretId('app', { token_bound_cidrs: '10.2.0.0/16' });
    const login = await call(backend, 'update', 'login', {
      role_id: await roleId('app'),
      secret_id: secret.secret_id,
    });
    expect(login.auth?.boundCidrs).toEqual(['10.2.0.0/16']);
    await expectError(
      backend.handle(request('update', 'role/app/secret-id', { token_bound_cidrs: '192.168.0.0/16' })),
      400,
      /token_bound_cidrs is not a subset/,
    );
  });

  it('custom-secret-id, LIST accessors, accessor lookup/destroy, destroy by value', async () => {
    await backend.handle(request('update', 'role/app', { token_policies: ['app'] }));
    const id = await roleId('app');
    const custom = await call(backend, 'update', 'role/app/custom-secret-id', {
      secret_id: 'my-custom-secret-0001',
      metadata: '{"env":"test"}',
    });
    expect(custom.data?.secret_id).toBe('my-custom-secret-0001');
    await expectError(
      backend.handle(request('update', 'role/app/custom-secret-id', { secret_id: 'my-custom-secret-0001' })),
      400,
      'secret_id is already registered',
      ['my-custom-secret-0001'],
    );
    const generated = await secretId('app');
    const list = await call(backend, 'list', 'role/app/secret-id/');
    expect([...((list.data?.keys ?? []) as string[])].sort()).toEqual(
      [String(custom.data?.secret_id_accessor), generated.secret_id_accessor].sort(),
    );
    const byAccessor = await call(backend, 'update', 'role/app/secret-id-accessor/lookup', {
      secret_id_accessor: custom.data?.secret_id_accessor,
    });
    expect(byAccessor.data).toMatchObject({
      metadata: { env: 'test' },
      secret_id_accessor: custom.data?.secret_id_accessor,
      secret_id_num_uses: 0,
      secret_id_ttl: 0,
      expiration_time: '0001-01-01T00:00:00Z',
    });
    expect(JSON.stringify(byAccessor.data)).not.toContain('my-custom-secret-0001');
    const login = await call(backend, 'update', 'login', { role_id: id, secret_id: 'my-custom-secret-0001' });
    expect(login.auth?.metadata).toEqual({ role_name: 'app', env: 'test' });

    expect(
      await backend.handle(
        request('update', 'role/app/secret-id-accessor/destroy', {
          secret_id_accessor: custom.data?.secret_id_accessor,
        }),
      ),
    ).toBeNull();
    await expectError(
      backend.handle(request('update', 'login', { role_id: id, secret_id: 'my-custom-secret-0001' })),
      400,
      INVALID_CREDENTIALS,
      ['my-custom-secret-0001'],
    );
    await expectError(
      backend.handle(
        request('update', 'role/app/secret-id-accessor/lookup', {
          secret_id_accessor: custom.data?.secret_id_accessor,
        }),
      ),
      404,
      /failed to find accessor entry/,
    );
    expect(
      await backend.handle(
        request('delete', 'role/app/secret-id/destroy', { secret_id: generated.secret_id }),
      ),
    ).toBeNull();
    expect(await backend.handle(request('list', 'role/app/secret-id/'))).toBeNull();
  });

  it('bind_secret_id=false with CIDR constraint logs in with role_id only', async () => {
    await backend.handle(
      request('update', 'role/open', { bind_secret_id: false, secret_id_bound_cidrs: ['127.0.0.0/8'] }),
    );
    const login = await call(backend, 'update', 'login', { role_id: await roleId('open') });
    expect(login.auth?.metadata).toEqual({ role_name: 'open' });
  });

  it('renewAuth re-reads the role: current limits, and an error after the role is deleted', async () => {
    await backend.handle(
      request('update', 'role/app', { token_policies: ['app'], token_ttl: 60, token_max_ttl: 600 }),
    );
    const secret = await secretId('app');
    const login = await call(backend, 'update', 'login', {
      role_id: await roleId('app'),
      secret_id: secret.secret_id,
    });
    const token = tokenFromLogin(login, clock.now);
    expect(await backend.renewAuth?.(token)).toEqual({ ttl: 60, maxTtl: 600, period: 0 });
    await backend.handle(request('update', 'role/app', { token_max_ttl: 120 }));
    expect(await backend.renewAuth?.(token)).toEqual({ ttl: 60, maxTtl: 120, period: 0 });
    await backend.handle(request('update', 'role/app', { token_period: '5m', token_max_ttl: 0 }));
    expect(await backend.renewAuth?.(token)).toEqual({ ttl: 60, maxTtl: 0, period: 300 });
    await backend.handle(request('delete', 'role/app'));
    await expectError(
      backend.renewAuth?.(token) ?? Promise.resolve(),
      400,
      'role "app" does not exist during renewal',
    );
  });
});
