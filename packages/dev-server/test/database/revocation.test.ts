/**
 * Revocation under concurrency and failure, against the real PostgreSQL of the test run (password auth), over HTTP:
 * concurrent credential issues on one role all succeed and every role is gone once the leases expire; a lease whose
 * revocation fails is kept and retried (Vault's expiration manager), and an explicit revoke answers as Vault does.
 */
import { createTestDatabase, mountDatabaseEngine, type TestDatabase, waitFor } from '@leasehold/test-env';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type DevServer, ManualClock, startDevServer } from '../../src/index.js';
import { call } from '../helpers.js';
import { dropRoles, roleExists, uniqueName } from './helpers.js';

const CONCURRENT_ISSUES = 32;

describe('database leases: concurrent issues and failing revocations (real PostgreSQL)', () => {
  let db: TestDatabase;
  let server: DevServer;
  const group = uniqueName('lh_rgroup');
  const createdRoles = new Set<string>([group]);
  const logLines: string[] = [];
  const passwords: string[] = [];
  /** Expiry and the revocation backoff run on it; PostgreSQL's VALID UNTIL is far enough in the real future. */
  const clock = new ManualClock();

  beforeAll(async () => {
    db = await createTestDatabase(inject('pgSuperuserUrl'));
    await db.query('CREATE TABLE items (id serial PRIMARY KEY, n int NOT NULL)');
    await db.query(`CREATE ROLE "${group}" NOLOGIN`);
    await db.query(`GRANT SELECT, INSERT ON items TO "${group}"`);
    server = await startDevServer({
      clock,
      logger: (level, message, fields) =>
        logLines.push(`${level} ${message} ${JSON.stringify(fields ?? {})}`),
      // Vault's backoff (10 s × 2^attempt, ±50 %) on the manual clock; 4 attempts instead of 6 to keep it short.
      leaseRevocation: { maxAttempts: 4 },
    });
    await mountDatabaseEngine(server, db);
  });

  afterAll(async () => {
    await server?.close();
    await db?.drop();
    await dropRoles(inject('pgSuperuserUrl'), createdRoles);
  });

  const writeRole = async (name: string, body: Record<string, unknown>) => {
    const res = await call(server, 'POST', `database/roles/${name}`, { body: { db_name: 'test', ...body } });
    expect(res.status).toBe(204);
  };

  const rolesLeft = async (usernames: string[]): Promise<string[]> => {
    const { rows } = await db.query<{ rolname: string }>(
      'SELECT rolname FROM pg_roles WHERE rolname = ANY($1)',
      [usernames],
    );
    return rows.map((row) => row.rolname);
  };

  const lookup = (leaseId: string) =>
    call(server, 'PUT', 'sys/leases/lookup', { body: { lease_id: leaseId } });

  /** Issues `count` credentials of `role` at once; returns the answers' statuses, usernames and lease IDs. */
  const issueConcurrently = async (role: string, count: number) => {
    const answers = await Promise.all(
      Array.from({ length: count }, () => call(server, 'GET', `database/creds/${role}`)),
    );
    const usernames: string[] = [];
    const leaseIds: string[] = [];
    for (const answer of answers) {
      if (answer.status !== 200) continue;
      usernames.push(answer.body.data.username);
      leaseIds.push(answer.body.lease_id);
      createdRoles.add(answer.body.data.username);
      passwords.push(answer.body.data.password);
    }
    return { statuses: answers.map((answer) => answer.status), usernames, leaseIds };
  };

  for (const shape of [
    {
      name: 'direct table grants (every issue and revocation updates the same catalog rows)',
      role: 'direct',
      creation: [
        `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';`,
        'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "{{name}}";',
        'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO "{{name}}";',
      ],
    },
    {
      name: 'grants through a group role',
      role: 'grouped',
      creation: [
        `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}' IN ROLE "${group}";`,
      ],
    },
  ]) {
    it(`${CONCURRENT_ISSUES} concurrent issues on one role (${shape.name}) all succeed; 0 roles left after expiry`, async () => {
      await writeRole(shape.role, { creation_statements: shape.creation, default_ttl: '2s', max_ttl: '2s' });
      const { statuses, usernames, leaseIds } = await issueConcurrently(shape.role, CONCURRENT_ISSUES);
      const issuedRoles = (await rolesLeft(usernames)).length;

      // The 2 s leases all expire at the same instant, so their revocations run together.
      await clock.advance(1999);
      expect(await rolesLeft(usernames)).toHaveLength(CONCURRENT_ISSUES);
      await clock.advance(1);
      expect(logLines.filter((line) => line.includes('failed to revoke lease'))).toEqual([]);
      expect({
        failedIssues: statuses.filter((status) => status !== 200),
        distinctUsers: new Set(usernames).size,
        issuedRoles,
        rolesLeft: await rolesLeft(usernames),
      }).toEqual({
        failedIssues: [],
        distinctUsers: CONCURRENT_ISSUES,
        issuedRoles: CONCURRENT_ISSUES,
        rolesLeft: [],
      });
      for (const leaseId of leaseIds) expect((await lookup(leaseId)).status).toBe(400);
    }, 90_000);
  }

  it('a creation that meets a concurrent GRANT from another session is run again and succeeds', async () => {
    // Another session (say, a migration) changes the grants of `items` and keeps its transaction open: the issue's
    // GRANT on the same table waits for it, and PostgreSQL fails it with "tuple concurrently updated" once the other
    // transaction commits.
    await writeRole('granting', {
      creation_statements: [
        `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';`,
        'GRANT SELECT ON items TO "{{name}}";',
      ],
      default_ttl: '1h',
    });
    const other = new pg.Client({ connectionString: db.url });
    await other.connect();
    try {
      await other.query('BEGIN');
      await other.query(`GRANT UPDATE ON items TO "${group}"`);
      const issuing = call(server, 'GET', 'database/creds/granting');
      await waitFor(
        "the issue's GRANT to wait for the other transaction",
        async () =>
          (
            await db.query(
              "SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock' AND query LIKE 'GRANT%'",
              [db.name],
            )
          ).rowCount === 1,
        15_000,
      );
      await other.query('COMMIT');
      const issued = await issuing;
      expect(issued.status).toBe(200);
      createdRoles.add(issued.body.data.username);
      passwords.push(issued.body.data.password);
      expect(await roleExists(db, issued.body.data.username)).toBe(true);
      expect(
        logLines.some((line) => line.includes('transient conflict') && line.includes('tuple concurrently')),
      ).toBe(true);
    } finally {
      await other.query('ROLLBACK').catch(() => undefined);
      await other.end();
    }
  });

  /** Revocation statements that fail while the table `audit_log` does not exist (42P01), as after a bad migration. */
  const failingRevocation = ['REVOKE ALL ON audit_log FROM "{{name}}";', 'DROP ROLE "{{name}}";'];
  const missingTable = 'relation "audit_log" does not exist';
  const revokeEntryError = `failed to revoke entry: resp: (*logical.Response)(nil) err: ${missingTable}`;

  const writeFailingRole = (name: string, ttl: string) =>
    writeRole(name, {
      creation_statements: [
        `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}' IN ROLE "${group}";`,
      ],
      revocation_statements: failingRevocation,
      default_ttl: ttl,
      max_ttl: ttl,
    });

  const issue = async (role: string, token?: string) => {
    const res = await call(server, 'GET', `database/creds/${role}`, token ? { token } : {});
    expect(res.status).toBe(200);
    createdRoles.add(res.body.data.username);
    passwords.push(res.body.data.password);
    return { leaseId: res.body.lease_id as string, username: res.body.data.username as string };
  };

  /** Log lines of failed revocation attempts of one lease. */
  const failedAttempts = (leaseId: string) =>
    logLines.filter(
      (line) => line.includes('failed to revoke lease') && line.includes(JSON.stringify(leaseId)),
    );

  it('keeps an expired lease whose revocation fails and retries until it succeeds (expiry and token revocation)', async () => {
    await writeFailingRole('audited', '1s');
    server.writePolicy('audited-creds', 'path "database/creds/audited" { capabilities = ["read"] }');
    const created = await call(server, 'POST', 'auth/token/create', {
      body: { policies: ['audited-creds'] },
    });
    expect(created.status).toBe(200);
    const token = created.body.auth.client_token as string;

    const expiring = await issue('audited');
    const owned = await issue('audited', token);
    // Revoking the token revokes its leases; the failing one is kept and retried (Vault's RevokeByToken).
    expect((await call(server, 'POST', 'auth/token/revoke', { body: { token } })).status).toBe(204);
    const revokedAt = clock.now();
    expect(failedAttempts(owned.leaseId)).toHaveLength(1);
    expect(failedAttempts(expiring.leaseId)).toHaveLength(0);
    await clock.advance(1000);
    expect(failedAttempts(expiring.leaseId)).toHaveLength(1);
    for (const lease of [expiring, owned]) {
      expect(failedAttempts(lease.leaseId)[0]).toContain(JSON.stringify(revokeEntryError).slice(1, -1));
      const kept = await lookup(lease.leaseId);
      expect(kept.status).toBe(200);
      expect(kept.body.data).toMatchObject({ id: lease.leaseId, ttl: 0, renewable: false });
      expect(await roleExists(db, lease.username)).toBe(true);
      const renew = await call(server, 'PUT', 'sys/leases/renew', { body: { lease_id: lease.leaseId } });
      expect(renew.status).toBe(400);
      expect(renew.body.errors).toEqual(['lease expired']);
    }

    // The operator fixes the role's revocation statements; the next retry (backoff) uses them, as in Vault.
    await writeRole('audited', { revocation_statements: ['DROP ROLE "{{name}}";'] });
    // The first retry is due 10 s × 2¹ × (0.5…1.5) after each failure: not before 10 s, at the latest after 30 s.
    await clock.advanceTo(revokedAt + 9_999);
    expect(await rolesLeft([expiring.username, owned.username])).toHaveLength(2);
    await clock.advanceTo(revokedAt + 1000 + 30_000);
    expect(await rolesLeft([expiring.username, owned.username])).toEqual([]);
    expect((await lookup(expiring.leaseId)).status).toBe(400);
    expect((await lookup(owned.leaseId)).status).toBe(400);
  }, 60_000);

  it('an explicit revoke of a lease whose revocation fails answers 400 as Vault does and keeps the lease', async () => {
    await writeFailingRole('explicit', '1h');
    const first = await issue('explicit');
    const second = await issue('explicit');

    const revoke = await call(server, 'PUT', 'sys/leases/revoke', { body: { lease_id: first.leaseId } });
    expect(revoke.status).toBe(400);
    expect(revoke.body.errors).toEqual([revokeEntryError]);
    expect((await lookup(first.leaseId)).status).toBe(200);
    expect(await roleExists(db, first.username)).toBe(true);

    const prefix = await call(server, 'PUT', 'sys/leases/revoke-prefix/database/creds/explicit');
    expect(prefix.status).toBe(400);
    expect(prefix.body.errors).toHaveLength(1);
    expect(prefix.body.errors[0]).toMatch(
      /^failed to revoke "database\/creds\/explicit\/[A-Za-z0-9]{24}" \(1 \/ 2\): failed to revoke entry: /,
    );
    expect(prefix.body.errors[0]).toContain(missingTable);
    expect((await lookup(first.leaseId)).status).toBe(200);
    expect((await lookup(second.leaseId)).status).toBe(200);

    // revoke-force forgets the lease although the backend fails (Vault's RevokeForce); the role is left behind.
    const forced = await call(server, 'PUT', `sys/leases/revoke-force/${second.leaseId}`);
    expect(forced.status).toBe(204);
    expect((await lookup(second.leaseId)).status).toBe(400);
    expect(await roleExists(db, second.username)).toBe(true);

    // Once the database is fixed, the same explicit revoke succeeds and drops the role.
    await db.query('CREATE TABLE audit_log (id int)');
    try {
      expect(
        (await call(server, 'PUT', 'sys/leases/revoke', { body: { lease_id: first.leaseId } })).status,
      ).toBe(204);
      expect((await lookup(first.leaseId)).status).toBe(400);
      expect(await roleExists(db, first.username)).toBe(false);
    } finally {
      await db.query('DROP TABLE audit_log');
    }
  });

  it('marks a lease irrevocable after the maximum attempts, lists it as Vault does, and revoke-force removes it', async () => {
    await writeFailingRole('doomed', '1s');
    const lease = await issue('doomed');
    const mounts = await call(server, 'GET', 'sys/mounts');
    const accessor = mounts.body.data['database/'].accessor as string;

    const listIrrevocable = () => call(server, 'GET', 'sys/leases?type=irrevocable');
    const ours = (body: { data: { leases: { lease_id: string }[] } }) =>
      body.data.leases.filter((entry) => entry.lease_id.startsWith('database/creds/doomed/'));
    // Attempt 1 at expiry; after failure n the next attempt is due 10 s × 2^n × (0.5…1.5) later (the earliest timer:
    // every other lease of this server lives for an hour), and runs exactly then.
    await clock.advance(1000);
    for (let attempt = 1; attempt <= 3; attempt++) {
      expect(failedAttempts(lease.leaseId)).toHaveLength(attempt);
      const failedAt = clock.now();
      const retryAt = clock.nextTimerAt() ?? Number.NaN;
      expect(retryAt - failedAt).toBeGreaterThanOrEqual(10_000 * 2 ** attempt * 0.5);
      expect(retryAt - failedAt).toBeLessThanOrEqual(10_000 * 2 ** attempt * 1.5);
      await clock.advanceTo(retryAt - 1);
      expect(failedAttempts(lease.leaseId)).toHaveLength(attempt);
      await clock.advanceTo(retryAt);
    }
    const listed = await listIrrevocable();
    expect(listed.status).toBe(200);
    expect(ours(listed.body)).toEqual([
      { lease_id: lease.leaseId, mount_id: accessor, error: `out of retries: ${revokeEntryError}` },
    ]);
    const count = await call(server, 'GET', 'sys/leases/count?type=irrevocable');
    const total = listed.body.data.lease_count as number;
    expect(count.body.data).toEqual({ lease_count: total, counts: { [accessor]: total } });
    // 4 attempts (the option above): 3 retried failures, then the lease is given up on.
    expect(failedAttempts(lease.leaseId)).toHaveLength(3);
    expect(
      logLines.filter((line) => line.includes('lease marked irrevocable') && line.includes(lease.leaseId)),
    ).toHaveLength(1);
    const renew = await call(server, 'PUT', 'sys/leases/renew', { body: { lease_id: lease.leaseId } });
    expect(renew.body.errors).toEqual(['lease is expired and has failed previous revocation attempts']);
    expect((await lookup(lease.leaseId)).status).toBe(200);
    expect(await roleExists(db, lease.username)).toBe(true);
    // Without `type=irrevocable` Vault answers nothing.
    expect((await call(server, 'GET', 'sys/leases')).status).toBe(404);

    expect((await call(server, 'PUT', 'sys/leases/revoke-force/database/creds/doomed')).status).toBe(204);
    const after = await listIrrevocable();
    expect(ours(after.body)).toEqual([]);
    expect(after.body.data.lease_count).toBe(total - 1);
    expect((await lookup(lease.leaseId)).status).toBe(400);
  }, 90_000);

  it('never logs a generated or root password', () => {
    const joined = logLines.join('\n');
    expect(passwords.length).toBeGreaterThan(CONCURRENT_ISSUES);
    for (const password of [...passwords, decodeURIComponent(new URL(db.superuserUrl).password)])
      expect(joined).not.toContain(password);
  });
});
