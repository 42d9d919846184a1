/**
 * The database engine over real HTTP: mount, configure, issue, renew through `sys/leases/renew`, revoke through
 * `sys/leases/revoke`, expiry, unmount — each checked against the real PostgreSQL of the test run.
 */
import { createTestDatabase, type TestDatabase } from '@leasehold/test-env';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type DevServer, ManualClock, startDevServer } from '../../src/index.js';
import { call } from '../helpers.js';
import { dropRoles, roleExists, tryLogin, uniqueName, validUntil } from './helpers.js';

/** PostgreSQL's VALID UNTIL has whole seconds. */
const toSecond = (ms: number): number => Math.floor(ms / 1000) * 1000;

describe('database engine over HTTP (real PostgreSQL)', () => {
  let db: TestDatabase;
  let server: DevServer;
  const clock = new ManualClock();
  const rootUser = uniqueName('lh_hroot');
  const rootPassword = 'Http-root-0123456789';
  const staticUser = uniqueName('lh_hstatic');
  const createdRoles = new Set<string>([rootUser, staticUser]);
  let connectionUrl = '';
  const logLines: string[] = [];
  const passwords: string[] = [rootPassword];

  const configure = async (mount: string) =>
    call(server, 'POST', `${mount}/config/pg`, {
      body: {
        plugin_name: 'postgresql-database-plugin',
        connection_url: connectionUrl,
        username: rootUser,
        password: rootPassword,
        allowed_roles: ['app', 'short', 'static-*'],
      },
    });

  const issue = async (role: string, token?: string) => {
    const response = await call(server, 'GET', `database/creds/${role}`, token ? { token } : {});
    expect(response.status).toBe(200);
    createdRoles.add(response.body.data.username);
    passwords.push(response.body.data.password);
    return response.body as {
      lease_id: string;
      lease_duration: number;
      renewable: boolean;
      data: { username: string; password: string };
    };
  };

  beforeAll(async () => {
    db = await createTestDatabase(inject('pgSuperuserUrl'));
    await db.query(`CREATE ROLE "${rootUser}" LOGIN SUPERUSER PASSWORD '${rootPassword}'`);
    await db.query(`CREATE ROLE "${staticUser}" LOGIN PASSWORD 'Initial-static-0123'`);
    await db.query('CREATE TABLE items (id serial PRIMARY KEY, name text)');
    connectionUrl = `postgresql://{{username}}:{{password}}@${db.host}:${db.port}/${db.name}`;
    server = await startDevServer({
      clock,
      logger: (level, message, fields) =>
        logLines.push(`${level} ${message} ${JSON.stringify(fields ?? {})}`),
    });
    expect((await call(server, 'POST', 'sys/mounts/database', { body: { type: 'database' } })).status).toBe(
      204,
    );
    expect((await configure('database')).status).toBe(204);
    const app = await call(server, 'POST', 'database/roles/app', {
      body: {
        db_name: 'pg',
        creation_statements: [
          `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';`,
          'GRANT SELECT, INSERT ON items TO "{{name}}";',
        ],
        default_ttl: 30,
        max_ttl: '60s',
      },
    });
    expect(app.status).toBe(204);
    const short = await call(server, 'POST', 'database/roles/short', {
      body: {
        db_name: 'pg',
        creation_statements: `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'; GRANT SELECT ON items TO "{{name}}";`,
        default_ttl: '2s',
        max_ttl: '10s',
      },
    });
    expect(short.status).toBe(204);
  });

  afterAll(async () => {
    await server?.close();
    await db?.drop();
    await dropRoles(inject('pgSuperuserUrl'), createdRoles);
  });

  it('reads config and roles back in Vault’s shapes, without the password', async () => {
    const config = await call(server, 'GET', 'database/config/pg');
    expect(config.status).toBe(200);
    expect(config.body.data).toMatchObject({
      plugin_name: 'postgresql-database-plugin',
      allowed_roles: ['app', 'short', 'static-*'],
      connection_details: { connection_url: connectionUrl, username: rootUser },
    });
    expect(config.text).not.toContain(rootPassword);
    const role = await call(server, 'GET', 'database/roles/app');
    expect(role.body.data).toMatchObject({
      db_name: 'pg',
      default_ttl: 30,
      max_ttl: 60,
      revocation_statements: [],
    });
    const list = await call(server, 'LIST', 'database/roles');
    expect(list.body.data.keys).toEqual(['app', 'short']);
  });

  it('issues a leased credential that logs in to PostgreSQL', async () => {
    const secret = await issue('app');
    expect(secret.lease_id).toMatch(/^database\/creds\/app\/[A-Za-z0-9]{24}$/);
    expect(secret.renewable).toBe(true);
    expect(secret.lease_duration).toBe(30);
    expect(secret.data.username).toMatch(/^v-root-app-[A-Za-z0-9]{20}-\d+$/);
    expect(await tryLogin(db, secret.data.username, secret.data.password)).toBe('ok');
  });

  it('uses the calling token’s display name in the username', async () => {
    server.writePolicy('db-reader', 'path "database/creds/*" { capabilities = ["read"] }');
    const token = await call(server, 'POST', 'auth/token/create', {
      body: { display_name: 'ci', policies: ['db-reader'] },
    });
    expect(token.status).toBe(200);
    const secret = await issue('app', token.body.auth.client_token);
    expect(secret.data.username).toMatch(/^v-token-ci-app-/);
    expect(await tryLogin(db, secret.data.username, secret.data.password)).toBe('ok');
  });

  it('renews through sys/leases/renew: VALID UNTIL moves, capped by max_ttl with a warning', async () => {
    const issuedAt = clock.now();
    const secret = await issue('app');
    await clock.advance(2000);
    const renewed = await call(server, 'PUT', 'sys/leases/renew', {
      body: { lease_id: secret.lease_id, increment: 45 },
    });
    expect(renewed.status).toBe(200);
    expect(renewed.body.lease_duration).toBe(45);
    // VALID UNTIL = renewal time + 45 s + 5 s, at second precision
    expect(await validUntil(db, secret.data.username)).toBe(toSecond(issuedAt + 2000 + 50_000));

    await clock.advance(10_000);
    const capped = await call(server, 'PUT', 'sys/leases/renew', {
      body: { lease_id: secret.lease_id, increment: 3600 },
    });
    expect(capped.status).toBe(200);
    // Capped by max_ttl (60 s from issue), 12 s of which have passed.
    expect(capped.body.lease_duration).toBe(48);
    expect(capped.body.warnings?.[0]).toContain('exceeded the effective max_ttl');
    // VALID UNTIL = issue time + max_ttl (60 s) + 5 s
    expect(await validUntil(db, secret.data.username)).toBe(toSecond(issuedAt + 65_000));
    expect(await tryLogin(db, secret.data.username, secret.data.password)).toBe('ok');
  });

  it('revokes through sys/leases/revoke: the role is dropped and the password refused', async () => {
    const secret = await issue('app');
    expect(await tryLogin(db, secret.data.username, secret.data.password)).toBe('ok');
    const revoked = await call(server, 'PUT', 'sys/leases/revoke', { body: { lease_id: secret.lease_id } });
    expect(revoked.status).toBe(204);
    expect(await roleExists(db, secret.data.username)).toBe(false);
    expect(await tryLogin(db, secret.data.username, secret.data.password)).toBe('28P01');
    const again = await call(server, 'PUT', 'sys/leases/renew', { body: { lease_id: secret.lease_id } });
    expect(again.status).toBe(400);
    expect(again.body.errors).toEqual(['lease not found']);
  });

  it('revokes on lease expiry (2 s TTL)', async () => {
    const secret = await issue('short');
    expect(secret.lease_duration).toBe(2);
    expect(await tryLogin(db, secret.data.username, secret.data.password)).toBe('ok');
    await clock.advance(1999);
    expect(await roleExists(db, secret.data.username)).toBe(true);
    await clock.advance(1);
    expect(await roleExists(db, secret.data.username)).toBe(false);
    expect(await tryLogin(db, secret.data.username, secret.data.password)).toBe('28P01');
  });

  it('answers errors with Vault’s status codes and texts', async () => {
    const unknown = await call(server, 'GET', 'database/creds/nope');
    expect(unknown.status).toBe(400);
    expect(unknown.body.errors).toEqual(['unknown role: nope']);

    await call(server, 'POST', 'database/roles/other', {
      body: { db_name: 'pg', creation_statements: 'SELECT 1' },
    });
    const notAllowed = await call(server, 'GET', 'database/creds/other');
    expect(notAllowed.status).toBe(500);
    expect(notAllowed.body.errors.join(' ')).toContain('"other" is not an allowed role');

    const badConfig = await call(server, 'POST', 'database/config/broken', {
      body: {
        plugin_name: 'postgresql-database-plugin',
        connection_url: connectionUrl,
        username: rootUser,
        password: 'Not-the-password-1',
      },
    });
    expect(badConfig.status).toBe(400);
    expect(badConfig.body.errors.join(' ')).toContain(
      'error creating database object: error verifying - ping:',
    );
    expect(badConfig.text).not.toContain('Not-the-password-1');

    const badPlugin = await call(server, 'POST', 'database/config/broken', {
      body: { plugin_name: 'mysql-database-plugin', connection_url: connectionUrl },
    });
    expect(badPlugin.status).toBe(400);
    expect(badPlugin.body.errors.join(' ')).toContain('postgresql-database-plugin');

    const badPeriod = await call(server, 'POST', 'database/static-roles/static-x', {
      body: { db_name: 'pg', username: staticUser, rotation_period: 1 },
    });
    expect(badPeriod.status).toBe(400);
    expect(badPeriod.body.errors).toEqual(['rotation_period must be 5 seconds or more']);
  });

  it('serves static credentials without a lease and rotates them on rotate-role', async () => {
    const created = await call(server, 'POST', 'database/static-roles/static-app', {
      body: { db_name: 'pg', username: staticUser, rotation_period: '1h' },
    });
    expect(created.status).toBe(204);
    const first = await call(server, 'GET', 'database/static-creds/static-app');
    expect(first.status).toBe(200);
    expect(first.body.lease_id).toBe('');
    expect(first.body.lease_duration).toBe(0);
    expect(first.body.data).toMatchObject({ username: staticUser, rotation_period: 3600 });
    expect(first.body.data.ttl).toBe(3600);
    expect(Date.parse(first.body.data.last_vault_rotation)).toBe(clock.now());
    expect(await tryLogin(db, staticUser, first.body.data.password)).toBe('ok');

    expect((await call(server, 'POST', 'database/rotate-role/static-app')).status).toBe(204);
    const second = await call(server, 'GET', 'database/static-creds/static-app');
    passwords.push(first.body.data.password, second.body.data.password);
    expect(second.body.data.password).not.toBe(first.body.data.password);
    expect(await tryLogin(db, staticUser, first.body.data.password)).toBe('28P01');
    expect(await tryLogin(db, staticUser, second.body.data.password)).toBe('ok');
  });

  it('revokes every credential of a mount when it is disabled', async () => {
    expect((await call(server, 'POST', 'sys/mounts/db2', { body: { type: 'database' } })).status).toBe(204);
    expect((await configure('db2')).status).toBe(204);
    await call(server, 'POST', 'db2/roles/app', {
      body: { db_name: 'pg', creation_statements: `CREATE ROLE "{{name}}" LOGIN PASSWORD '{{password}}';` },
    });
    const response = await call(server, 'GET', 'db2/creds/app');
    expect(response.status).toBe(200);
    const { username, password } = response.body.data as { username: string; password: string };
    createdRoles.add(username);
    expect(await tryLogin(db, username, password)).toBe('ok');
    expect((await call(server, 'DELETE', 'sys/mounts/db2')).status).toBe(204);
    // Disabling a mount revokes its leases before it answers.
    expect(await roleExists(db, username)).toBe(false);
  });

  it('never logs a password (the server logger saw the whole suite)', () => {
    // Runs last: every request of this file went through the logger.
    expect(logLines.some((line) => line.includes('database: credentials created'))).toBe(true);
    const text = logLines.join('\n');
    for (const password of passwords) expect(text).not.toContain(password);
  });
});
