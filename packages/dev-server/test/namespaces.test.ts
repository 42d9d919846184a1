/**
 * Namespaces over HTTP (Vault Enterprise / HCP / OpenBao semantics):
 * https://developer.hashicorp.com/vault/docs/enterprise/namespaces and
 * https://developer.hashicorp.com/vault/api-docs/system/namespaces
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevServer, startDevServer } from '../src/index.js';
import { newState, testEngine } from './fixtures.js';
import { type CallOptions, call } from './helpers.js';

const state = newState();
let server: DevServer;

/** A call inside a namespace, through the `X-Vault-Namespace` header. */
const inNs = (ns: string, method: string, path: string, options: CallOptions = {}) =>
  call(server, method, path, {
    ...options,
    headers: { ...(options.headers ?? {}), 'x-vault-namespace': ns },
  });

beforeAll(async () => {
  server = await startDevServer({ secretEngines: { test: testEngine(state) } });
});
afterAll(async () => {
  await server.close();
});

describe('sys/namespaces', () => {
  it('creates, reads, lists (with key_info), nests and deletes namespaces', async () => {
    const created = await call(server, 'POST', 'sys/namespaces/team', {
      body: { custom_metadata: { owner: 'a' } },
    });
    expect(created.status).toBe(200);
    expect(created.body.data).toEqual({
      id: expect.stringMatching(/^[A-Za-z0-9]{5}$/),
      path: 'team/',
      custom_metadata: { owner: 'a' },
    });
    const id = created.body.data.id as string;
    // Nested: from inside `team/`, and by full path from the root.
    const child = await inNs('team', 'PUT', 'sys/namespaces/app');
    expect(child.body.data.path).toBe('team/app/');
    expect((await call(server, 'PUT', 'sys/namespaces/team/web')).body.data.path).toBe('team/web/');
    expect((await call(server, 'GET', 'sys/namespaces/team')).body.data).toMatchObject({ id, path: 'team/' });
    // PATCH merges custom_metadata (null removes a key); writing it again replaces it and keeps the ID.
    const patched = await call(server, 'PATCH', 'sys/namespaces/team', {
      body: { custom_metadata: { owner: null, tier: 'gold' } },
      headers: { 'content-type': 'application/merge-patch+json' },
    });
    expect(patched.body.data.custom_metadata).toEqual({ tier: 'gold' });
    const rewritten = await call(server, 'POST', 'sys/namespaces/team', {
      body: { custom_metadata: { a: '1' } },
    });
    expect(rewritten.body.data).toEqual({ id, path: 'team/', custom_metadata: { a: '1' } });

    const list = await call(server, 'LIST', 'sys/namespaces');
    expect(list.body.data.keys).toContain('team/');
    expect(list.body.data.key_info['team/']).toMatchObject({ id, path: 'team/' });
    const inner = await inNs('team', 'LIST', 'sys/namespaces');
    expect(inner.body.data.keys).toEqual(['app/', 'web/']);
    expect(inner.body.data.key_info['app/'].path).toBe('team/app/');
    expect((await inNs('team/app', 'LIST', 'sys/namespaces')).status).toBe(404);

    // A namespace with children is not deleted (OpenBao's rule and text).
    const refused = await call(server, 'DELETE', 'sys/namespaces/team');
    expect(refused.status).toBe(400);
    expect(refused.body.errors).toEqual(['cannot delete namespace ("team/") containing child namespaces']);
    expect((await inNs('team', 'DELETE', 'sys/namespaces/app')).status).toBe(204);
    expect((await call(server, 'DELETE', 'sys/namespaces/team/web')).status).toBe(204);
    expect((await call(server, 'DELETE', 'sys/namespaces/team')).status).toBe(204);
    expect((await call(server, 'GET', 'sys/namespaces/team')).status).toBe(404);
  });

  it('refuses reserved or malformed names and a missing parent', async () => {
    const reserved = await call(server, 'POST', 'sys/namespaces/sys');
    expect(reserved.status).toBe(400);
    expect(reserved.body.errors).toEqual(['"sys" is not a valid namespace name']);
    expect((await call(server, 'POST', 'sys/namespaces/bad%20name')).status).toBe(400);
    const conflict = await call(server, 'POST', 'sys/namespaces/secret');
    expect(conflict.status).toBe(400);
    expect(conflict.body.errors).toEqual(['new namespace conflicts with existing mount: secret/']);
    const orphan = await call(server, 'POST', 'sys/namespaces/nowhere/child');
    expect(orphan.status).toBe(400);
    expect(orphan.body.errors).toEqual(['parent namespace does not exist: nowhere/']);
  });
});

