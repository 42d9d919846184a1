import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Acl, parsePolicy } from '../src/core/policy.js';
import { type DevServer, LogicalError, startDevServer } from '../src/index.js';
import { call } from './helpers.js';

describe('policy parser', () => {
  it('parses HCL with comments, several blocks and the legacy shorthand', () => {
    const p = parsePolicy(
      'p',
      `# comment
      // another
      /* block
         comment */
      path "secret/data/*" {
        capabilities = ["read", "list",]
      }
      path "secret/data/admin" { capabilities = ["deny"] }
      path "legacy/*" { policy = "write" }
      path "kv/+/config" {
        capabilities = ["update"]
        allowed_parameters = { "ttl" = [] }
      }`,
    );
    expect(p.rules.map((r) => [r.pattern, [...r.capabilities].sort()])).toEqual([
      ['secret/data/*', ['list', 'read']],
      ['secret/data/admin', ['deny']],
      ['legacy/*', ['create', 'delete', 'list', 'patch', 'read', 'update']],
      ['kv/+/config', ['update']],
    ]);
  });

  it('parses JSON policies', () => {
    const p = parsePolicy('j', JSON.stringify({ path: { 'a/*': { capabilities: ['read'] } } }));
    expect(p.rules[0]?.pattern).toBe('a/*');
  });

  it('reports parse errors as 400 naming the problem', () => {
    expect(() => parsePolicy('x', 'path "a" { capabilities = ["fly"] }')).toThrow(/invalid capability "fly"/);
    expect(() => parsePolicy('x', 'path "a" { capabilities = ["read"]')).toThrow(LogicalError);
    try {
      parsePolicy('x', 'path "a {');
    } catch (error) {
      expect((error as LogicalError).status).toBe(400);
      expect((error as LogicalError).errors[0]).toMatch(/^failed to parse policy: /);
    }
  });
});

describe('ACL semantics', () => {
  const acl = new Acl([
    parsePolicy(
      'a',
      `path "secret/*" { capabilities = ["read"] }
       path "secret/data/team/*" { capabilities = ["read", "update"] }
       path "secret/data/team/locked" { capabilities = ["deny"] }
       path "kv/+/config" { capabilities = ["update"] }
       path "kv/+/config*" { capabilities = ["list"] }
       path "exact" { capabilities = ["create"] }`,
    ),
    parsePolicy(
      'b',
      'path "secret/*" { capabilities = ["list"] }\npath "other/*" { capabilities = ["deny"] }',
    ),
    parsePolicy('c', 'path "other/*" { capabilities = ["read"] }'),
  ]);

  it('prefix globs match, the most specific path wins', () => {
    expect(acl.allows('secret/foo', 'read')).toBe(true);
    expect(acl.allows('secret/foo', 'update')).toBe(false);
    expect(acl.allows('secret/data/team/x', 'update')).toBe(true);
    expect(acl.capabilities('secret/data/team/x')).toEqual(['read', 'update']);
  });

  it('merges the same path across policies; deny wins', () => {
    expect(acl.capabilities('secret/anything')).toEqual(['list', 'read']);
    expect(acl.allows('other/x', 'read')).toBe(false);
    expect(acl.allows('secret/data/team/locked', 'read')).toBe(false);
  });

  it('+ matches exactly one segment; exact paths match exactly', () => {
    expect(acl.allows('kv/a/config', 'update')).toBe(true);
    expect(acl.allows('kv/a/b/config', 'update')).toBe(false);
    expect(acl.allows('exact', 'create')).toBe(true);
    expect(acl.allows('exact/more', 'create')).toBe(false);
    expect(acl.allows('nothing', 'read')).toBe(false);
  });

  it('sudo must be granted explicitly; root allows everything', () => {
    const sudo = new Acl([parsePolicy('s', 'path "sys/seal" { capabilities = ["update", "sudo"] }')]);
    expect(sudo.allows('sys/seal', 'update', true)).toBe(true);
    expect(acl.allows('secret/x', 'read', true)).toBe(false);
    expect(new Acl([], true).allows('anything', 'delete', true)).toBe(true);
  });
});

