import { randomBytes } from 'node:crypto';
import type { DatabaseCredentials, SourceLease } from '@leasehold/core';
import { createRotatingPool, type RotatingPool } from '@leasehold/pg';
import {
  canLogin,
  createTestDatabase,
  type DopplerStandIn,
  poolUnitOfWork,
  startDopplerStandIn,
  startLoad,
  type TestDatabase,
  waitFor,
} from '@leasehold/test-env';
import type {} from '@leasehold/test-env/global-setup';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createDopplerLease } from '../src/index.js';

/**
 * A rotating pool over Doppler database credentials, against real PostgreSQL (password auth) and the Doppler
 * stand-in over HTTP: the test switches the service to a second role, then changes that role's password, each time
 * in PostgreSQL and in Doppler, under query load.
 */
describe('createRotatingPool over a Doppler lease (real PostgreSQL)', () => {
  const suffix = randomBytes(4).toString('hex');
  const roleA = `doppler_a_${suffix}`;
  const roleB = `doppler_b_${suffix}`;
  const secret = () => randomBytes(12).toString('hex');
  let db: TestDatabase;
  let doppler: DopplerStandIn;
  let lease: SourceLease<DatabaseCredentials> | undefined;
  let pool: RotatingPool | undefined;
  const poolErrors: Error[] = [];

  beforeAll(async () => {
    db = await createTestDatabase(inject('pgSuperuserUrl'));
    await db.query('CREATE TABLE items (id serial PRIMARY KEY, n int NOT NULL)');
    doppler = await startDopplerStandIn({ project: 'orders', config: 'prd' });
  });

  afterAll(async () => {
    if (pool && !pool.ending) await pool.end();
    await lease?.close();
    await doppler?.close();
    await db?.drop();
    const admin = new pg.Client({ connectionString: inject('pgSuperuserUrl') });
    await admin.connect();
    try {
      for (const role of [roleA, roleB]) await admin.query(`DROP ROLE IF EXISTS "${role}"`);
    } finally {
      await admin.end();
    }
  });

  async function createRole(role: string, password: string): Promise<void> {
    await db.query(`CREATE ROLE "${role}" LOGIN PASSWORD '${password}'`);
    await db.query(`GRANT SELECT, INSERT ON items TO "${role}"`);
    await db.query(`GRANT USAGE ON SEQUENCE items_id_seq TO "${role}"`);
  }

  /** Sessions of `role` in the test database, seen by the superuser. */
  async function sessionsOf(role: string): Promise<number> {
    const { rows } = await db.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1 AND datname = $2',
      [role, db.name],
    );
    return rows[0]?.n ?? 0;
  }

  it('follows a role switch and a password change made in PostgreSQL and Doppler: 0 failed queries, old connections drained', async () => {
    const passwordA = secret();
    await createRole(roleA, passwordA);
    doppler.setSecrets({ DB_USER: roleA, DB_PASSWORD: passwordA, UNRELATED: 'x' });

    lease = createDopplerLease({
      token: doppler.serviceToken,
      apiHost: doppler.url,
      env: {},
      pollIntervalMs: 200,
    });
    // A source's value has no end here, so the default rotation window (30 s) would apply in full: keep it short.
    pool = createRotatingPool({
      lease,
      host: db.host,
      port: db.port,
      database: db.name,
      max: 6,
      rotationWindowMs: 1000,
    });
    pool.on('error', (error) => poolErrors.push(error));
    const drained: number[] = [];
    pool.on('drained', (e) => drained.push(e.generation));
    const p = pool;

    const load = startLoad(6, (i) => poolUnitOfWork(p, i));
    await waitFor('load on the first role', () => load.ok > 50, 30_000);
    expect(pool.stats().generation).toBe(1);
    expect(await sessionsOf(roleA)).toBeGreaterThan(0);

    // An unrelated secret changes in Doppler: no rotation.
    doppler.updateSecrets({ UNRELATED: 'y' });
    const polled = doppler.requestCount;
    await waitFor('two more polls', () => doppler.requestCount >= polled + 2, 30_000);
    expect(pool.stats().rotations).toBe(0);

    // 1. Switch to a second role: created in PostgreSQL, then put into Doppler.
    const passwordB = secret();
    await createRole(roleB, passwordB);
    doppler.updateSecrets({ DB_USER: roleB, DB_PASSWORD: passwordB });
    await waitFor('the switch to the second role', () => pool?.stats().rotations === 1, 30_000);
    await waitFor('the first role drained', async () => (await sessionsOf(roleA)) === 0, 30_000);
    // The backends are gone; the pool reports the drain once its clients' end callbacks ran (no order between the two).
    await waitFor('generation 1 reported drained', () => drained.includes(1), 30_000);
    await waitFor('load on the second role', async () => (await sessionsOf(roleB)) > 0, 30_000);

    // 2. Change the second role's password: in PostgreSQL first, then in Doppler.
    const passwordB2 = secret();
    await db.query(`ALTER ROLE "${roleB}" PASSWORD '${passwordB2}'`);
    doppler.updateSecrets({ DB_PASSWORD: passwordB2 });
    await waitFor('the password change', () => pool?.stats().rotations === 2, 30_000);
    await waitFor('the connections of generation 2 drained', () => drained.includes(2), 30_000);
    const okBefore = load.ok;
    await waitFor('load after the password change', () => load.ok > okBefore + 50, 30_000);

    const { ok, failures } = await load.stop({ minOk: 151 });
    expect(failures.map((f) => String(f.error))).toEqual([]);
    expect(poolErrors.map(String)).toEqual([]);
    expect(ok).toBeGreaterThan(150);
    const stats = pool.stats();
    expect(stats.generation).toBe(3);
    expect(Object.keys(stats.connections).map(Number)).toEqual(expect.not.arrayContaining([1, 2]));
    expect(lease.current().value.username).toBe(roleB);
    expect(await canLogin(db, roleB, passwordB)).toBe(false);
    expect(await canLogin(db, roleB, passwordB2)).toBe(true);
    const { rows } = await pool.query<{ user: string }>('SELECT current_user AS user');
    expect(rows[0]?.user).toBe(roleB);
  });
});
