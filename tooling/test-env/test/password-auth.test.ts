import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../src/index.js';

describe('test PostgreSQL uses real password authentication', () => {
  let db: TestDatabase;
  const role = `lh_auth_${Date.now().toString(36)}`;

  beforeAll(async () => {
    db = await createTestDatabase(inject('pgSuperuserUrl'));
    await db.query(`CREATE ROLE "${role}" LOGIN PASSWORD 'right-password-123'`);
    await db.query(`GRANT CONNECT ON DATABASE "${db.name}" TO "${role}"`);
  });

  afterAll(async () => {
    await db.drop();
    const admin = new pg.Client({ connectionString: inject('pgSuperuserUrl') });
    await admin.connect();
    await admin.query(`DROP ROLE IF EXISTS "${role}"`);
    await admin.end();
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
