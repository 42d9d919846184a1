/**
 * The database engine driven through its Backend interface (`handle`, `renewSecret`, `revokeSecret`) against the
 * real PostgreSQL of the test run. The HTTP path (mount, leases, expiry) is covered in `http.test.ts`.
 */
import { createTestDatabase, type TestDatabase } from '@leasehold/test-env';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { DatabaseBackend } from '../../src/backends/database/index.js';
import {
  type BackendContext,
  type LeaseView,
  LogicalError,
  type LogicalRequest,
  type LogicalResponse,
  type Operation,
} from '../../src/sdk/index.js';
import { ManualClock } from '../../src/util/clock.js';
import { dropRoles, roleExists, tryLogin, uniqueName, validUntil } from './helpers.js';

const logs: string[] = [];
/** Drives static-role rotation; starts at the real time (PostgreSQL's VALID UNTIL is judged by the real clock). */
const clock = new ManualClock();
const context: BackendContext = {
  mountPath: 'database/',
  options: {},
  defaultLeaseTtl: () => 3600,
  maxLeaseTtl: () => 86400,
  now: () => clock.now(),
  clock,
  revokeLeasesWithPrefix: async () => {},
  log: (level, message, fields) => {
    logs.push(`${level} ${message} ${JSON.stringify(fields ?? {})}`);
  },
};

function request(operation: Operation, path: string, data: Record<string, unknown> = {}): LogicalRequest {
  return {
    operation,
    path,
    mountPath: 'database/',
    data,
    token: {
      id: 'hvs.test',
      accessor: 'accessor',
      policies: ['root'],
      displayName: 'token',
      entityId: '',
      metadata: {},
      isRoot: true,
    },
    remoteAddress: '127.0.0.1',
    clientCertificate: undefined,
    headers: {},
  };
}

async function expectError(promise: Promise<unknown>, status: number, text: string): Promise<LogicalError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(LogicalError);
  const logical = error as LogicalError;
  expect(logical.status).toBe(status);
  expect(logical.errors.join(' ')).toContain(text);
  return logical;
}

function leaseOf(response: LogicalResponse | null, role: string): LeaseView {
  const now = Date.now();
  return {
    leaseId: `database/creds/${role}/x`,
    path: `creds/${role}`,
    internal: response?.secret?.internal ?? {},
    issueTime: now,
    expireTime: now + 3600_000,
  };
}

