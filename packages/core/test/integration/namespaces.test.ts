/**
 * Namespaces end to end (HCP Vault, Vault Enterprise, OpenBao): a client configured with `namespace` logs in with
 * AppRole inside it, renews its token, reads KV and database credentials there (the dev server's database engine on
 * the real PostgreSQL of the test environment), and a token of another namespace is refused.
 * https://developer.hashicorp.com/vault/docs/enterprise/namespaces
 */

import { type DevServer, startDevServer } from '@leasehold/dev-server';
import { createTestDatabase, type TestDatabase } from '@leasehold/test-env';
// Brings the typing of vitest's `inject('pgSuperuserUrl')` into this package.
import type {} from '@leasehold/test-env/global-setup';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { auth, createVault, type Vault, VaultError, VaultErrorCode } from '../../src/index.js';
import { eventually, LeakRecorder, rootClient, setupAppRole, writePolicy } from './helpers.js';

const recorder = new LeakRecorder();
let db: TestDatabase;
let server: DevServer;
let team: Vault;
let other: Vault;
const clients: Vault[] = [];

const APP_POLICY = `
path "secret/data/*" { capabilities = ["read"] }
path "database/creds/*" { capabilities = ["read"] }
`;

beforeAll(async () => {
  db = await createTestDatabase(inject('pgSuperuserUrl'));
  await db.query('CREATE TABLE items (id int primary key)');
  server = await startDevServer();
  recorder.secret(server.rootToken);
  const root = rootClient(server);
  await root.request('POST', 'sys/namespaces/team');
  await root.request('POST', 'sys/namespaces/other');
  await root.close();
  // The root token is valid in every namespace below the root: set up `team/` through it.
  team = rootClient(server, { namespace: 'team' });
  other = rootClient(server, { namespace: 'other' });
  await team.request('POST', 'sys/mounts/secret', { body: { type: 'kv-v2' } });
  await team.request('POST', 'secret/data/app', { body: { data: { apiKey: 'team-api-key-5678' } } });
  recorder.secret('team-api-key-5678');
  await team.request('POST', 'sys/mounts/database', { body: { type: 'database' } });
  const su = new URL(db.superuserUrl);
  recorder.secret(decodeURIComponent(su.password));
  await team.request('POST', 'database/config/pg', {
    body: {
      plugin_name: 'postgresql-database-plugin',
      connection_url: `postgresql://{{username}}:{{password}}@${db.host}:${db.port}/${db.name}`,
      username: decodeURIComponent(su.username),
      password: decodeURIComponent(su.password),
      allowed_roles: '*',
    },
  });
  await team.request('POST', 'database/roles/app', {
    body: {
      db_name: 'pg',
      creation_statements: [
        `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';`,
        'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{{name}}";',
      ],
      default_ttl: '1h',
    },
  });
  await writePolicy(team, 'app', APP_POLICY);
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await team?.close();
  await other?.close();
  await server?.close();
  await db?.drop();
  expect(recorder.leaks()).toEqual([]);
});

function client(options: Parameters<typeof createVault>[0]): Vault {
  const vault = createVault({ env: {}, address: server.url, logger: recorder.logger(), ...options });
  recorder.watch(vault);
  clients.push(vault);
  return vault;
}

describe('a client configured with a namespace', () => {
  it('logs in with AppRole in the namespace, renews, reads KV and database credentials there', async () => {
    const { roleId, secretId } = await setupAppRole(team, 'web', {
      token_policies: 'app',
      token_ttl: '2s',
      token_max_ttl: '1h',
    });
    recorder.secret(roleId, secretId);
    const vault = client({ namespace: 'team', auth: recorder.recording(auth.appRole({ roleId, secretId })) });
    const renewed: number[] = [];
    vault.on('token:renewed', (e) => renewed.push(e.ttl));
    await vault.ready({ timeoutMs: 10_000 });

    const secret = await vault.kv.get<{ apiKey: string }>('app');
    expect(secret.data.reveal().apiKey).toBe('team-api-key-5678');

    const lease = vault.database.credentials('app');
    const creds = (await lease.ready()).value;
    recorder.secret(creds.password.reveal());
    expect(lease.current().leaseId).toMatch(/^database\/creds\/app\/[A-Za-z0-9]{24}\.[A-Za-z0-9]{5}$/);
    const pgClient = new pg.Client({
      host: db.host,
      port: db.port,
      database: db.name,
      user: creds.username,
      password: creds.password.reveal(),
    });
    await pgClient.connect();
    try {
      expect((await pgClient.query('SELECT count(*)::int AS n FROM items')).rows[0]).toEqual({ n: 0 });
    } finally {
      await pgClient.end();
    }

    // The 2 s token is renewed in the namespace (a generous guard; the event is what is asserted).
    await eventually(async () => expect(renewed.length).toBeGreaterThan(0), 15_000, 100);
    expect(server.requests({ path: 'auth/token/renew-self', status: 200 }).length).toBeGreaterThan(0);
    // Every request went to the namespace (the request log shows paths inside it; none reached the root's secret/).
    expect(server.requests({ path: 'auth/approle/login', status: 200 }).length).toBeGreaterThan(0);
  }, 40_000);

  it('refuses a token of another namespace', async () => {
    const created = await other.request<unknown>('POST', 'auth/token/create', {
      body: { policies: ['default'] },
    });
    const foreign = (created.body as { auth: { client_token: string } }).auth.client_token;
    recorder.secret(foreign);
    const vault = client({ namespace: 'team', auth: auth.token({ token: foreign }) });
    for (const path of ['secret/data/app', 'auth/token/lookup-self']) {
      const error = await vault.request('GET', path).catch((e: unknown) => e);
      expect(VaultError.is(error)).toBe(true);
      expect((error as VaultError).status).toBe(403);
      expect((error as VaultError).code).toBe(VaultErrorCode.PERMISSION_DENIED);
    }
    // The same token works in its own namespace.
    const own = client({ namespace: 'other', auth: auth.token({ token: foreign }) });
    expect((await own.request('GET', 'auth/token/lookup-self')).status).toBe(200);
  });
});
