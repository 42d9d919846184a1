import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** An isolated database created for one test file. */
export interface TestDatabase {
  /** Database name (`lh_test_<random>`). */
  name: string;
  /** Superuser URL pointing at this database. */
  url: string;
  /** Superuser URL of the server (the `postgres` database). */
  superuserUrl: string;
  /** Host and port of the server, for building other connection settings. */
  host: string;
  port: number;
  /** Runs one statement as the superuser in this database. */
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    sql: string,
    params?: unknown[],
  ): Promise<pg.QueryResult<R>>;
  /**
   * A role name for this test file: `<prefix>_<random>`, unique on the server (roles belong to the server, not to a
   * database, and several packages' runs share one server), and dropped by {@link TestDatabase.drop}. `prefix` must
   * be a plain lower-case SQL identifier, so the name needs no quoting.
   */
  roleName(prefix: string): string;
  /** Drops the database (terminating its sessions) and every role named by {@link TestDatabase.roleName}. */
  drop(): Promise<void>;
}

/** Replaces the database name of a PostgreSQL URL. */
export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

/**
 * Creates an isolated database on the test server, so that test files can run in parallel.
 * Call it in `beforeAll` and `drop()` it in `afterAll`.
 */
export async function createTestDatabase(superuserUrl: string): Promise<TestDatabase> {
  const name = `lh_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: superuserUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  const url = withDatabase(superuserUrl, name);
  const parsed = new URL(superuserUrl);
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  // pool.end() resolves before its sockets are closed; DROP DATABASE … WITH (FORCE) can then terminate one, and an
  // idle client's error would surface as the pool's unhandled 'error' event.
  pool.on('error', () => undefined);
  const roles: string[] = [];
  return {
    name,
    url,
    superuserUrl,
    host: parsed.hostname,
    port: Number(parsed.port || 5432),
    query: (sql, params) => pool.query(sql, params as unknown[]),
    roleName(prefix) {
      if (!/^[a-z_][a-z0-9_]{0,40}$/.test(prefix))
        throw new RangeError(
          `roleName: the prefix must be a lower-case SQL identifier of at most 41 characters (got "${prefix}").`,
        );
      const role = `${prefix}_${randomBytes(4).toString('hex')}`;
      roles.push(role);
      return role;
    },
    async drop() {
      await pool.end();
      const client = new pg.Client({ connectionString: superuserUrl });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
        // After the database: its objects held the roles' privileges. Newest first (a group role after its members).
        for (const role of [...roles].reverse()) await client.query(`DROP ROLE IF EXISTS "${role}"`);
      } finally {
        await client.end();
      }
    },
  };
}