describe('policy endpoints', () => {
  let server: DevServer;
  beforeAll(async () => {
    server = await startDevServer();
  });
  afterAll(async () => {
    await server.close();
  });

  it('writes, reads, lists and deletes ACL policies', async () => {
    const policy = 'path "secret/data/app/*" {\n  capabilities = ["read"]\n}\n';
    expect((await call(server, 'PUT', 'sys/policies/acl/App', { body: { policy } })).status).toBe(204);
    const read = await call(server, 'GET', 'sys/policies/acl/app');
    expect(read.body.data).toEqual({ name: 'app', policy });
    const list = await call(server, 'LIST', 'sys/policies/acl');
    expect(list.body.data.keys).toEqual(['app', 'default', 'root']);
    const legacy = await call(server, 'GET', 'sys/policy/app');
    expect(legacy.body).toMatchObject({ name: 'app', rules: policy });
    const legacyList = await call(server, 'GET', 'sys/policy');
    expect(legacyList.body.policies).toEqual(['app', 'default', 'root']);
    // `rules` on the legacy endpoint: 200 with Vault's deprecation warning; `policy` there: 204.
    const viaRules = await call(server, 'PUT', 'sys/policy/legacy', {
      body: { rules: 'path "x/*" { policy = "read" }' },
    });
    expect(viaRules.status).toBe(200);
    expect(viaRules.body.warnings).toEqual(["'rules' is deprecated, please use 'policy' instead"]);
    expect((await call(server, 'GET', 'sys/policy/legacy')).body.rules).toBe(
      'path "x/*" { policy = "read" }',
    );
    expect(
      (await call(server, 'PUT', 'sys/policy/legacy', { body: { policy: 'path "y/*" { policy = "read" }' } }))
        .status,
    ).toBe(204);
    const bad = await call(server, 'PUT', 'sys/policies/acl/bad', { body: { policy: 'path "x" {' } });
    expect(bad.status).toBe(400);
    expect(bad.body.errors[0]).toMatch(/^failed to parse policy/);
    expect((await call(server, 'PUT', 'sys/policies/acl/root', { body: { policy } })).status).toBe(400);
    expect((await call(server, 'DELETE', 'sys/policies/acl/default')).status).toBe(400);
    expect((await call(server, 'DELETE', 'sys/policies/acl/app')).status).toBe(204);
    expect((await call(server, 'GET', 'sys/policies/acl/app')).status).toBe(404);
    const def = await call(server, 'GET', 'sys/policies/acl/default');
    expect(def.body.data.policy).toContain('auth/token/lookup-self');
  });

  it('enforces policies over HTTP (create vs update via the existence check)', async () => {
    await call(server, 'PUT', 'sys/policies/acl/writer', {
      body: {
        policy:
          'path "secret/data/new/*" { capabilities = ["create"] }\npath "secret/data/upd/*" { capabilities = ["update", "read"] }',
      },
    });
    const t = await call(server, 'POST', 'auth/token/create', { body: { policies: ['writer'] } });
    const token = t.body.auth.client_token;
    expect(
      (await call(server, 'POST', 'secret/data/new/a', { token, body: { data: { v: 1 } } })).status,
    ).toBe(200);
    // Exists now → update, which the policy does not grant.
    const again = await call(server, 'POST', 'secret/data/new/a', { token, body: { data: { v: 2 } } });
    expect(again.status).toBe(403);
    expect(again.body.errors).toEqual(['1 error occurred:\n\t* permission denied\n\n']);
    // Update-only path: creating is denied, updating an existing key is fine.
    expect(
      (await call(server, 'POST', 'secret/data/upd/b', { token, body: { data: { v: 1 } } })).status,
    ).toBe(403);
    await call(server, 'POST', 'secret/data/upd/b', { body: { data: { v: 1 } } });
    expect(
      (await call(server, 'POST', 'secret/data/upd/b', { token, body: { data: { v: 2 } } })).status,
    ).toBe(200);
    expect((await call(server, 'GET', 'secret/data/other', { token })).status).toBe(403);
    const caps = await call(server, 'POST', 'sys/capabilities-self', {
      token,
      body: { paths: ['secret/data/upd/x'] },
    });
    expect(caps.body.data.capabilities).toEqual(['read', 'update']);
  });
});
