/**
 * A rotating pool on a lease built from a credential source (`createSourceLease`), against real PostgreSQL with
 * password auth. A small source serves the credentials of real roles; the test changes them under load (ALTER ROLE
 * … PASSWORD, then a second role) and the source answers the new version at its next poll:
 * - `session` binding: the pool drains the old connections exactly as for a Vault re-issue — no query fails, every
 *   connection ends up on the newest generation and the old role has no session left;
 * - `login` binding (RDS IAM tokens): open connections stay (same backends before and after), new ones log in with
 *   the new password.
 * Deadlines are guards only.
 */
import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import {
  type CredentialBinding,
  type CredentialSource,
  createSourceLease,
  type DatabaseCredentials,
  Redacted,
  type SourceLease,
} from '@leasehold/core';
import { createRotatingPool, type PoolRotateEvent, type RotatingPool } from '@leasehold/pg';
import {
  canLogin,
  createTestDatabase,
  onNewestGeneration,
  poolUnitOfWork,
  startLoad,
  type TestDatabase,
  waitFor,
} from '@leasehold/test-env';
import type {} from '@leasehold/test-env/global-setup';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

interface Served {
  username: string;
  password: string;
  version: string;
  host?: string;
  port?: number;
  database?: string;
}

/** A credential source whose answer the test sets: what a Secrets Manager secret after a rotation looks like. */
class TestSource implements CredentialSource<DatabaseCredentials> {
  readonly kind = 'test';
  readonly name: string;
  readonly binding: CredentialBinding;
  served: Served;
  fetches = 0;
  /** Why the lease fetched, in order (`initial`, `changed`, `requested`, …). */
  readonly reasons: string[] = [];

  constructor(name: string, binding: CredentialBinding, served: Served) {
    this.name = name;
    this.binding = binding;
    this.served = served;
  }

  async version(): Promise<string> {
    return this.served.version;
  }

  async fetch(_signal: AbortSignal, reason: string) {
    this.fetches++;
    this.reasons.push(reason);
    const { username, password, version, host, port, database } = this.served;
    return {
      value: {
        username,
        password: Redacted.of(password),
        ...(host === undefined ? {} : { host }),
        ...(port === undefined ? {} : { port }),
        ...(database === undefined ? {} : { database }),
      },
      version,
    };
  }
}

const secret = (): string => `pw_${randomBytes(12).toString('hex')}`;

let db: TestDatabase;
const pools: RotatingPool[] = [];
const leases: SourceLease<DatabaseCredentials>[] = [];
const poolErrors: Error[] = [];

async function createRole(name: string): Promise<string> {
  const password = secret();
  await db.query(`CREATE ROLE "${name}" LOGIN PASSWORD '${password}'`);
  await db.query(`GRANT ALL ON ALL TABLES IN SCHEMA public TO "${name}"`);
  await db.query(`GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO "${name}"`);
  return password;
}

async function changePassword(name: string): Promise<string> {
  const password = secret();
  await db.query(`ALTER ROLE "${name}" PASSWORD '${password}'`);
  return password;
}

/** Backend pids of the sessions of `user` in the test database. */
async function sessionsOf(user: string): Promise<number[]> {
  const res = await db.query<{ pid: number }>(
    'SELECT pid FROM pg_stat_activity WHERE usename = $1 AND datname = $2 ORDER BY pid',
    [user, db.name],
  );
  return res.rows.map((r) => r.pid);
}

function open(source: TestSource, extra: Partial<pg.PoolConfig> & { rotationWindowMs?: number } = {}) {
  const lease = createSourceLease(source, { pollIntervalMs: 100 });
  leases.push(lease);
  const pool = createRotatingPool({
    lease,
    host: db.host,
    port: db.port,
    database: db.name,
    max: 4,
    idleTimeoutMillis: 0,
    ...extra,
  });
  pool.on('error', (err) => poolErrors.push(err));
  pools.push(pool);
  const rotations: PoolRotateEvent[] = [];
  pool.on('rotate', (e) => rotations.push(e));
  return { lease, pool, rotations };
}

