/**
 * Compatibility with an unmodified third-party Vault client (node-vault): it sends the custom LIST verb, reads
 * envelopes and maps error statuses on its own.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import nodeVault from 'node-vault';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevServer, startDevServer } from '../src/index.js';

let server: DevServer;
beforeAll(async () => {
  server = await startDevServer({ rootToken: 'third-party-root' });
});
afterAll(async () => {
  await server.close();
});

function client(token = server.rootToken, namespace?: string) {
  return nodeVault({ endpoint: server.url, token, apiVersion: 'v1', namespace });
}

async function status(promise: Promise<unknown>): Promise<number> {
  try {
    await promise;
    return 200;
  } catch (error) {
    return (error as { response?: { statusCode: number } }).response?.statusCode ?? -1;
  }
}

describe('node-vault against the dev server', () => {
  it('KV v2 and KV v1: write, read, list (LIST verb), delete', async () => {
    const vault = client();
    await vault.write('secret/data/app/db', { data: { user: 'app', password: 'pw-1' } });
    const read = await vault.read('secret/data/app/db');
    expect(read.data.data).toEqual({ user: 'app', password: 'pw-1' });
    expect(read.data.metadata.version).toBe(1);
    const list = await vault.list('secret/metadata/app');
    expect(list.data.keys).toEqual(['db']);
    await vault.mount({ mount_point: 'legacy', type: 'kv' });
    await vault.write('legacy/config', { level: 'debug' });
    expect((await vault.read('legacy/config')).data).toEqual({ level: 'debug' });
    expect((await vault.list('legacy')).data.keys).toEqual(['config']);
    await vault.delete('legacy/config');
    expect(await status(vault.read('legacy/config'))).toBe(404);
  });

  it('tokens, policies and the error statuses a client branches on', async () => {
    const root = client();
    await root.addPolicy({ name: 'app', rules: 'path "secret/data/app/*" { capabilities = ["read"] }' });
    const created = await root.tokenCreate({ policies: ['app'], ttl: '1h' });
    const app = client(created.auth.client_token);
    const self = await app.tokenLookupSelf();
    expect(self.data.policies).toEqual(['app', 'default']);
    const renewed = await app.tokenRenewSelf({ increment: '30m' });
    expect(renewed.auth.lease_duration).toBe(1800);
    expect((await app.read('secret/data/app/db')).data.data.user).toBe('app');
    expect(await status(app.write('secret/data/app/db', { data: { x: 1 } }))).toBe(403);
    await app.tokenRevokeSelf();
    expect(await status(app.tokenLookupSelf())).toBe(403);
  });

  it('health, seal status, mounts and wrapping', async () => {
    const vault = client(server.rootToken);
    expect((await vault.health()).sealed).toBe(false);
    expect((await vault.status()).type).toBe('shamir');
    expect(Object.keys((await vault.mounts()).data)).toContain('secret/');
    const wrapped = await vault.write('sys/wrapping/wrap', { hello: 'world' });
    const unwrapped = await vault.unwrap({ token: wrapped.wrap_info.token });
    expect(unwrapped.data).toEqual({ hello: 'world' });
  });

  it('audit devices, remount, key status, init/leader and Vault 1.17 refusals', async () => {
    const vault = client();
    const dir = mkdtempSync(join(tmpdir(), 'leasehold-node-vault-audit-'));
    try {
      const file = join(dir, 'audit.log');
      await vault.enableAudit({ name: 'nv', type: 'file', options: { file_path: file } });
      expect((await vault.audits()).data['nv/']).toMatchObject({
        type: 'file',
        options: { file_path: file },
      });
      await vault.write('secret/data/audited', { data: { password: 'node-vault-secret' } });
      const { data } = await vault.write('sys/audit-hash/nv', { input: 'node-vault-secret' });
      const log = readFileSync(file, 'utf8');
      expect(log).not.toContain('node-vault-secret');
      expect(log).toContain(data.hash);
      await vault.disableAudit({ name: 'nv' });
      expect((await vault.audits()).data).toEqual({});
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    await vault.mount({ mount_point: 'nv-old', type: 'kv' });
    const moved = await vault.remount({ from: 'nv-old', to: 'nv-new' });
    expect(typeof moved.data.migration_id).toBe('string');
    expect(Object.keys((await vault.mounts()).data)).toContain('nv-new/');
    expect((await vault.read('sys/key-status')).data.term).toBe(1);
    const anonymous = nodeVault({ endpoint: server.url, apiVersion: 'v1' });
    expect((await anonymous.initialized()).initialized).toBe(true);
    expect((await anonymous.leader()).ha_enabled).toBe(false);
    // A bad token lookup is 403; a policy refusal carries Vault's one-error multierror text.
    expect(await status(vault.tokenLookup({ token: 'hvs.unknown' }))).toBe(403);
    const weak = client((await vault.tokenCreate({ policies: ['default'] })).auth.client_token);
    const refused = await weak.read('secret/data/audited').catch((error: Error) => error);
    expect((refused as Error).message).toBe('1 error occurred:\n\t* permission denied\n\n');
  });

  it('namespaces through its `namespace` option (X-Vault-Namespace)', async () => {
    const root = client();
    const created = await root.write('sys/namespaces/tp', {});
    expect(created.data.path).toBe('tp/');
    const ns = client(server.rootToken, 'tp');
    await ns.mount({ mount_point: 'kv', type: 'kv-v2' });
    await ns.write('kv/data/app', { data: { owner: 'tp' } });
    expect((await ns.read('kv/data/app')).data.data).toEqual({ owner: 'tp' });
    expect(await status(root.read('kv/data/app'))).toBe(404);
    await ns.addPolicy({ name: 'reader', rules: 'path "kv/data/*" { capabilities = ["read"] }' });
    const token = (await ns.tokenCreate({ policies: ['reader'] })).auth.client_token as string;
    const app = client(token, 'tp');
    expect((await app.tokenLookupSelf()).data.namespace_path).toBe('tp/');
    expect((await app.read('kv/data/app')).data.data.owner).toBe('tp');
    // The namespace's token is refused in the root namespace.
    expect(await status(client(token).tokenLookupSelf())).toBe(403);
    expect((await root.list('sys/namespaces')).data.keys).toEqual(['tp/']);
  });
});
