/**
 * Faults a production pool meets: credentials refused while Vault cannot issue new ones (every wait is bounded by
 * connectionTimeoutMillis), a lease or token revoked out of band under load (no failed pool.query), secrets and
 * inspection, and option mistakes.
 */
import { inspect } from 'node:util';
import { auth, createVault, type Vault, VaultError } from '@leasehold/core';
import { type DevServer, startDevServer } from '@leasehold/dev-server';
import {
  createRotatingPool,
  RotatingPool,
  RotatingPoolError,
  RotatingPoolErrorCode,
  type RotatingPoolOptions,
} from '@leasehold/pg';
import {
  createDatabaseRole,
  createTestDatabase,
  mountDatabaseEngine,
  sleep,
  startLoad,
  type TestDatabase,
  vaultRequest,
  waitFor,
} from '@leasehold/test-env';
import type {} from '@leasehold/test-env/global-setup';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';

let db: TestDatabase;
let server: DevServer;
let vault: Vault;
let appVault: Vault;

const pools: RotatingPool[] = [];

function open(options: RotatingPoolOptions): RotatingPool {
  const pool = createRotatingPool(options);
  pool.on('error', () => undefined); // idle clients whose session was terminated
  pools.push(pool);
  return pool;
}

type RoleOptions = Extract<RotatingPoolOptions, { role: string }>;

function at(role: string, extra: Partial<RoleOptions> = {}): RoleOptions {
  return { vault, role, host: db.host, port: db.port, database: db.name, max: 8, ...extra };
}

/** 8 workers looping pool.query (a read and a write), as an application's request handlers would. */
function queryLoad(pool: RotatingPool) {
  return startLoad(8, async (i) => {
    if (i % 2 === 0) await pool.query('SELECT count(*) FROM items');
    else await pool.query('INSERT INTO items (n) VALUES ($1)', [i]);
  });
}

async function currentUser(pool: RotatingPool): Promise<string> {
  const { rows } = await pool.query<{ u: string }>('SELECT current_user AS u');
  return rows[0]?.u ?? '';
}

beforeAll(async () => {
  db = await createTestDatabase(inject('pgSuperuserUrl'));
  await db.query('CREATE TABLE items (id serial PRIMARY KEY, n int NOT NULL)');
  server = await startDevServer();
  await mountDatabaseEngine(server, db);
  for (const role of ['refused', 'first', 'leaserevoke', 'tokenrevoke', 'tx', 'inspect', 'genuine']) {
    await createDatabaseRole(server, role, { defaultTtl: '60s', maxTtl: '120s' });
  }
  vault = createVault({ address: server.url, auth: auth.token({ token: server.rootToken }) });
  // An AppRole login: its token can be revoked out of band and the client logs in again.
  await vaultRequest(server, 'POST', 'sys/auth/approle', { type: 'approle' });
  await vaultRequest(server, 'POST', 'sys/policies/acl/app', {
    policy: 'path "*" { capabilities = ["create", "read", "update", "delete", "list"] }',
  });
  await vaultRequest(server, 'POST', 'auth/approle/role/app', { token_policies: 'app', token_ttl: '20m' });
  const roleId = (
    await vaultRequest<{ data: { role_id: string } }>(server, 'GET', 'auth/approle/role/app/role-id')
  )?.data.role_id;
  const secretId = (
    await vaultRequest<{ data: { secret_id: string } }>(server, 'POST', 'auth/approle/role/app/secret-id')
  )?.data.secret_id;
  appVault = createVault({ address: server.url, auth: auth.appRole({ roleId: roleId ?? '', secretId }) });
});

afterEach(() => server?.clearFaults());

afterAll(async () => {
  await Promise.all(pools.filter((p) => !p.ending).map((p) => p.end()));
  await vault?.close();
  await appVault?.close();
  await server?.close();
  await db?.drop();
});

