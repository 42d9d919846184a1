import { beforeEach, describe, expect, it } from 'vitest';
import {
  createUserpassBackend,
  hashPassword,
  INVALID_USER_OR_PASSWORD,
  verifyPassword,
} from '../../src/backends/auth/userpass.js';
import type { Backend } from '../../src/sdk/index.js';
import { call, expectError, makeContext, request, type TestClock, tokenFromLogin } from './harness.js';

const PASSWORD = 'correct horse battery staple';

describe('userpass backend (handle level)', () => {
  let backend: Backend;
  let clock: TestClock;

  beforeEach(() => {
    const made = makeContext('auth/userpass/');
    clock = made.clock;
    backend = createUserpassBackend(made.context);
  });

  it('password hashes are scrypt, salted, and verify only the right password', async () => {
    const a = await hashPassword(PASSWORD);
    const b = await hashPassword(PASSWORD);
    expect(a).toMatch(/^scrypt\$16384\$8\$1\$/);
    expect(a).not.toBe(b);
    expect(a).not.toContain(PASSWORD);
    expect(await verifyPassword(PASSWORD, a)).toBe(true);
    expect(await verifyPassword('wrong', a)).toBe(false);
    expect(await verifyPassword(PASSWORD, 'garbage')).toBe(false);
  });

  it('user CRUD: read returns token fields, never the password; list; delete', async () => {
    expect(
      await backend.handle(
        request('create', 'users/Alice', { password: PASSWORD, token_policies: 'dev', token_ttl: '1h' }),
      ),
    ).toBeNull();
    const read = await call(backend, 'read', 'users/alice');
    expect(read.data).toMatchObject({ token_policies: ['dev'], token_ttl: 3600, token_max_ttl: 0 });
    expect(JSON.stringify(read.data)).not.toContain(PASSWORD);
    expect(JSON.stringify(read.data)).not.toContain('scrypt');
    await backend.handle(request('create', 'users/bob', { password: 'bob-password', policies: ['legacy'] }));
    expect((await call(backend, 'read', 'users/bob')).data?.token_policies).toEqual(['legacy']);
    expect((await call(backend, 'list', 'users/')).data).toEqual({ keys: ['alice', 'bob'] });
    await backend.handle(request('delete', 'users/bob'));
    expect(await backend.handle(request('read', 'users/bob'))).toBeNull();
    await expectError(backend.handle(request('create', 'users/carol', {})), 400, 'missing password');
  });

  it('login: auth spec with policies, ttl, metadata and userpass-<name> display name', async () => {
    await backend.handle(
      request('create', 'users/alice', {
        password: PASSWORD,
        token_policies: ['dev'],
        token_ttl: 600,
        token_max_ttl: 1200,
      }),
    );
    const login = await call(backend, 'update', 'login/alice', { password: PASSWORD });
    expect(login.auth).toMatchObject({
      policies: ['dev'],
      ttl: 600,
      maxTtl: 1200,
      renewable: true,
      displayName: 'userpass-alice',
      metadata: { username: 'alice' },
      tokenType: 'service',
    });
  });

  it('wrong password and unknown user give the same 400 without echoing the password', async () => {
    await backend.handle(request('create', 'users/alice', { password: PASSWORD }));
    const wrong = 'not-the-password-xyz';
    await expectError(
      backend.handle(request('update', 'login/alice', { password: wrong })),
      400,
      INVALID_USER_OR_PASSWORD,
      [wrong],
    );
    await expectError(
      backend.handle(request('update', 'login/mallory', { password: PASSWORD })),
      400,
      INVALID_USER_OR_PASSWORD,
      [PASSWORD],
    );
    await expectError(backend.handle(request('update', 'login/alice', {})), 400, 'missing password');
  });

  it('password update endpoint replaces the password', async () => {
    await backend.handle(request('create', 'users/alice', { password: PASSWORD }));
    expect(
      await backend.handle(request('update', 'users/alice/password', { password: 'new-password-1' })),
    ).toBeNull();
    await expectError(
      backend.handle(request('update', 'login/alice', { password: PASSWORD })),
      400,
      INVALID_USER_OR_PASSWORD,
      [PASSWORD],
    );
    await call(backend, 'update', 'login/alice', { password: 'new-password-1' });
    await expectError(
      backend.handle(request('update', 'users/nobody/password', { password: 'x-password' })),
      400,
      'username does not exist',
      ['x-password'],
    );
    // Updating other fields keeps the password.
    await backend.handle(request('update', 'users/alice', { token_ttl: 30 }));
    await call(backend, 'update', 'login/alice', { password: 'new-password-1' });
  });

  it('token_bound_cidrs refuse logins from elsewhere with 403', async () => {
    await backend.handle(
      request('create', 'users/alice', { password: PASSWORD, token_bound_cidrs: ['10.0.0.0/8'] }),
    );
    await expectError(
      backend.handle(
        request('update', 'login/alice', { password: PASSWORD }, { remoteAddress: '127.0.0.1' }),
      ),
      403,
      'permission denied',
    );
    const login = await call(
      backend,
      'update',
      'login/alice',
      { password: PASSWORD },
      { remoteAddress: '10.9.9.9' },
    );
    expect(login.auth?.boundCidrs).toEqual(['10.0.0.0/8']);
  });

  it('renewAuth: current limits; changed policies or deleted user refuse renewal', async () => {
    await backend.handle(
      request('create', 'users/alice', { password: PASSWORD, token_policies: ['dev'], token_ttl: 60 }),
    );
    const token = tokenFromLogin(
      await call(backend, 'update', 'login/alice', { password: PASSWORD }),
      clock.now,
    );
    expect(await backend.renewAuth?.(token)).toEqual({ ttl: 60, maxTtl: 0, period: 0 });
    await backend.handle(request('update', 'users/alice/policies', { token_policies: ['ops'] }));
    await expectError(
      backend.renewAuth?.(token) ?? Promise.resolve(),
      400,
      'policies have changed, not renewing',
    );
    await backend.handle(request('delete', 'users/alice'));
    await expectError(backend.renewAuth?.(token) ?? Promise.resolve(), 400, 'user "alice" no longer exists');
  });
});