describe('database engine (Backend interface, real PostgreSQL)', () => {
  let db: TestDatabase;
  let backend: DatabaseBackend;
  const rootUser = uniqueName('lh_root');
  let rootPassword = 'Root-pass-0123456789';
  const staticUser = uniqueName('lh_static');
  const createdRoles = new Set<string>([rootUser, staticUser]);
  const secrets: string[] = [rootPassword];
  let connectionUrl = '';

  const creds = async (role: string): Promise<LogicalResponse> => {
    const response = await backend.handle(request('read', `creds/${role}`));
    const data = response?.data as { username: string; password: string };
    createdRoles.add(data.username);
    secrets.push(data.password);
    return response as LogicalResponse;
  };

  beforeAll(async () => {
    db = await createTestDatabase(inject('pgSuperuserUrl'));
    await db.query(`CREATE ROLE "${rootUser}" LOGIN SUPERUSER PASSWORD '${rootPassword}'`);
    await db.query(`CREATE ROLE "${staticUser}" LOGIN PASSWORD 'Initial-static-0123'`);
    await db.query('CREATE TABLE items (id serial PRIMARY KEY, name text)');
    await db.query("INSERT INTO items (name) VALUES ('one'), ('two')");
    connectionUrl = `postgresql://{{username}}:{{password}}@${db.host}:${db.port}/${db.name}`;
    backend = new DatabaseBackend(context);
    const configured = await backend.handle(
      request('update', 'config/pg', {
        plugin_name: 'postgresql-database-plugin',
        connection_url: connectionUrl,
        username: rootUser,
        password: rootPassword,
        allowed_roles: 'reader,owner-*,custom,multi,short,static-*',
      }),
    );
    expect(configured).toEqual({});
    await backend.handle(
      request('update', 'roles/reader', {
        db_name: 'pg',
        creation_statements: [
          `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';`,
          'GRANT SELECT ON items TO "{{name}}";',
        ],
        default_ttl: '1h',
        max_ttl: '2h',
      }),
    );
  });

  afterAll(async () => {
    await backend?.close();
    await db?.drop();
    await dropRoles(inject('pgSuperuserUrl'), createdRoles);
    // No password ever reached the diagnostic log.
    const logText = logs.join('\n');
    for (const secret of secrets) expect(logText).not.toContain(secret);
  });

  it('stores a config and never returns its password', async () => {
    const response = await backend.handle(request('read', 'config/pg'));
    expect(response?.data).toMatchObject({
      plugin_name: 'postgresql-database-plugin',
      allowed_roles: ['reader', 'owner-*', 'custom', 'multi', 'short', 'static-*'],
      connection_details: { connection_url: connectionUrl, username: rootUser },
      verify_connection: true,
    });
    expect(JSON.stringify(response)).not.toContain(rootPassword);
    expect(await backend.handle(request('list', 'config/'))).toEqual({ data: { keys: ['pg'] } });
  });

  it('rejects bad configurations with clear errors and without echoing the password', async () => {
    await expectError(
      backend.handle(
        request('update', 'config/bad', { plugin_name: 'mysql-database-plugin', connection_url: 'x' }),
      ),
      400,
      'unsupported plugin_name "mysql-database-plugin"',
    );
    await expectError(backend.handle(request('update', 'config/bad', {})), 400, 'empty plugin name');
    await expectError(
      backend.handle(request('update', 'config/bad', { plugin_name: 'postgresql-database-plugin' })),
      400,
      'connection_url cannot be empty',
    );
    const wrong = await expectError(
      backend.handle(
        request('update', 'config/bad', {
          plugin_name: 'postgresql-database-plugin',
          connection_url: connectionUrl,
          username: rootUser,
          password: 'Wrong-password-42',
        }),
      ),
      400,
      'error creating database object: error verifying - ping:',
    );
    expect(wrong.message).toContain('password authentication failed');
    expect(wrong.message).not.toContain('Wrong-password-42');
    expect(await backend.handle(request('read', 'config/bad'))).toBeNull();
    await expectError(
      backend.handle(
        request('update', 'config/bad', {
          plugin_name: 'postgresql-database-plugin',
          connection_url: connectionUrl,
          username_template: '{{ nosuchfunc 3 }}',
          verify_connection: false,
        }),
      ),
      400,
      'unable to initialize username template: function "nosuchfunc" not defined',
    );
    // verify_connection=false stores without connecting.
    await backend.handle(
      request('update', 'config/unverified', {
        plugin_name: 'postgresql-database-plugin',
        connection_url: connectionUrl,
        username: rootUser,
        password: 'Wrong-password-42',
        allowed_roles: '*',
        verify_connection: false,
      }),
    );
    expect((await backend.handle(request('read', 'config/unverified')))?.data).toMatchObject({
      verify_connection: false,
    });
    await backend.handle(
      request('update', 'roles/unverified-role', { db_name: 'unverified', creation_statements: 'SELECT 1' }),
    );
    const unreachable = await expectError(
      backend.handle(request('read', 'creds/unverified-role')),
      500,
      'unable to get connection: password authentication failed',
    );
    expect(unreachable.message).not.toContain('Wrong-password-42');
    await backend.handle(request('delete', 'roles/unverified-role'));
    await backend.handle(request('delete', 'config/unverified'));
    // A literal password in connection_url works but draws Vault's warning.
    const literal = await backend.handle(
      request('update', 'config/literal', {
        plugin_name: 'postgresql-database-plugin',
        connection_url: `postgresql://${rootUser}:${encodeURIComponent(rootPassword)}@${db.host}:${db.port}/${db.name}`,
        password_policy: 'strict',
      }),
    );
    expect(literal?.warnings).toEqual([
      expect.stringContaining('password_policy "strict" is ignored'),
      'Password found in connection_url, use a templated url to enable root rotation and prevent read access to password information.',
    ]);
    await backend.handle(request('delete', 'config/literal'));
    expect(await backend.handle(request('read', 'config/unverified'))).toBeNull();
  });

  it('issues credentials that log in, with the default username template and password rules', async () => {
    const issuedAt = clock.now();
    const response = await creds('reader');
    const { username, password } = response.data as { username: string; password: string };
    expect(username).toMatch(/^v-token-reader-[A-Za-z0-9]{20}-\d{10}$/);
    expect(password).toHaveLength(20);
    expect(password).toMatch(/^[A-Za-z0-9-]+$/);
    for (const re of [/[a-z]/, /[A-Z]/, /[0-9]/, /-/]) expect(password).toMatch(re);
    expect(response.secret).toEqual({
      ttl: 3600,
      maxTtl: 7200,
      renewable: true,
      internal: { username, role: 'reader', db_name: 'pg', revocation_statements: [] },
    });
    expect(await tryLogin(db, username, password)).toBe('ok');
    // expiration = now + ttl + 5 s, at second precision
    const until = (await validUntil(db, username)) as number;
    expect(until).toBe(Math.floor((issuedAt + 3605_000) / 1000) * 1000);
  });

  it('answers unknown and not-allowed roles with Vault’s errors', async () => {
    await expectError(backend.handle(request('read', 'creds/nope')), 400, 'unknown role: nope');
    await backend.handle(
      request('update', 'roles/forbidden', { db_name: 'pg', creation_statements: 'SELECT 1' }),
    );
    await expectError(
      backend.handle(request('read', 'creds/forbidden')),
      500,
      '"forbidden" is not an allowed role',
    );
    await backend.handle(
      request('update', 'roles/orphan', { db_name: 'missing', creation_statements: 'SELECT 1' }),
    );
    await expectError(
      backend.handle(request('read', 'creds/orphan')),
      500,
      'failed to find entry for connection with name: "missing"',
    );
    await expectError(
      backend.handle(request('update', 'roles/x', { creation_statements: 'SELECT 1' })),
      400,
      'database name is required',
    );
    await expectError(
      backend.handle(request('update', 'roles/x', { db_name: 'pg' })),
      400,
      'empty creation statements',
    );
    await expectError(backend.handle(request('read', 'nothing/here')), 404, 'unsupported path');
  });

  it('runs creation statements in one transaction: a failing statement leaves no role behind', async () => {
    await backend.handle(
      request('update', 'roles/custom', {
        db_name: 'pg',
        creation_statements: `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}'; GRANT SELECT ON no_such_table TO "{{name}}";`,
      }),
    );
    const error = await expectError(
      backend.handle(request('read', 'creds/custom')),
      500,
      'failed to execute query:',
    );
    expect(error.message).toContain('no_such_table');
    const { rows } = await db.query("SELECT rolname FROM pg_roles WHERE rolname LIKE 'v-token-custom-%'");
    expect(rows).toEqual([]);
  });

  it('accepts a JSON array in a string and runs a standalone END block whole', async () => {
    await backend.handle(
      request('update', 'roles/multi', {
        db_name: 'pg',
        creation_statements: [
          JSON.stringify([
            `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}'`,
            'GRANT SELECT ON items TO "{{name}}"',
          ]),
          `DO $$ BEGIN EXECUTE 'COMMENT ON ROLE "{{name}}" IS ''made; by vault'''; END $$;`,
        ],
      }),
    );
    const response = await creds('multi');
    const { username, password } = response.data as { username: string; password: string };
    expect(await tryLogin(db, username, password)).toBe('ok');
    const { rows } = await db.query<{ description: string }>(
      'SELECT shobj_description(oid, $2) AS description FROM pg_roles WHERE rolname = $1',
      [username, 'pg_authid'],
    );
    expect(rows[0]?.description).toBe('made; by vault');
  });

  it('honours a custom username_template and renew_statements', async () => {
    await backend.handle(
      request('update', 'config/templated', {
        plugin_name: 'postgresql-database-plugin',
        connection_url: connectionUrl,
        username: rootUser,
        password: rootPassword,
        allowed_roles: '*',
        username_template: '{{ printf "app_%s_%s" (.RoleName | replace "-" "_") (random 6) | lowercase }}',
      }),
    );
    await backend.handle(
      request('update', 'roles/tpl-role', {
        db_name: 'templated',
        creation_statements: `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}';`,
        renew_statements: `ALTER ROLE "{{name}}" VALID UNTIL '{{expiration}}'; COMMENT ON ROLE "{{username}}" IS 'renewed';`,
      }),
    );
    const response = await creds('tpl-role');
    const { username, password } = response.data as { username: string; password: string };
    expect(username).toMatch(/^app_tpl_role_[a-z0-9]{6}$/);
    expect(await tryLogin(db, username, password)).toBe('ok');
    const newExpire = Date.now() + 600_000;
    await backend.renewSecret(leaseOf(response, 'tpl-role'), newExpire);
    expect(Math.abs(((await validUntil(db, username)) as number) - (newExpire + 5000))).toBeLessThan(1500);
    const { rows } = await db.query<{ description: string }>(
      'SELECT shobj_description(oid, $2) AS description FROM pg_roles WHERE rolname = $1',
      [username, 'pg_authid'],
    );
    expect(rows[0]?.description).toBe('renewed');
    await backend.revokeSecret(leaseOf(response, 'tpl-role'));
    expect(await roleExists(db, username)).toBe(false);
    await backend.handle(request('delete', 'roles/tpl-role'));
    await backend.handle(request('delete', 'config/templated'));
  });

  it('renews by moving VALID UNTIL (+5 s buffer)', async () => {
    const response = await creds('reader');
    const { username } = response.data as { username: string };
    const newExpire = Date.now() + 7000_000;
    await backend.renewSecret(leaseOf(response, 'reader'), newExpire);
    const until = (await validUntil(db, username)) as number;
    expect(Math.abs(until - (newExpire + 5000))).toBeLessThan(1500);
  });

  it('default revocation drops a role that holds grants; its password stops working', async () => {
    await backend.handle(
      request('update', 'roles/owner-writer', {
        db_name: 'pg',
        creation_statements: [
          `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';`,
          'GRANT SELECT, INSERT, UPDATE ON items TO "{{name}}"; GRANT USAGE, SELECT ON SEQUENCE items_id_seq TO "{{name}}";',
          'CREATE SCHEMA IF NOT EXISTS extra; CREATE TABLE IF NOT EXISTS extra.t (id int); GRANT USAGE ON SCHEMA extra TO "{{name}}"; GRANT SELECT ON extra.t TO "{{name}}";',
        ],
      }),
    );
    const response = await creds('owner-writer');
    const { username, password } = response.data as { username: string; password: string };
    expect(await tryLogin(db, username, password)).toBe('ok');
    await backend.revokeSecret(leaseOf(response, 'owner-writer'));
    expect(await roleExists(db, username)).toBe(false);
    expect(await tryLogin(db, username, password)).toBe('28P01');
    // Revoking again (role already gone) succeeds.
    await backend.revokeSecret(leaseOf(response, 'owner-writer'));
  });

  it('uses the role’s revocation statements, or the ones embedded in the lease when the role is gone', async () => {
    await backend.handle(
      request('update', 'roles/short', {
        db_name: 'pg',
        creation_statements: `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}';`,
        revocation_statements: `ALTER ROLE "{{name}}" NOLOGIN; DROP ROLE "{{username}}";`,
      }),
    );
    const response = await creds('short');
    const { username, password } = response.data as { username: string; password: string };
    expect(response.secret?.internal.revocation_statements).toEqual([
      `ALTER ROLE "{{name}}" NOLOGIN; DROP ROLE "{{username}}";`,
    ]);
    await backend.handle(request('delete', 'roles/short'));
    await backend.revokeSecret(leaseOf(response, 'short'));
    expect(await roleExists(db, username)).toBe(false);
    expect(await tryLogin(db, username, password)).toBe('28P01');
  });

  it('static roles: rotate on create, on rotate-role, and on schedule', async () => {
    await expectError(
      backend.handle(
        request('update', 'static-roles/static-app', {
          db_name: 'pg',
          username: staticUser,
          rotation_period: 2,
        }),
      ),
      400,
      'rotation_period must be 5 seconds or more',
    );
    await expectError(
      backend.handle(request('update', 'static-roles/static-app', { db_name: 'pg', username: staticUser })),
      400,
      'one of rotation_schedule or rotation_period must be provided',
    );
    await expectError(
      backend.handle(
        request('update', 'static-roles/reader', { db_name: 'pg', username: staticUser, rotation_period: 5 }),
      ),
      400,
      'Role and Static Role names must be unique',
    );
    expect(await tryLogin(db, staticUser, 'Initial-static-0123')).toBe('ok');
    await backend.handle(
      request('update', 'static-roles/static-app', {
        db_name: 'pg',
        username: staticUser,
        rotation_period: '5s',
      }),
    );
    expect(await tryLogin(db, staticUser, 'Initial-static-0123')).toBe('28P01');

    const read = async () =>
      (await backend.handle(request('read', 'static-creds/static-app')))?.data as Record<string, unknown>;
    const first = await read();
    secrets.push(first.password as string);
    expect(first).toMatchObject({ username: staticUser, rotation_period: 5 });
    expect(first.ttl).toBeGreaterThan(0);
    expect(first.ttl).toBeLessThanOrEqual(5);
    expect(Date.parse(first.last_vault_rotation as string)).toBe(clock.now());
    expect(await tryLogin(db, staticUser, first.password as string)).toBe('ok');
    const role = (await backend.handle(request('read', 'static-roles/static-app')))?.data;
    expect(role).toMatchObject({
      db_name: 'pg',
      username: staticUser,
      rotation_period: 5,
      rotation_statements: [],
    });
    expect(JSON.stringify(role)).not.toContain(first.password as string);

    await backend.handle(request('update', 'rotate-role/static-app'));
    const second = await read();
    secrets.push(second.password as string);
    expect(second.password).not.toBe(first.password);
    expect(second.ttl).toBeGreaterThanOrEqual(4);
    expect(second.ttl).toBeLessThanOrEqual(5);
    expect(await tryLogin(db, staticUser, first.password as string)).toBe('28P01');
    expect(await tryLogin(db, staticUser, second.password as string)).toBe('ok');

    // The scheduled rotation is due exactly 5 s after rotate-role: nothing happens a millisecond before it.
    const rotatedAt = Date.parse(second.last_vault_rotation as string);
    await clock.advanceTo(rotatedAt + 4999);
    expect((await read()).password).toBe(second.password);
    await clock.advance(1);
    const third = await read();
    expect(Date.parse(third.last_vault_rotation as string)).toBe(rotatedAt + 5000);
    expect(third.ttl).toBe(5);
    secrets.push(third.password as string);
    expect(third.password).not.toBe(second.password);
    expect(await tryLogin(db, staticUser, second.password as string)).toBe('28P01');
    expect(await tryLogin(db, staticUser, third.password as string)).toBe('ok');

    await expectError(
      backend.handle(request('update', 'rotate-role/nope')),
      400,
      'no static role found for role name',
    );
    await expectError(
      backend.handle(
        request('update', 'static-roles/static-ghost', {
          db_name: 'pg',
          username: 'lh_no_such_user',
          rotation_period: 60,
        }),
      ),
      500,
      'error setting credentials: failed to execute query: role "lh_no_such_user" does not exist',
    );
    expect(await backend.handle(request('read', 'static-roles/static-ghost'))).toBeNull();
    await expectError(
      backend.handle(
        request('update', 'static-roles/unlisted', {
          db_name: 'pg',
          username: staticUser,
          rotation_period: 60,
        }),
      ),
      500,
      '"unlisted" is not an allowed role',
    );
    await expectError(backend.handle(request('read', 'static-creds/nope')), 400, 'unknown role: nope');
    await backend.handle(request('delete', 'static-roles/static-app'));
    expect(await backend.handle(request('read', 'static-roles/static-app'))).toBeNull();
  });

  it('rotate-root changes the root password; the engine keeps working', async () => {
    await backend.handle(request('update', 'rotate-root/pg'));
    expect(await tryLogin(db, rootUser, rootPassword)).toBe('28P01');
    const config = await backend.handle(request('read', 'config/pg'));
    expect(JSON.stringify(config)).not.toMatch(/password"/);
    const response = await creds('reader');
    const { username, password } = response.data as { username: string; password: string };
    expect(await tryLogin(db, username, password)).toBe('ok');
    await backend.revokeSecret(leaseOf(response, 'reader'));
    expect(await roleExists(db, username)).toBe(false);
    rootPassword = '';
    await backend.handle(request('update', 'reset/pg'));
    await expectError(
      backend.handle(request('update', 'reset/none')),
      500,
      'failed to find entry for connection with name: "none"',
    );
  });
});