describe('every wait is bounded by the pool’s timeouts', () => {
  it('credentials refused while Vault answers 503: pool.query() fails with CREDENTIALS_UNAVAILABLE near connectionTimeoutMillis', async () => {
    const pool = open(at('refused', { connectionTimeoutMillis: 2000 }));
    expect(await currentUser(pool)).toBe(pool.lease.current().value.username);
    const { username } = pool.lease.current().value;
    // PostgreSQL now refuses the credentials, and the pooled sessions are gone: every query needs a new login.
    await db.query(`ALTER ROLE "${username}" PASSWORD 'not-the-leased-one'`);
    await db.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1', [username]);
    await waitFor('pooled sessions closed', () => pool.totalCount === 0);
    server.failNext({ path: 'database/creds/*', status: 503, error: 'injected outage', count: 100_000 });

    const started = Date.now();
    const error = await pool.query('SELECT 1').then(
      () => undefined,
      (e: unknown) => e,
    );
    const waited = Date.now() - started;
    expect(RotatingPoolError.is(error, RotatingPoolErrorCode.CREDENTIALS_UNAVAILABLE)).toBe(true);
    const typed = error as RotatingPoolError;
    expect(typed.message).toMatch(/connectionTimeoutMillis \(2000 ms\)/);
    expect(typed.message).toMatch(/rejected the login of generation 1 \(28P01\)/);
    expect(typed.message).not.toContain('not-the-leased-one');
    // The cause is Vault's error when the issue failed already, else PostgreSQL's refusal.
    expect(VaultError.is(typed.cause) || (typed.cause as { code?: string }).code === '28P01').toBe(true);
    // Guard, not a measurement: before, this waited for the whole outage (13–16 s).
    expect(waited).toBeLessThan(2000 * 3);

    // A checked-out client is bounded the same way.
    await expect(pool.connect()).rejects.toMatchObject({
      code: RotatingPoolErrorCode.CREDENTIALS_UNAVAILABLE,
    });

    // Once Vault answers again, the pool serves on new credentials.
    server.clearFaults();
    await waitFor(
      'a query on new credentials',
      () =>
        pool.query('SELECT 1').then(
          () => true,
          () => false,
        ),
      20_000,
    );
    expect(pool.stats().generation).toBeGreaterThan(1);
  }, 40_000);

  it('first credentials never issued: pool.query() fails with CREDENTIALS_UNAVAILABLE near connectionTimeoutMillis', async () => {
    server.failNext({ path: 'database/creds/first', status: 503, error: 'injected outage', count: 100_000 });
    const pool = open(at('first', { connectionTimeoutMillis: 1000 }));
    const started = Date.now();
    const error = await pool.query('SELECT 1').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RotatingPoolError);
    expect(error).toMatchObject({ code: RotatingPoolErrorCode.CREDENTIALS_UNAVAILABLE });
    expect((error as Error).message).toMatch(/no credentials have been issued yet/);
    expect(Date.now() - started).toBeLessThan(1000 * 5);
    server.clearFaults();
  }, 20_000);
});

