import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../src/index.js';

describe('test PostgreSQL uses real password authentication', () => {
  let db: TestDatabase;
  let role: string;

  beforeAll(async () => {
    db = await createTestDatabase(inject('pgSuperuserUrl'));
    role = db.roleName('lh_auth');
    await db.query(`CREATE ROLE "${role}" LOGIN PASSWORD 'right-password-123'`);
    await db.query(`GRANT CONNECT ON DATABASE "${db.name}" TO "${role}"`);
  });

  afterAll(async () => {
    await db.drop();
  });

  it('uses scram-sha-256 for stored passwords', async () => {
    const { rows } = await db.query<{ rolpassword: string }>(
      'select rolpassword from pg_authid where rolname = $1',
      [role],
    );
    expect(rows[0]?.rolpassword.startsWith('SCRAM-SHA-256$')).toBe(true);
  });

  it('refuses a wrong password with SQLSTATE 28P01', async () => {
    const client = new pg.Client({
      host: db.host,
      port: db.port,
      database: db.name,
      user: role,
      password: 'wrong',
    });
    const error = await client.connect().then(
      () => null,
      (e: unknown) => e as { code?: string },
    );
    await client.end().catch(() => {});
    expect(error).not.toBeNull();
    expect(error?.code).toBe('28P01');
  });

  it('accepts the right password', async () => {
    const client = new pg.Client({
      host: db.host,
      port: db.port,
      database: db.name,
      user: role,
      password: 'right-password-123',
    });
    await client.connect();
    const { rows } = await client.query<{ user: string }>('select current_user as user');
    await client.end();
    expect(rows[0]?.user).toBe(role);
  });

  it('gives each test file its own database', async () => {
    const { rows } = await db.query<{ db: string }>('select current_database() as db');
    expect(rows[0]?.db).toBe(db.name);
    expect(db.name).toMatch(/^lh_test_[0-9a-f]{12}$/);
  });
});

describe('createTestDatabase', () => {
  it('names roles uniquely on the server and drops them with the database', async () => {
    const own = await createTestDatabase(inject('pgSuperuserUrl'));
    const group = own.roleName('lh_group');
    const member = own.roleName('lh_group');
    expect(group).toMatch(/^lh_group_[0-9a-f]{8}$/);
    expect(member).not.toBe(group);
    await own.query(`CREATE ROLE ${group} NOLOGIN`);
    await own.query(`CREATE ROLE ${member} LOGIN PASSWORD 'member-password-1' IN ROLE ${group}`);
    await own.query(`CREATE TABLE t (id int)`);
    await own.query(`GRANT SELECT ON t TO ${group}`);
    await own.drop();
    const admin = new pg.Client({ connectionString: inject('pgSuperuserUrl') });
    await admin.connect();
    try {
      const left = await admin.query('SELECT rolname FROM pg_roles WHERE rolname = ANY($1)', [
        [group, member],
      ]);
      expect(left.rows).toEqual([]);
      const dbs = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [own.name]);
      expect(dbs.rowCount).toBe(0);
    } finally {
      await admin.end();
    }
  });

  it('refuses a role prefix that would need quoting, naming the rule', async () => {
    const own = await createTestDatabase(inject('pgSuperuserUrl'));
    try {
      expect(() => own.roleName('Bad-Name')).toThrow(/lower-case SQL identifier.*"Bad-Name"/);
      expect(() => own.roleName('x'.repeat(42))).toThrow(RangeError);
    } finally {
      await own.drop();
    }
  });
});
