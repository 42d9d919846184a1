/**
 * Status codes and error texts of Vault 1.17, class by class, over HTTP. Sources:
 * https://github.com/hashicorp/vault/blob/main/vault/request_handling.go (permission denied forms),
 * https://github.com/hashicorp/vault/blob/main/vault/token_store.go (token lookup),
 * https://github.com/hashicorp/vault/blob/main/http/sys_seal.go, sys_init.go, sys_leader.go, sys_health.go.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevServer, formatVaultDuration, startDevServer } from '../src/index.js';
import { call } from './helpers.js';

let server: DevServer;

beforeAll(async () => {
  server = await startDevServer();
});

afterAll(async () => {
  await server.close();
});

const POLICY_DENIED = '1 error occurred:\n\t* permission denied\n\n';
const INVALID_TOKEN = '2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n';

describe('permission denied', () => {
  it('no token: plain text; unknown token: the invalid-token multierror; denied by policy: the one-error form', async () => {
    const none = await call(server, 'GET', 'secret/data/x', { token: null });
    expect(none.status).toBe(403);
    expect(none.body.errors).toEqual(['permission denied']);
    const unknown = await call(server, 'GET', 'secret/data/x', { token: 'hvs.nope' });
    expect(unknown.status).toBe(403);
    expect(unknown.body.errors).toEqual([INVALID_TOKEN]);
    const t = await call(server, 'POST', 'auth/token/create', { body: { policies: ['default'] } });
    for (const [method, path] of [
      ['GET', 'secret/data/x'],
      ['POST', 'sys/mounts/y'],
      ['LIST', 'auth/token/accessors'],
      ['PUT', 'sys/seal'],
    ] as const) {
      const denied = await call(server, method, path, {
        token: t.body.auth.client_token,
        ...(method === 'GET' ? {} : { body: {} }),
      });
      expect(denied.status).toBe(403);
      expect(denied.body.errors).toEqual([POLICY_DENIED]);
    }
    // A revoked token is an unknown one.
    await call(server, 'POST', 'auth/token/revoke', { body: { token: t.body.auth.client_token } });
    const revoked = await call(server, 'GET', 'secret/data/x', { token: t.body.auth.client_token });
    expect(revoked.body.errors).toEqual([INVALID_TOKEN]);
  });
});

describe('auth/token/lookup', () => {
  it('a bad token → 403; no token field → the caller’s own token', async () => {
    const bad = await call(server, 'POST', 'auth/token/lookup', { body: { token: 'hvs.missing' } });
    expect(bad.status).toBe(403);
    expect(bad.body.errors).toEqual(['permission denied']);
    const self = await call(server, 'POST', 'auth/token/lookup', { body: {} });
    expect(self.status).toBe(200);
    expect(self.body.data.id).toBe(server.rootToken);
    const viaGet = await call(server, 'GET', 'auth/token/lookup');
    expect(viaGet.body.data.id).toBe(server.rootToken);
  });
});

describe('durations in messages', () => {
  it('prints durations as Vault does: no trailing or inner zero units', () => {
    expect(formatVaultDuration(0)).toBe('0s');
    expect(formatVaultDuration(45)).toBe('45s');
    expect(formatVaultDuration(300)).toBe('5m');
    expect(formatVaultDuration(3660)).toBe('1h1m');
    expect(formatVaultDuration(3605)).toBe('1h5s');
    expect(formatVaultDuration(7199)).toBe('1h59m59s');
    expect(formatVaultDuration(10_800)).toBe('3h');
    expect(formatVaultDuration(2_764_800)).toBe('768h');
  });

  it('uses that form in TTL-capping warnings', async () => {
    await call(server, 'POST', 'sys/mounts/auth/token/tune', { body: { max_lease_ttl: '1h' } });
    const created = await call(server, 'POST', 'auth/token/create', { body: { ttl: '3h' } });
    expect(created.body.warnings).toEqual([
      'TTL of "3h" exceeded the effective max_ttl of "1h"; TTL value is capped accordingly',
    ]);
    await call(server, 'POST', 'sys/mounts/auth/token/tune', { body: { max_lease_ttl: 'system' } });
  });
});

describe('policies', () => {
  it('decodes a base64 policy as Vault does', async () => {
    const text = 'path "b64/*" { capabilities = ["read"] }';
    const put = await call(server, 'PUT', 'sys/policies/acl/b64', {
      body: { policy: Buffer.from(text).toString('base64') },
    });
    expect(put.status).toBe(204);
    expect((await call(server, 'GET', 'sys/policies/acl/b64')).body.data.policy).toBe(text);
  });
});

describe('unauthenticated sys endpoints', () => {
  it('sys/init: GET → initialized; PUT/POST → 400 already initialized (no token needed)', async () => {
    const get = await call(server, 'GET', 'sys/init', { token: null });
    expect(get.status).toBe(200);
    expect(get.body).toEqual({ initialized: true });
    for (const method of ['PUT', 'POST']) {
      const put = await call(server, method, 'sys/init', { token: null, body: { secret_shares: 1 } });
      expect(put.status).toBe(400);
      expect(put.body.errors).toEqual(['Vault is already initialized']);
    }
    expect((await call(server, 'DELETE', 'sys/init', { token: null })).status).toBe(405);
  });

  it('sys/leader, sys/health and sys/seal-status answer without a token, sealed too', async () => {
    const leader = await call(server, 'GET', 'sys/leader', { token: null });
    expect(leader.status).toBe(200);
    expect(leader.body).toMatchObject({ ha_enabled: false, is_self: false, leader_address: '' });
    expect((await call(server, 'GET', 'sys/health', { token: null })).status).toBe(200);
    expect((await call(server, 'GET', 'sys/seal-status', { token: null })).body.sealed).toBe(false);
    const post = await call(server, 'POST', 'sys/health', { token: null });
    expect(post.status).toBe(405);
    expect(post.body).toEqual({ errors: [] });

    await call(server, 'PUT', 'sys/seal');
    try {
      expect((await call(server, 'GET', 'sys/leader', { token: null })).status).toBe(200);
      expect((await call(server, 'GET', 'sys/health', { token: null })).status).toBe(503);
      expect((await call(server, 'GET', 'sys/seal-status', { token: null })).body.sealed).toBe(true);
      expect((await call(server, 'GET', 'sys/init', { token: null })).body).toEqual({ initialized: true });
    } finally {
      await call(server, 'PUT', 'sys/unseal', { token: null, body: { key: server.unsealKey } });
    }
  });

  it('sys/unseal {"reset": true} while unsealed → 400', async () => {
    const reset = await call(server, 'PUT', 'sys/unseal', { token: null, body: { reset: true } });
    expect(reset.status).toBe(400);
    expect(reset.body.errors).toEqual(['vault is unsealed']);
  });
});
