/**
 * The AWS sources against real PostgreSQL (password auth) and the Secrets Manager stand-in over HTTP, through
 * `@leasehold/pg`'s rotating pool: RDS-style rotations under query load for both rotation strategies, RDS IAM
 * token refreshes, and refused AWS credentials.
 */
import { randomUUID } from 'node:crypto';
import {
  type CredentialSource,
  CredentialSourceError,
  createSourceLease,
  type DatabaseCredentials,
  type LeaseRotateEvent,
  type SourceLease,
} from '@leasehold/core';
import { createRotatingPool, type RotatingPool } from '@leasehold/pg';
import {
  canLogin,
  createRdsIamCheck,
  createTestDatabase,
  poolUnitOfWork,
  type SecretsManagerStandIn,
  startLoad,
  startSecretsManagerStandIn,
  type TestDatabase,
  waitFor,
} from '@leasehold/test-env';
import type {} from '@leasehold/test-env/global-setup';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { rdsIamCredentials, secretsManagerLease } from '../src/index.js';
import { APP, newPassword, REGION, ROTATOR, Rotator, rdsSecret } from './helpers.js';

const ROTATIONS = 3;
const GUARD_MS = 60_000;

let db: TestDatabase;
/** The group role holding the table's grants; every login role of the file is a member. Unique on the server. */
let appGroup: string;
let sm: SecretsManagerStandIn;
const pools: RotatingPool[] = [];
const leases: SourceLease<DatabaseCredentials>[] = [];
const poolErrors: Error[] = [];

beforeAll(async () => {
  db = await createTestDatabase(inject('pgSuperuserUrl'));
  await db.query('CREATE TABLE items (id serial PRIMARY KEY, n int NOT NULL)');
  appGroup = db.roleName('app_group');
  await db.query(`CREATE ROLE ${appGroup} NOLOGIN`);
  await db.query(`GRANT SELECT, INSERT ON items TO ${appGroup}`);
  await db.query(`GRANT USAGE ON SEQUENCE items_id_seq TO ${appGroup}`);
  sm = await startSecretsManagerStandIn({ identities: [APP, ROTATOR], region: REGION });
});

afterAll(async () => {
  for (const pool of pools) await pool.end().catch(() => undefined);
  for (const lease of leases) await lease.close();
  await sm?.close();
  await db?.drop();
});

function open(lease: SourceLease<DatabaseCredentials>, extra: { maxUses?: number } = {}): RotatingPool {
  if (!leases.includes(lease)) leases.push(lease);
  const pool = createRotatingPool({
    lease,
    host: db.host,
    port: db.port,
    database: db.name,
    max: 4,
    // A source's value has no end here, so the default rotation window (30 s) would apply in full: keep it short.
    rotationWindowMs: 1000,
    ...extra,
  });
  pool.on('error', (err) => poolErrors.push(err));
  pools.push(pool);
  return pool;
}

function smLease(secretId: string, credentials = APP): SourceLease<DatabaseCredentials> {
  return secretsManagerLease(
    {
      secretId,
      region: REGION,
      endpoint: sm.url,
      credentials: { accessKeyId: credentials.accessKeyId, secretAccessKey: credentials.secretAccessKey },
    },
    { pollIntervalMs: 200, retry: { initialMs: 50, maxMs: 500 } },
  );
}

async function sessionsOf(user: string): Promise<number> {
  const res = await db.query<{ n: string }>(
    'SELECT count(*) AS n FROM pg_stat_activity WHERE datname = $1 AND usename = $2',
    [db.name, user],
  );
  return Number(res.rows[0]?.n ?? 0);
}

function noFailures(load: { ok: number; failures: Array<{ error: unknown }> }): void {
  const first = load.failures.slice(0, 3).map((f) => String(f.error));
  expect(first).toEqual([]);
  expect(load.ok).toBeGreaterThanOrEqual(30);
}