describe('requests inside namespaces', () => {
  let nsA: string;
  beforeAll(async () => {
    nsA = (await call(server, 'POST', 'sys/namespaces/ns1')).body.data.id;
    await call(server, 'POST', 'sys/namespaces/ns1/child');
    await call(server, 'POST', 'sys/namespaces/ns2');
    expect((await inNs('ns1', 'POST', 'sys/mounts/kv', { body: { type: 'kv-v2' } })).status).toBe(204);
    expect(
      (await inNs('ns1', 'POST', 'kv/data/app', { body: { data: { password: 'ns1-secret' } } })).status,
    ).toBe(200);
  });

  it('a new namespace has its own default mounts: sys, token auth and cubbyhole, no secret/', async () => {
    const mounts = await inNs('ns2', 'GET', 'sys/mounts');
    expect(Object.keys(mounts.body.data).sort()).toEqual(['cubbyhole/', 'sys/']);
    const auth = await inNs('ns2', 'GET', 'sys/auth');
    expect(Object.keys(auth.body.data)).toEqual(['token/']);
    expect((await inNs('ns2', 'GET', 'secret/data/x')).status).toBe(404);
  });

  it('addresses a namespace by header, by path prefix, or both (nested)', async () => {
    const byHeader = await inNs('ns1', 'GET', 'kv/data/app');
    expect(byHeader.body.data.data).toEqual({ password: 'ns1-secret' });
    const byPrefix = await call(server, 'GET', 'ns1/kv/data/app');
    expect(byPrefix.body.data.data).toEqual({ password: 'ns1-secret' });
    expect((await inNs('/ns1/', 'GET', 'kv/data/app')).status).toBe(200);
    // The root namespace has no kv/ mount.
    expect((await call(server, 'GET', 'kv/data/app')).status).toBe(404);
    // Header + prefix: ns1 + child/ = ns1/child/.
    expect((await inNs('ns1', 'POST', 'child/sys/mounts/kv', { body: { type: 'kv-v2' } })).status).toBe(204);
    expect(
      (await call(server, 'POST', 'ns1/child/kv/data/deep', { body: { data: { level: 'child' } } })).status,
    ).toBe(200);
    expect((await inNs('ns1/child', 'GET', 'kv/data/deep')).body.data.data).toEqual({ level: 'child' });
    const unknown = await inNs('nope', 'GET', 'kv/data/app');
    expect(unknown.status).toBe(404);
    expect(unknown.body.errors).toEqual(['no handler for route "nope/kv/data/app". route entry not found.']);
  });

  it('keeps policies per namespace', async () => {
    expect(
      (
        await inNs('ns1', 'PUT', 'sys/policies/acl/reader', {
          body: {
            policy:
              'path "kv/data/*" { capabilities = ["read"] }\npath "child/kv/data/*" { capabilities = ["read"] }',
          },
        })
      ).status,
    ).toBe(204);
    expect((await inNs('ns1', 'LIST', 'sys/policies/acl')).body.data.keys).toEqual(['default', 'reader']);
    expect((await call(server, 'GET', 'sys/policies/acl/reader')).status).toBe(404);
  });

  it('a token works in its namespace and below it, never above or beside it', async () => {
    const created = await inNs('ns1', 'POST', 'auth/token/create', {
      body: { policies: ['reader'], ttl: '1h' },
    });
    expect(created.status).toBe(200);
    const token = created.body.auth.client_token as string;
    expect(token).toMatch(new RegExp(`^hvs\\.[A-Za-z0-9]{24}\\.${nsA}$`));
    expect(created.body.auth.accessor).toMatch(new RegExp(`\\.${nsA}$`));
    const self = await inNs('ns1', 'GET', 'auth/token/lookup-self', { token });
    expect(self.status).toBe(200);
    expect(self.body.data).toMatchObject({ namespace_path: 'ns1/', policies: ['default', 'reader'] });
    expect((await inNs('ns1', 'GET', 'kv/data/app', { token })).status).toBe(200);
    // Below: the child namespace accepts it, with ns1's policies read from ns1's view (`child/kv/...`).
    expect((await inNs('ns1/child', 'GET', 'kv/data/deep', { token })).body.data.data).toEqual({
      level: 'child',
    });
    expect((await inNs('ns1/child', 'GET', 'kv/metadata/deep', { token })).status).toBe(403);
    // Above and beside: refused.
    for (const refused of [
      await call(server, 'GET', 'auth/token/lookup-self', { token }),
      await inNs('ns2', 'GET', 'auth/token/lookup-self', { token }),
    ]) {
      expect(refused.status).toBe(403);
      expect(refused.body.errors).toEqual(['permission denied']);
    }
    // A root-namespace token reaches into ns1 with policies written relative to the root.
    server.writePolicy('ns1-kv', 'path "ns1/kv/data/*" { capabilities = ["read"] }');
    const parent = (await call(server, 'POST', 'auth/token/create', { body: { policies: ['ns1-kv'] } })).body
      .auth.client_token as string;
    expect((await call(server, 'GET', 'ns1/kv/data/app', { token: parent })).status).toBe(200);
    expect((await inNs('ns1', 'GET', 'kv/data/app', { token: parent })).status).toBe(200);
    expect((await inNs('ns1', 'GET', 'kv/metadata/app', { token: parent })).status).toBe(403);
    // Root-namespace lookup shows no namespace_path.
    expect(
      (await call(server, 'GET', 'auth/token/lookup-self', { token: parent })).body.data.namespace_path,
    ).toBe(undefined);
  });

  it('logs in with AppRole inside a namespace', async () => {
    expect((await inNs('ns1', 'POST', 'sys/auth/approle', { body: { type: 'approle' } })).status).toBe(204);
    await inNs('ns1', 'POST', 'auth/approle/role/app', {
      body: { token_policies: 'reader', token_ttl: '10m' },
    });
    const roleId = (await inNs('ns1', 'GET', 'auth/approle/role/app/role-id')).body.data.role_id;
    const secretId = (await inNs('ns1', 'POST', 'auth/approle/role/app/secret-id')).body.data.secret_id;
    // The root namespace has no approle mount: there the login path is not an unauthenticated one.
    expect(
      (
        await call(server, 'POST', 'auth/approle/login', {
          token: null,
          body: { role_id: roleId, secret_id: secretId },
        })
      ).status,
    ).toBe(403);
    const login = await call(server, 'POST', 'ns1/auth/approle/login', {
      token: null,
      body: { role_id: roleId, secret_id: secretId },
    });
    expect(login.status).toBe(200);
    const token = login.body.auth.client_token as string;
    expect(token.endsWith(`.${nsA}`)).toBe(true);
    expect(login.body.auth.policies).toEqual(['default', 'reader']);
    expect((await inNs('ns1', 'GET', 'kv/data/app', { token })).body.data.data).toEqual({
      password: 'ns1-secret',
    });
    expect(
      (await inNs('ns1', 'POST', 'auth/token/renew-self', { token, body: {} })).body.auth.lease_duration,
    ).toBe(600);
    expect((await call(server, 'GET', 'secret/data/anything', { token })).status).toBe(403);
  });

  it('keeps leases per namespace: IDs carry the namespace, prefix revocation and listing stay inside it', async () => {
    await server.mount('db', 'test');
    expect((await inNs('ns1', 'POST', 'sys/mounts/db', { body: { type: 'test' } })).status).toBe(204);
    const rootLease = (await call(server, 'GET', 'db/creds/app')).body.lease_id as string;
    const nsLease = (await inNs('ns1', 'GET', 'db/creds/app')).body.lease_id as string;
    expect(rootLease).toMatch(/^db\/creds\/app\/[A-Za-z0-9]{24}$/);
    expect(nsLease).toMatch(new RegExp(`^db/creds/app/[A-Za-z0-9]{24}\\.${nsA}$`));
    const nsList = await inNs('ns1', 'LIST', 'sys/leases/lookup/db/creds/app/');
    expect(nsList.body.data.keys).toEqual([nsLease.split('/').at(-1)]);
    const lookup = await inNs('ns1', 'PUT', 'sys/leases/lookup', { body: { lease_id: nsLease } });
    expect(lookup.body.data.id).toBe(nsLease);
    // Another namespace's lease does not exist here (lookup, renew) and revoking it there does nothing.
    const foreign = await call(server, 'PUT', 'sys/leases/lookup', { body: { lease_id: nsLease } });
    expect(foreign.status).toBe(400);
    expect(foreign.body.errors).toEqual(['invalid lease']);
    const foreignRenew = await inNs('ns2', 'PUT', 'sys/leases/renew', { body: { lease_id: nsLease } });
    expect(foreignRenew.body.errors).toEqual(['lease not found']);
    expect((await inNs('ns1', 'PUT', 'sys/leases/revoke', { body: { lease_id: rootLease } })).status).toBe(
      204,
    );
    expect(state.revoked.map((l) => l.leaseId)).not.toContain(rootLease);
    expect((await inNs('ns1', 'PUT', 'sys/leases/revoke-prefix/db/creds/app')).status).toBe(204);
    const revoked = state.revoked.map((l) => l.leaseId);
    expect(revoked).toContain(nsLease);
    expect(revoked).not.toContain(rootLease);
    expect((await call(server, 'PUT', 'sys/leases/lookup', { body: { lease_id: rootLease } })).status).toBe(
      200,
    );
  });

  it('deleting a namespace revokes its tokens and leases', async () => {
    await call(server, 'POST', 'sys/namespaces/gone');
    await inNs('gone', 'POST', 'sys/mounts/db', { body: { type: 'test' } });
    const token = (await inNs('gone', 'POST', 'auth/token/create', { body: {} })).body.auth
      .client_token as string;
    const lease = (await inNs('gone', 'GET', 'db/creds/x', { token })).body.lease_id as string;
    expect((await call(server, 'DELETE', 'sys/namespaces/gone')).status).toBe(204);
    expect(state.revoked.map((l) => l.leaseId)).toContain(lease);
    expect((await call(server, 'POST', 'auth/token/lookup', { body: { token } })).status).not.toBe(200);
  });

  it('lists irrevocable leases per namespace', async () => {
    const own = newState();
    const other = await startDevServer({
      secretEngines: { test: testEngine(own) },
      leaseRevocation: { maxAttempts: 1 },
    });
    try {
      const api = (method: string, path: string, ns?: string, body?: unknown) =>
        call(other, method, path, { body, headers: ns ? { 'x-vault-namespace': ns } : {} });
      await api('POST', 'sys/namespaces/ops');
      await api('POST', 'sys/mounts/db', 'ops', { type: 'test' });
      const lease = (await api('GET', 'db/creds/x', 'ops')).body.lease_id as string;
      own.failRevoke = true;
      expect((await api('PUT', 'sys/leases/revoke', 'ops', { lease_id: lease, sync: false })).status).toBe(
        202,
      );
      await new Promise<void>((resolve) => setImmediate(resolve));
      const inOps = await api('GET', 'sys/leases?type=irrevocable', 'ops');
      expect(inOps.body.data.leases.map((l: { lease_id: string }) => l.lease_id)).toEqual([lease]);
      const inRoot = await api('GET', 'sys/leases?type=irrevocable');
      expect(inRoot.body.data.lease_count).toBe(0);
    } finally {
      own.failRevoke = false;
      await other.close();
    }
  });
});
