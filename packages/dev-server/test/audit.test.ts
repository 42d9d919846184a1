/**
 * Audit devices, `sys/remount`, `sys/key-status` and cert `config` over HTTP — the entry format of Vault's JSON
 * audit log (https://developer.hashicorp.com/vault/docs/audit and
 * https://github.com/hashicorp/vault/blob/main/audit/types.go).
 */
import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevServer, startDevServer } from '../src/index.js';
import { call } from './helpers.js';

let server: DevServer;
let dir: string;

beforeAll(async () => {
  server = await startDevServer();
  dir = mkdtempSync(join(tmpdir(), 'leasehold-audit-'));
});

afterAll(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

// biome-ignore lint/suspicious/noExplicitAny: audit entries are arbitrary JSON
const entries = (file: string): any[] =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line));

describe('sys/audit with a file device', () => {
  it('enables, lists and disables a device; HMACs secret values, tokens and accessors', async () => {
    const file = join(dir, 'audit.log');
    expect((await call(server, 'GET', 'sys/audit')).body.data).toEqual({});
    const enabled = await call(server, 'PUT', 'sys/audit/file', {
      body: { type: 'file', description: 'to disk', options: { file_path: file } },
    });
    expect(enabled.status).toBe(204);
    expect((statSync(file).mode & 0o777).toString(8)).toBe('600');
    const list = await call(server, 'GET', 'sys/audit');
    expect(list.body.data).toEqual({
      'file/': {
        path: 'file/',
        type: 'file',
        description: 'to disk',
        options: { file_path: file },
        local: false,
      },
    });

    const write = await call(server, 'POST', 'secret/data/app', {
      body: { data: { password: 'hunter2', port: 5432 } },
    });
    expect(write.status).toBe(200);
    const read = await call(server, 'GET', 'secret/data/app');
    expect(read.body.data.data.password).toBe('hunter2');

    const text = readFileSync(file, 'utf8');
    expect(text).not.toContain('hunter2');
    expect(text).not.toContain(server.rootToken);
    const log = entries(file);
    const hash = async (input: string): Promise<string> =>
      (await call(server, 'PUT', 'sys/audit-hash/file', { body: { input } })).body.data.hash;
    const writeRequest = log.find((e) => e.type === 'request' && e.request.operation === 'create');
    expect(writeRequest).toMatchObject({
      type: 'request',
      auth: { display_name: 'root', policies: ['root'], token_type: 'service' },
      request: {
        operation: 'create',
        mount_point: 'secret/',
        mount_type: 'kv',
        mount_class: 'secret',
        namespace: { id: 'root' },
        path: 'secret/data/app',
        remote_address: '127.0.0.1',
      },
    });
    expect(writeRequest.request.id).toBe(write.body.request_id);
    expect(writeRequest.auth.client_token).toBe(await hash(server.rootToken));
    expect(writeRequest.request.client_token).toBe(await hash(server.rootToken));
    // Request data: every string and (as Vault's json.Number) every number is HMAC'd.
    expect(writeRequest.request.data.data).toEqual({
      password: await hash('hunter2'),
      port: await hash('5432'),
    });
    const readResponse = log.find(
      (e) => e.type === 'response' && e.request.operation === 'read' && e.request.path === 'secret/data/app',
    );
    expect(readResponse.response.data.data.password).toBe(await hash('hunter2'));
    // Response numbers stay numbers.
    expect(readResponse.response.data.metadata.version).toBe(1);
    expect(readResponse.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z$/);

    // The HMAC is HMAC-SHA256 under the device's own salt: each device hashes differently.
    expect(await hash('hunter2')).toMatch(/^hmac-sha256:[0-9a-f]{64}$/);
    expect(await hash('hunter2')).not.toBe(
      `hmac-sha256:${createHmac('sha256', '').update('hunter2').digest('hex')}`,
    );

    expect(
      (await call(server, 'PUT', 'sys/audit/file', { body: { type: 'file', options: { file_path: file } } }))
        .body.errors,
    ).toEqual(['path already in use']);
    expect((await call(server, 'DELETE', 'sys/audit/file')).status).toBe(204);
    expect((await call(server, 'GET', 'sys/audit')).body.data).toEqual({});
    const before = readFileSync(file, 'utf8').length;
    await call(server, 'GET', 'secret/data/app');
    expect(readFileSync(file, 'utf8').length).toBe(before);
    // Disabling what is not there: 204, as Vault.
    expect((await call(server, 'DELETE', 'sys/audit/file')).status).toBe(204);
  });

  it('writes raw values with log_raw, leaves accessors with hmac_accessor=false, logs denials and logins', async () => {
    const file = join(dir, 'raw.log');
    await call(server, 'PUT', 'sys/audit/raw', {
      body: { type: 'file', options: { file_path: file, log_raw: 'true' } },
    });
    await call(server, 'POST', 'secret/data/raw', { body: { data: { password: 's3cret' } } });
    const raw = entries(file);
    expect(
      raw.find((e) => e.type === 'request' && e.request.path === 'secret/data/raw').request.data.data,
    ).toEqual({
      password: 's3cret',
    });
    await call(server, 'DELETE', 'sys/audit/raw');

    const plain = join(dir, 'accessor.log');
    await call(server, 'PUT', 'sys/audit/acc', {
      body: { type: 'file', options: { file_path: plain, hmac_accessor: 'false' } },
    });
    const created = await call(server, 'POST', 'auth/token/create', { body: { policies: ['default'] } });
    const token = created.body.auth.client_token;
    const accessor = created.body.auth.accessor;
    const denied = await call(server, 'GET', 'secret/data/raw', { token });
    expect(denied.status).toBe(403);
    const log = entries(plain);
    const createResponse = log.find((e) => e.type === 'response' && e.request.path === 'auth/token/create');
    expect(createResponse.response.auth.accessor).toBe(accessor);
    expect(createResponse.response.auth.client_token).toMatch(/^hmac-sha256:/);
    expect(JSON.stringify(log)).not.toContain(token);
    const denial = log.find((e) => e.type === 'response' && e.request.path === 'secret/data/raw');
    expect(denial.error).toBe('1 error occurred:\n\t* permission denied\n\n');
    expect(denial.auth.policy_results).toEqual({ allowed: false });
    expect(denial.request.client_token_accessor).toBe(accessor);
    await call(server, 'DELETE', 'sys/audit/acc');
  });

  it('refuses bad devices with Vault-like texts; sys/audit needs sudo', async () => {
    const missing = await call(server, 'PUT', 'sys/audit/x', { body: { type: 'file', options: {} } });
    expect(missing.status).toBe(400);
    expect(missing.body.errors).toEqual(['"file_path" is required: invalid configuration']);
    const unknown = await call(server, 'PUT', 'sys/audit/x', { body: { type: 'carrier-pigeon' } });
    expect(unknown.body.errors).toEqual(['unknown backend type: "carrier-pigeon"']);
    const hashUnknown = await call(server, 'PUT', 'sys/audit-hash/nope', { body: { input: 'a' } });
    expect(hashUnknown.body.errors).toEqual(['unknown audit backend "nope/"']);
    server.writePolicy('almost', 'path "sys/audit*" { capabilities = ["read", "update", "create"] }');
    const t = await call(server, 'POST', 'auth/token/create', { body: { policies: ['almost'] } });
    const denied = await call(server, 'GET', 'sys/audit', { token: t.body.auth.client_token });
    expect(denied.status).toBe(403);
  });

  it('is the root namespace’s: a namespace has no sys/audit, and root devices see namespace requests', async () => {
    const file = join(dir, 'ns.log');
    await call(server, 'PUT', 'sys/namespaces/team');
    const inTeam = await call(server, 'GET', 'sys/audit', { headers: { 'x-vault-namespace': 'team' } });
    expect(inTeam.status).toBe(404);
    await call(server, 'PUT', 'sys/audit/ns', { body: { type: 'file', options: { file_path: file } } });
    await call(server, 'PUT', 'sys/policies/acl/p', {
      headers: { 'x-vault-namespace': 'team' },
      body: { policy: 'path "x" { capabilities = ["read"] }' },
    });
    const entry = entries(file).find((e) => e.request.path === 'sys/policies/acl/p');
    expect(entry.request.namespace.path).toBe('team/');
    expect(entry.request.namespace.id).toMatch(/^\w+$/);
    await call(server, 'DELETE', 'sys/audit/ns');
  });
});