describe('out-of-band revocation fails no pool.query()', () => {
  /** 8 workers of pool.query() while `revoke` runs: returns their outcome once a new generation served. */
  async function throughRevocation(pool: RotatingPool, revoke: () => Promise<unknown>) {
    await pool.query('SELECT 1');
    const first = pool.lease.current();
    const load = queryLoad(pool);
    await sleep(500);
    await revoke();
    await waitFor('a new generation', () => pool.stats().generation > first.generation, 15_000);
    await sleep(1000);
    const { ok, failures } = await load.stop({ minOk: 51 });
    expect(failures.map((f) => String(f.error))).toEqual([]);
    expect(ok).toBeGreaterThan(50);
    expect(await currentUser(pool)).toBe(pool.lease.current().value.username);
    expect(pool.lease.current().value.username).not.toBe(first.value.username);
  }

  it('lease revoked with sys/leases/revoke under 8 concurrent workers: 0 failed queries, a new generation serves', async () => {
    const pool = open(at('leaserevoke'));
    await throughRevocation(pool, () =>
      vaultRequest(server, 'PUT', 'sys/leases/revoke', { lease_id: pool.lease.current().leaseId }),
    );
  }, 40_000);

  it('token that owns the lease revoked under 8 concurrent workers: 0 failed queries, a new generation serves', async () => {
    const pool = open({ ...at('tokenrevoke'), vault: appVault });
    let accessor: string | undefined;
    await throughRevocation(pool, () => {
      accessor = appVault.health().token?.accessor;
      expect(accessor).toBeTruthy();
      return vaultRequest(server, 'POST', 'auth/token/revoke-accessor', { accessor });
    });
    expect(appVault.health().token?.accessor).not.toBe(accessor);
  }, 40_000);

  it('inside an explicit transaction the statement fails once with a typed ROLE_DROPPED error', async () => {
    const pool = open(at('tx'));
    const client = await pool.connect();
    await client.query('BEGIN');
    await client.query('INSERT INTO items (n) VALUES (1)');
    const first = pool.lease.current();
    await vaultRequest(server, 'PUT', 'sys/leases/revoke', { lease_id: first.leaseId });
    const error = await client.query('INSERT INTO items (n) VALUES (2)').catch((e: unknown) => e);
    expect(RotatingPoolError.is(error, RotatingPoolErrorCode.ROLE_DROPPED)).toBe(true);
    expect(error).toMatchObject({ inTransaction: true, sqlState: '42501', generation: first.generation });
    expect((error as Error).message).toMatch(/role of this connection .* was dropped.*revoked out of band/);
    expect((error as Error).message).toMatch(/run the whole transaction again/);
    expect(((error as Error).cause as { code?: string }).code).toBe('42501');
    await client.query('ROLLBACK').catch(() => undefined);
    client.release(error as Error);
    // The retry of the whole transaction, on a new client, succeeds on the new generation.
    const again = await pool.connect();
    try {
      await again.query('BEGIN');
      await again.query('INSERT INTO items (n) VALUES (2)');
      await again.query('COMMIT');
    } finally {
      again.release();
    }
    expect(pool.generationOf(again)).toBeGreaterThan(first.generation);
  }, 30_000);

  it('a genuine permission error (the role still exists) reaches the caller unchanged', async () => {
    const pool = open(at('genuine'));
    await pool.query('SELECT 1');
    await db.query('CREATE TABLE secret_things (id int)'); // created after the role: no grant on it
    const error = await pool.query('SELECT * FROM secret_things').then(
      () => 'no error',
      (e: unknown) => e,
    );
    expect(error).not.toBeInstanceOf(RotatingPoolError);
    expect((error as { code?: string }).code).toBe('42501');
    expect(pool.stats().generation).toBe(1);
    expect(pool.stats().reissues).toBe(0);
    expect(pool.stats().roleChecks).toBe(1);
    // Checked again only after a (real-time) pause, one check at a time: however long the machine takes between
    // the queries, five more permission errors at once cause at most one more check, and no re-issue.
    const more = await Promise.all(
      Array.from({ length: 5 }, () => pool.query('SELECT * FROM secret_things').catch((e: unknown) => e)),
    );
    for (const e of more) expect(e).toMatchObject({ code: '42501' });
    expect(pool.stats().roleChecks).toBeLessThanOrEqual(2);
    expect(pool.stats().reissues).toBe(0);
    expect(pool.stats().generation).toBe(1);
  }, 20_000);
});