describe('AWS Secrets Manager rotation under load', () => {
  it(`single user: ${ROTATIONS} rotations (password changed at setSecret, AWSPENDING used for the refused login) with 0 failed queries`, async () => {
    const password = newPassword();
    const user = db.roleName('sm_single');
    await db.query(`CREATE ROLE ${user} LOGIN PASSWORD '${password}' IN ROLE ${appGroup}`);
    const secretId = `rds/single-${randomUUID()}`;
    const secret = (pw: string) =>
      rdsSecret({ username: user, password: pw, host: db.host, port: db.port, dbname: db.name });
    sm.createSecret(secretId, secret(password), { rotationEnabled: true });
    const rotator = new Rotator(sm, secretId);
    const lease = smLease(secretId);
    const pool = open(lease);
    const rotated: Array<LeaseRotateEvent<DatabaseCredentials>['reason']> = [];
    pool.lease.on('rotated', (e) => rotated.push(e.reason));
    await pool.query('SELECT 1');
    const load = startLoad(6, (i) => poolUnitOfWork(pool, i));
    const passwords = [password];
    try {
      for (let r = 0; r < ROTATIONS; r++) {
        const next = newPassword();
        // createSecret: the new value as AWSPENDING.
        const token = await rotator.createSecret(secret(next));
        // setSecret: the database gets the new password; logins with the AWSCURRENT one are refused from now on.
        await db.query(`ALTER ROLE ${user} PASSWORD '${next}'`);
        passwords.push(next);
        // A new login now (a second pool on the same lease, as a scaled-out replica would open) is refused; the
        // pool re-issues, the source answers with AWSPENDING, and the login is retried with it.
        const probe = open(lease);
        expect((await probe.query<{ u: string }>('SELECT current_user AS u')).rows[0]?.u).toBe(user);
        await probe.end();
        expect(pool.lease.current().value.password.reveal()).toBe(next);
        // finishSecret: AWSCURRENT moves (AWSPREVIOUS follows); the source already serves that version.
        await rotator.finishSecret(token);
        expect(sm.stages(secretId)[token]).toContain('AWSCURRENT');
        await waitFor('old connections drained', () => pool.stats().draining.length === 0, GUARD_MS);
      }
    } finally {
      await load.stop();
      rotator.close();
    }
    noFailures(load);
    expect(rotated).toEqual(Array(ROTATIONS).fill('requested'));
    const s = pool.stats();
    expect(Object.keys(s.connections).map(Number)).toEqual([s.generation]);
    expect(await canLogin(db, user, passwords.at(-2) as string)).toBe(false);
    expect(await canLogin(db, user, passwords.at(-1) as string)).toBe(true);
    expect(poolErrors).toEqual([]);
  });

  it(`alternating users: ${ROTATIONS} rotations to a cloned role with 0 failed queries; the old user works until drained`, async () => {
    const users = [db.roleName('sm_alt'), db.roleName('sm_alt_clone')] as const;
    const first = newPassword();
    await db.query(`CREATE ROLE ${users[0]} LOGIN PASSWORD '${first}' IN ROLE ${appGroup}`);
    const secretId = `rds/alternating-${randomUUID()}`;
    const secret = (username: string, pw: string) =>
      rdsSecret({
        username,
        password: pw,
        host: db.host,
        port: db.port,
        dbname: db.name,
        masterarn: `arn:aws:secretsmanager:${REGION}:123456789012:secret:rds/master-AbCdEf`,
      });
    sm.createSecret(secretId, secret(users[0], first), { rotationEnabled: true });
    const rotator = new Rotator(sm, secretId);
    const pool = open(smLease(secretId));
    const rotated: string[] = [];
    pool.lease.on('rotated', (e) => rotated.push(e.reason));
    await pool.query('SELECT 1');
    const load = startLoad(6, (i) => poolUnitOfWork(pool, i));
    let current: { username: string; password: string } = { username: users[0], password: first };
    try {
      for (let r = 0; r < ROTATIONS; r++) {
        const username = users[(r + 1) % 2] as string;
        const next = { username, password: newPassword() };
        const token = await rotator.createSecret(secret(next.username, next.password));
        // setSecret: the other user gets the new password (the clone is created, with the same grants, once).
        const exists = await db.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [username]);
        if (exists.rowCount === 0)
          await db.query(`CREATE ROLE ${username} LOGIN PASSWORD '${next.password}' IN ROLE ${appGroup}`);
        else await db.query(`ALTER ROLE ${username} PASSWORD '${next.password}'`);
        await rotator.finishSecret(token);
        // The poll sees AWSCURRENT move; the pool rotates to the other user.
        await waitFor(
          'the pool on the new user',
          () => pool.lease.current().value.username === username,
          GUARD_MS,
        );
        // The previous user is untouched by this rotation: it still logs in while its connections drain.
        expect(await canLogin(db, current.username, current.password)).toBe(true);
        await waitFor('old connections drained', () => pool.stats().draining.length === 0, GUARD_MS);
        await waitFor(
          'no session of the old user',
          async () => (await sessionsOf(current.username)) === 0,
          GUARD_MS,
        );
        current = next;
      }
    } finally {
      await load.stop();
      rotator.close();
    }
    noFailures(load);
    expect(rotated).toEqual(Array(ROTATIONS).fill('source-changed'));
    expect(pool.stats().reissues).toBe(0);
    expect(await sessionsOf(current.username)).toBeGreaterThan(0);
    expect(poolErrors).toEqual([]);
  });

  it('AWS credentials the service refuses fail ready() with SOURCE_AUTH_FAILED', async () => {
    const secretId = `rds/refused-${randomUUID()}`;
    sm.createSecret(secretId, rdsSecret({ username: 'nobody', password: newPassword() }));
    const lease = smLease(secretId, { ...APP, secretAccessKey: 'not-the-key' });
    leases.push(lease);
    const error = await lease.ready({ timeoutMs: 10_000 }).catch((e: unknown) => e);
    expect(CredentialSourceError.is(error, 'SOURCE_AUTH_FAILED')).toBe(true);
    expect((error as Error).message).toContain(`aws-secrets-manager "${secretId}"`);
    expect((error as Error).message).toContain('InvalidSignatureException');
  });
});