describe('sys/remount, sys/key-status, cert config', () => {
  it('moves a secrets engine (revoking nothing it cannot) and reports the migration', async () => {
    await call(server, 'POST', 'sys/mounts/old-kv', { body: { type: 'kv', options: { version: '1' } } });
    await call(server, 'POST', 'old-kv/k', { body: { v: 'x' } });
    const moved = await call(server, 'POST', 'sys/remount', { body: { from: 'old-kv', to: 'new-kv' } });
    expect(moved.status).toBe(200);
    const id = moved.body.data.migration_id;
    expect(moved.body.warnings).toEqual([
      "Mount move has been queued. Progress will be reported in Vault's server log, tagged with the returned migration_id",
    ]);
    expect((await call(server, 'GET', 'new-kv/k')).body.data).toEqual({ v: 'x' });
    expect((await call(server, 'GET', 'old-kv/k')).status).toBe(404);
    const status = await call(server, 'GET', `sys/remount/status/${id}`);
    expect(status.body.data).toEqual({
      migration_id: id,
      migration_info: { source_mount: 'old-kv/', target_mount: 'new-kv/', status: 'success' },
    });
    const missing = await call(server, 'POST', 'sys/remount', { body: { from: 'nowhere', to: 'x' } });
    expect(missing.body.errors).toEqual(['no matching mount at "nowhere/"']);
    const noTo = await call(server, 'POST', 'sys/remount', { body: { from: 'new-kv' } });
    expect(noTo.body.errors).toEqual(["both 'from' and 'to' path must be specified as a string"]);
    const taken = await call(server, 'POST', 'sys/remount', { body: { from: 'new-kv', to: 'secret' } });
    expect(taken.body.errors).toEqual(['path already in use at "secret/"']);
    const sys = await call(server, 'POST', 'sys/remount', { body: { from: 'sys', to: 'x' } });
    expect(sys.status).toBe(400);
  });

  it('moves an auth method and revokes its tokens', async () => {
    await call(server, 'POST', 'sys/auth/up', { body: { type: 'userpass' } });
    await call(server, 'POST', 'auth/up/users/ann', { body: { password: 'pw' } });
    const login = await call(server, 'POST', 'auth/up/login/ann', { token: null, body: { password: 'pw' } });
    const token = login.body.auth.client_token;
    const moved = await call(server, 'POST', 'sys/remount', { body: { from: 'auth/up', to: 'auth/people' } });
    expect(moved.status).toBe(200);
    expect((await call(server, 'GET', 'auth/token/lookup-self', { token })).status).toBe(403);
    const again = await call(server, 'POST', 'auth/people/login/ann', {
      token: null,
      body: { password: 'pw' },
    });
    expect(again.body.auth.metadata.username).toBe('ann');
    const across = await call(server, 'POST', 'sys/remount', { body: { from: 'auth/people', to: 'kv2' } });
    expect(across.status).toBe(400);
  });

  it('reports the key status', async () => {
    const status = await call(server, 'GET', 'sys/key-status');
    expect(status.status).toBe(200);
    expect(status.body.data.term).toBe(1);
    expect(Date.parse(status.body.data.install_time)).toBeLessThanOrEqual(Date.now());
    expect(status.body.data.encryptions).toBeGreaterThan(0);
  });

  it('stores and reads the cert auth config', async () => {
    await call(server, 'POST', 'sys/auth/cert', { body: { type: 'cert' } });
    expect((await call(server, 'GET', 'auth/cert/config')).body.data).toEqual({
      disable_binding: false,
      enable_identity_alias_metadata: false,
      enable_metadata_on_failures: false,
      ocsp_cache_size: 100,
      role_cache_size: 200,
    });
    expect(
      (
        await call(server, 'POST', 'auth/cert/config', {
          body: { disable_binding: true, ocsp_cache_size: 10 },
        })
      ).status,
    ).toBe(204);
    expect((await call(server, 'GET', 'auth/cert/config')).body.data).toMatchObject({
      disable_binding: true,
      ocsp_cache_size: 10,
    });
    const bad = await call(server, 'POST', 'auth/cert/config', { body: { ocsp_cache_size: 1 } });
    expect(bad.status).toBe(400);
  });
});