describe('no secret through inspection', () => {
  it('util.inspect (showHidden, depth Infinity) and JSON.stringify show no password of a pool or its clients', async () => {
    const pool = open(at('inspect'));
    const client = await pool.connect();
    try {
      const { rows } = await client.query<{ u: string }>('SELECT current_user AS u');
      const { username, password } = pool.lease.current().value;
      expect(rows[0]?.u).toBe(username); // pg still authenticates with the hidden password
      const secret = password.reveal();
      expect(secret.length).toBeGreaterThan(8);
      for (const target of [client, pool, pool.options, pool.lease, pool.lease.current()]) {
        expect(inspect(target, { showHidden: true, depth: Number.POSITIVE_INFINITY })).not.toContain(secret);
        expect(
          inspect(target, { showHidden: true, depth: Number.POSITIVE_INFINITY, getters: true }),
        ).not.toContain(secret);
      }
      expect(JSON.stringify(pool.options)).not.toContain(secret);
      expect(JSON.stringify(pool.lease.current())).not.toContain(secret);
      expect(String((client as unknown as { password: unknown }).password)).not.toContain(secret);
    } finally {
      client.release();
    }
  });
});

describe('options', () => {
  it('every mistake is a VAULT_CONFIG error naming the option and the fix', () => {
    const config = (fn: () => unknown, pattern: RegExp) =>
      expect(fn).toThrow(
        expect.objectContaining({ code: 'VAULT_CONFIG', message: expect.stringMatching(pattern) }),
      );
    config(
      () => (createRotatingPool as (o?: unknown) => unknown)(),
      /^createRotatingPool needs an options object/,
    );
    config(() => createRotatingPool(null as never), /needs an options object, got null/);
    config(
      () => createRotatingPool({ ...at('x'), revokeOnEnd: 'no' as never }),
      /"revokeOnEnd" of createRotatingPool: must be true or false, got a string\. Pass true or false/,
    );
    config(() => createRotatingPool({ ...at('x'), detectDroppedRole: 'no' as never }), /"detectDroppedRole"/);
    config(
      () => createRotatingPool({ ...at('x'), connectionTimeoutMillis: -1 }),
      /"connectionTimeoutMillis".*got -1/,
    );
    config(
      () => createRotatingPool({ ...at('x'), connectionTimeoutMillis: 2 ** 31 }),
      /from 0 to 2147483647/,
    );
    config(
      () => createRotatingPool({ ...at('x'), idleTimeoutMillis: Number.NaN }),
      /"idleTimeoutMillis".*got NaN/,
    );
    config(() => createRotatingPool({ ...at('x'), max: 0 }), /"max".*an integer above 0, got 0/);
    config(() => createRotatingPool({ ...at('x'), max: 2, min: 3 }), /"min".*must not be above "max"/);
    config(() => createRotatingPool({ ...at('x'), maxUses: 0 }), /"maxUses"/);
    config(() => createRotatingPool({ ...at('x'), maxLifetimeSeconds: 1e9 }), /"maxLifetimeSeconds"/);
    config(
      () => createRotatingPool({ ...at('x'), password: 'p' } as never),
      /"password".*come from the Vault lease/,
    );
    config(() => createRotatingPool({ ...at('x'), user: 'u' } as never), /"user"/);
    config(
      () => createRotatingPool({ ...at('x'), connectionString: 'postgres://u:hunter2@h/db' }),
      /"connectionString".*must not contain a user or password/,
    );
    expect(() =>
      createRotatingPool({ ...at('x'), connectionString: 'postgres://u:hunter2@h/db' }),
    ).not.toThrow(/hunter2/);
    config(() => createRotatingPool({ ...at('x'), mount: '' }), /"mount"/);
    config(
      () => createRotatingPool({ ...at('x'), leaseOptions: 5 as never }),
      /"leaseOptions".*an object, got 5/,
    );
    config(() => createRotatingPool({ role: 'x' } as never), /"vault" of createRotatingPool: is required/);
    expect(createRotatingPool({ ...at('x'), maxUses: Number.POSITIVE_INFINITY })).toBeInstanceOf(
      RotatingPool,
    );
  });
});