describe('RDS IAM tokens', () => {
  it('the pool keeps working across token refreshes; every token verified; open connections kept', async () => {
    const iamUser = db.roleName('iam_app');
    await db.query(`CREATE ROLE ${iamUser} LOGIN IN ROLE ${appGroup}`);
    const check = createRdsIamCheck({
      identities: [APP],
      hostname: db.host,
      port: db.port,
      region: REGION,
      admin: (sql) => db.query(sql),
    });
    const signer = rdsIamCredentials({
      hostname: db.host,
      port: db.port,
      username: iamUser,
      database: db.name,
      region: REGION,
      credentials: { accessKeyId: APP.accessKeyId, secretAccessKey: APP.secretAccessKey },
      // 4 s instead of 15 min: the lease refreshes every 2 s (half the lifetime).
      tokenLifetimeMs: 4000,
    });
    // Real RDS checks the token at login; here the check verifies each token and makes it the role's password.
    const source: CredentialSource<DatabaseCredentials> = {
      ...signer,
      async fetch(signal, reason) {
        const value = await signer.fetch(signal, reason);
        await check.admit(value.value.password.reveal());
        return value;
      },
    };
    const lease = createSourceLease(source, { pollIntervalMs: 0 });
    const pool = open(lease, { maxUses: 25 });
    const refreshes: boolean[] = [];
    lease.on('rotated', (e) => refreshes.push(e.retirePrevious));
    const held = await pool.connect();
    const pid = (await held.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid;
    const load = startLoad(4, (i) => poolUnitOfWork(pool, i));
    try {
      await waitFor('3 token refreshes', () => refreshes.length >= 3, GUARD_MS);
    } finally {
      await load.stop();
    }
    noFailures(load);
    expect(refreshes.every((retire) => retire === false)).toBe(true);
    // A connection opened with the first token is still the same session after the refreshes.
    expect((await held.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid).toBe(pid);
    held.release();
    expect(check.refused).toEqual([]);
    expect(check.verified.length).toBeGreaterThanOrEqual(4);
    expect(new Set(check.verified.map((v) => v.user))).toEqual(new Set([iamUser]));
    expect(pool.stats().connects).toBeGreaterThan(1);
    expect(poolErrors).toEqual([]);
  });
});