beforeAll(async () => {
  db = await createTestDatabase(inject('pgSuperuserUrl'));
  await db.query('CREATE TABLE items (id serial PRIMARY KEY, n int NOT NULL)');
});

afterAll(async () => {
  await Promise.all(pools.map((p) => p.end().catch(() => undefined)));
  await Promise.all(leases.map((l) => l.close()));
  await db?.drop();
});

describe('RotatingPool on a credential source', () => {
  it('session binding: a password change and a switch to a second role under load — 0 failed queries, old connections drained', async () => {
    const first = await createRole('src_session_a');
    const source = new TestSource('session-db', 'session', {
      username: 'src_session_a',
      password: first,
      version: 'v1',
    });
    // A source's value has no end here, so the default rotation window (30 s) would apply in full: keep it short.
    const { lease, pool, rotations } = open(source, { rotationWindowMs: 1000 });
    await pool.query('SELECT 1');
    const load = startLoad(4, (i) => poolUnitOfWork(pool, i));
    let second = '';
    let third = '';
    try {
      await waitFor('load on 4 connections', () => pool.totalCount === 4 && load.ok > 20, 15_000);
      // 1. The password changes at the database, then the source serves it (as a Secrets Manager rotation does).
      second = await changePassword('src_session_a');
      source.served = { username: 'src_session_a', password: second, version: 'v2' };
      await waitFor('generation 2, generation 1 drained', () => onNewestGeneration(pool, 2), 20_000);
      // 2. A second role replaces the first.
      third = await createRole('src_session_b');
      source.served = { username: 'src_session_b', password: third, version: 'v3' };
      await waitFor('generation 3, generation 2 drained', () => onNewestGeneration(pool, 3), 20_000);
      const okBefore = load.ok;
      await waitFor('the load goes on', () => load.ok > okBefore + 20, 15_000);
    } finally {
      await load.stop();
    }
    expect(load.failures.map((f) => String(f.error))).toEqual([]);
    expect(rotations.map((r) => [r.generation, r.reason, r.retirePrevious])).toEqual([
      [2, 'source-changed', true],
      [3, 'source-changed', true],
    ]);
    // The first role's sessions are gone (drained and closed); the second role's are the pool's.
    await waitFor(
      'no session of the first role',
      async () => (await sessionsOf('src_session_a')).length === 0,
      10_000,
    );
    await waitFor(
      "the second role's sessions are the pool's",
      async () => (await sessionsOf('src_session_b')).length === pool.totalCount,
      15_000,
    );
    expect(lease.current().value.username).toBe('src_session_b');
    expect(await canLogin(db, 'src_session_a', first)).toBe(false);
    expect(poolErrors).toEqual([]);
    const shown = inspect([pool, lease, rotations], { depth: 6 });
    for (const p of [first, second, third]) expect(shown).not.toContain(p);
  }, 90_000);

  it('login binding: a password change under load keeps open connections; new ones use the new password', async () => {
    const first = await createRole('src_login');
    const source = new TestSource('login-db', 'login', {
      username: 'src_login',
      password: first,
      version: 't1',
    });
    const { pool, rotations } = open(source, { max: 8 });
    const load = startLoad(3, (i) => poolUnitOfWork(pool, i));
    let before: number[] = [];
    try {
      await waitFor('load on 3 connections', () => pool.totalCount === 3 && load.ok > 20, 15_000);
      // The pool counts a connection from the moment it starts connecting; PostgreSQL lists it once it logged in.
      await waitFor(
        '3 sessions in PostgreSQL',
        async () => (await sessionsOf('src_login')).length === 3,
        15_000,
      );
      before = await sessionsOf('src_login');
      expect(before).toHaveLength(3);
      const next = await changePassword('src_login');
      source.served = { username: 'src_login', password: next, version: 't2' };
      await waitFor('generation 2', () => pool.stats().generation === 2, 15_000);
      const okBefore = load.ok;
      await waitFor('the load goes on', () => load.ok > okBefore + 30, 15_000);
      // The open connections were kept: same backends, still generation 1, nothing draining.
      expect(await sessionsOf('src_login')).toEqual(before);
      expect(pool.stats().connections).toEqual({ 1: 3 });
      expect(pool.stats().draining).toEqual([]);
      // New connections (the pool grows to 8) log in with the new password: the old one is refused now.
      expect(await canLogin(db, 'src_login', first)).toBe(false);
      const extra = await Promise.all(Array.from({ length: 5 }, () => pool.connect()));
      try {
        const fresh = extra.filter((c) => pool.generationOf(c) === 2);
        expect(fresh.length).toBeGreaterThanOrEqual(2);
        for (const c of fresh) await c.query('SELECT 1');
      } finally {
        for (const c of extra) c.release();
      }
      expect(pool.stats().connections[2]).toBeGreaterThanOrEqual(2);
    } finally {
      await load.stop();
    }
    expect(load.failures.map((f) => String(f.error))).toEqual([]);
    expect(rotations.map((r) => [r.generation, r.reason, r.retirePrevious])).toEqual([
      [2, 'source-changed', false],
    ]);
    const after = await sessionsOf('src_login');
    for (const pid of before) expect(after).toContain(pid);
    expect(poolErrors).toEqual([]);
  }, 90_000);

  it('a login refused while the source is mid-rotation waits for the new version, then succeeds (no failed query)', async () => {
    const first = await createRole('src_gap');
    const source = new TestSource('gap-db', 'session', {
      username: 'src_gap',
      password: first,
      version: 'g1',
    });
    // Polls far apart: the new version reaches the pool through the refused login, not through a poll.
    const lease = createSourceLease(source, { pollIntervalMs: 600_000 });
    leases.push(lease);
    const pool = createRotatingPool({
      lease,
      host: db.host,
      port: db.port,
      database: db.name,
      max: 2,
      idleTimeoutMillis: 0,
    });
    pools.push(pool);
    await pool.query('SELECT 1');
    // The database changes first (a rotation's setSecret step); the source still answers the old version.
    const next = await changePassword('src_gap');
    // A fresh login (the pool's one connection is busy) is refused; the pool asks the lease to re-issue, the source
    // answers the same version, and the connect waits for the next rotation instead of failing.
    const busy = await pool.connect();
    const query = pool.query<{ u: string }>('SELECT current_user AS u');
    try {
      await waitFor(
        'a re-issue asked by the refused login',
        () => source.reasons.includes('requested'),
        15_000,
      );
      expect(pool.stats().generation).toBe(1);
      // The new version is published (finishSecret); the lease re-checks the source after a refused login.
      source.served = { username: 'src_gap', password: next, version: 'g2' };
      const res = await query;
      expect(res.rows[0]?.u).toBe('src_gap');
      expect(pool.stats().generation).toBe(2);
    } finally {
      busy.release();
    }
    expect(poolErrors).toEqual([]);
  }, 60_000);

  it('host, port and database from the credentials win over the pool options', async () => {
    const password = await createRole('src_target');
    const source = new TestSource('target-db', 'session', {
      username: 'src_target',
      password,
      version: 'x1',
      host: db.host,
      port: db.port,
      database: db.name,
    });
    // The pool's own options point nowhere useful: the credentials say where to connect.
    const { pool } = open(source, { host: 'db.invalid', port: 1, database: 'postgres' });
    const res = await pool.query<{ db: string; usr: string }>(
      'SELECT current_database() AS db, current_user AS usr',
    );
    expect(res.rows[0]).toEqual({ db: db.name, usr: 'src_target' });
  }, 30_000);

  it('credentials with an invalid port fail the connect with a clear error that names the field, never a secret', async () => {
    const password = await createRole('src_badport');
    const source = new TestSource('bad-db', 'session', {
      username: 'src_badport',
      password,
      version: 'b1',
      port: 70_000,
    });
    const { pool } = open(source);
    const err = await pool.query('SELECT 1').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'POOL_CREDENTIALS_UNAVAILABLE' });
    expect(String((err as Error).message)).toContain('"port" must be an integer from 1 to 65535');
    expect(inspect(err, { depth: 6 })).not.toContain(password);
  }, 30_000);
});
