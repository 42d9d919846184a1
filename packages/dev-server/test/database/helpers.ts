import { randomBytes } from 'node:crypto';
import type { TestDatabase } from '@leasehold/test-env';
// Brings the typing of vitest's `inject('pgSuperuserUrl')` (ProvidedContext augmentation) into this package.
import type {} from '@leasehold/test-env/global-setup';
import pg from 'pg';

/** A unique, lowercase identifier prefix for one test file's roles. */
export const uniqueName = (prefix: string): string => `${prefix}_${randomBytes(4).toString('hex')}`;

/** Tries to log in to the test database with a password; returns `ok` or the SQLSTATE / error message. */
export async function tryLogin(db: TestDatabase, user: string, password: string): Promise<string> {
  const client = new pg.Client({
    host: db.host,
    port: db.port,
    database: db.name,
    user,
    password,
    connectionTimeoutMillis: 5_000,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
    return 'ok';
  } catch (error) {
    return (error as { code?: string }).code ?? (error as Error).message;
  } finally {
    await client.end().catch(() => {});
  }
}

/** `pg_roles.rolvaliduntil` of a role (ms since epoch), or `null` when unset, `undefined` when the role is gone. */
export async function validUntil(db: TestDatabase, role: string): Promise<number | null | undefined> {
  const { rows } = await db.query<{ rolvaliduntil: Date | null }>(
    'SELECT rolvaliduntil FROM pg_roles WHERE rolname = $1',
    [role],
  );
  if (rows.length === 0) return undefined;
  return rows[0]?.rolvaliduntil ? rows[0].rolvaliduntil.getTime() : null;
}

/** Whether a role exists in the cluster. */
export async function roleExists(db: TestDatabase, role: string): Promise<boolean> {
  return (await validUntil(db, role)) !== undefined;
}

/** Drops roles left behind by a test file (after its database was dropped), as the server superuser. */
export async function dropRoles(superuserUrl: string, roles: Iterable<string>): Promise<void> {
  const admin = new pg.Client({ connectionString: superuserUrl });
  await admin.connect();
  try {
    for (const role of roles) await admin.query(`DROP ROLE IF EXISTS "${role.replace(/"/g, '""')}"`);
  } finally {
    await admin.end();
  }
}
