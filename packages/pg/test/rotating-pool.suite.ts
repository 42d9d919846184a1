import { auth, createVault, type DatabaseCredentials, type LeaseSnapshot, type Vault } from '@leasehold/core';
import { type DevServer, startDevServer } from '@leasehold/dev-server';
import {
  createRotatingPool,
  type PoolRotateEvent,
  type RotatingPool,
  RotatingPoolErrorCode,
  type RotatingPoolOptions,
} from '@leasehold/pg';
import {
  canLogin,
  createDatabaseRole,
  createTestDatabase,
  mountDatabaseEngine,
  onNewestGeneration,
  poolUnitOfWork,
  roleExists,
  sleep,
  startLoad,
  type TestDatabase,
  vaultRequest,
  waitFor,
} from '@leasehold/test-env';
import type {} from '@leasehold/test-env/global-setup';
import { type TestTier, tierTests } from '@leasehold/test-env/tier';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

/**
 * The rotating pool against the dev server and real PostgreSQL. Shared by `rotating-pool.test.ts` (main tier: one
 * rotation, a 2 s seal) and `rotating-pool.soak.test.ts` (soak tier: five rotations, a 10 s seal).
 */
export function defineRotatingPoolSuite(tier: TestTier): void {
  const { soak, mainOnly } = tierTests(tier);
  const ROTATIONS = soak ? 5 : 1;
  const SEAL_MS = soak ? 10_000 : 2000;

  let db: TestDatabase;
  let server: DevServer;
  let vault: Vault;

  const pools: RotatingPool[] = [];
  const poolErrors: Error[] = [];

  /** Creates a pool that afterAll ends (even when a test failed) and whose idle-client errors are collected. */
  function open(options: RotatingPoolOptions): RotatingPool {
    const pool = createRotatingPool(options);
    pool.on('error', (err) => poolErrors.push(err));
    pools.push(pool);
    return pool;
  }

  function poolOptions() {
    return { host: db.host, port: db.port, database: db.name };
  }

  beforeAll(async () => {
    db = await createTestDatabase(inject('pgSuperuserUrl'));
    await db.query('CREATE TABLE items (id serial PRIMARY KEY, n int NOT NULL)');
    server = await startDevServer();
    await mountDatabaseEngine(server, db);
    // A 16 s rotation margin (half the lease): the rotation window is what is left before the old lease is revoked
    // once 10 s are kept for the old connections' last work — about 5.5 s here, and still one when the re-issue lands
    // a few seconds late on a loaded machine.
    await createDatabaseRole(server, 'fast', { defaultTtl: '32s', maxTtl: '32s' });
    await createDatabaseRole(server, 'oob', { defaultTtl: '60s', maxTtl: '120s' });
    await createDatabaseRole(server, 'sealed', { defaultTtl: '30s', maxTtl: '60s' });
    await createDatabaseRole(server, 'ending', { defaultTtl: '60s', maxTtl: '120s' });
    await createDatabaseRole(server, 'closing', { defaultTtl: '60s', maxTtl: '120s' });
    vault = createVault({ address: server.url, auth: auth.token({ token: server.rootToken }) });
  });

  afterAll(async () => {
    await Promise.all(pools.filter((p) => !p.ending).map((p) => p.end()));
    await vault?.close();
    await server?.close();
    await db?.drop();
  });

  describe('createRotatingPool', () => {
    mainOnly('is a real pg.Pool and rejects bad options with a typed error', async () => {
      const pool = open({ vault, role: 'ending', ...poolOptions(), max: 2, revokeOnEnd: false });
      expect(pool).toBeInstanceOf(pg.Pool);
      const { rows } = await pool.query<{ one: number }>('SELECT 1 AS one');
      expect(rows[0]?.one).toBe(1);
      expect(pool.stats()).toMatchObject({ generation: 1, rotations: 0, connections: { 1: 1 } });
      await pool.end();

      expect(() => createRotatingPool({ role: 'x' } as never)).toThrow(/Invalid option "vault"/);
      expect(() => createRotatingPool({ vault, role: '' })).toThrow(/Invalid option "role"/);
      expect(() => createRotatingPool({ vault, role: 'x', credentials: 'weird' as never })).toThrow(
        expect.objectContaining({ code: 'VAULT_CONFIG' }),
      );
      expect(() => createRotatingPool({ vault, role: 'x', rotationWindowMs: -1 })).toThrow(
        expect.objectContaining({
          code: 'VAULT_CONFIG',
          message: expect.stringMatching(/"rotationWindowMs"/),
        }),
      );
      expect(() => createRotatingPool({ vault, role: 'x', rotationWindowMs: Number.NaN })).toThrow(
        /rotationWindowMs/,
      );
    });

    it(`follows ${ROTATIONS} rotation(s) under concurrent load: 0 failed queries, old leases revoked after drain`, async () => {
      // No idle timeout: under this light load pg-pool's default (10 s) closes a connection that sat at the bottom of
      // its idle stack and opens it again on the next busy moment — a connect no rotation caused, which the bound
      // on connects below would count.
      const pool = open({ vault, role: 'fast', ...poolOptions(), max: 8, idleTimeoutMillis: 0 });
      const previous: Array<LeaseSnapshot<DatabaseCredentials>> = [];
      const revoked = new Set<number>();
      const rotations: PoolRotateEvent[] = [];
      const drained: number[] = [];
      pool.lease.on('rotated', (e) => {
        previous.push(e.previous);
      });
      pool.lease.on('revoked', (e) => {
        if (e.reason === 'rotated') revoked.add(e.generation);
      });
      pool.on('rotate', (e) => rotations.push(e));
      pool.on('drained', (e) => drained.push(e.generation));
      // The rotation window: old connections keep serving after a rotation while replacements are opened one at a
      // time, so the pool never holds more than max + 2 connections.
      let oldServedAfterRotate = 0;
      let oldServedSinceLastRotate = 0;
      let mostOpen = 0;
      pool.on('rotate', () => {
        oldServedSinceLastRotate = 0;
      });
      pool.on('acquire', (client) => {
        const gen = pool.generationOf(client);
        if (gen !== undefined && gen < pool.stats().generation) {
          oldServedAfterRotate++;
          oldServedSinceLastRotate++;
        }
      });
      pool.on('connect', () => {
        mostOpen = Math.max(mostOpen, pool.totalCount);
      });

      const load = startLoad(8, (i) => poolUnitOfWork(pool, i));
      await waitFor(`${ROTATIONS} rotation(s)`, () => pool.stats().rotations >= ROTATIONS, 120_000);
      // The load goes on after the rotation until the old connections were seen serving beside the new ones (the
      // window). Stopping it at the rotation left a few milliseconds to see that, none on an overloaded machine.
      await waitFor('old connections serving after the rotation', () => oldServedSinceLastRotate >= 8);
      const { ok, failures } = await load.stop({ minOk: 51 });

      expect(failures.map((f) => String(f.error))).toEqual([]);
      expect(ok).toBeGreaterThan(50);
      // Every previous generation drains and its lease is revoked: the role can no longer log in.
      await waitFor('old leases revoked', () => previous.every((p) => revoked.has(p.generation)));
      for (const p of previous) {
        expect(await canLogin(db, p.value.username, p.value.password.reveal())).toBe(false);
        expect(await roleExists(db, p.value.username)).toBe(false);
      }
      expect(drained).toEqual(expect.arrayContaining(previous.map((p) => p.generation)));
      expect(rotations.length).toBe(pool.stats().rotations);
      // All connections are on the newest generation (a rotation may have happened meanwhile: wait for its drain).
      await waitFor('connections on the newest generation', () => onNewestGeneration(pool));
      // At most one connect per pooled connection per rotation (plus the first fill): a replacement, or pg-pool's own
      // connect in place of an old connection that closed before its replacement was open.
      const s = pool.stats();
      expect(s.connects).toBeLessThanOrEqual(8 * (s.rotations + 1));
      expect(oldServedAfterRotate).toBeGreaterThan(0);
      expect(mostOpen).toBeLessThanOrEqual(8 + 2);
      const current = pool.lease.current();
      await pool.end();
      expect(await canLogin(db, current.value.username, current.value.password.reveal())).toBe(false);
    }, 180_000);

    mainOnly(
      'recovers when the lease is revoked out of band: pool.query never fails, transactions fail typed',
      async () => {
        const pool = open({ vault, role: 'oob', ...poolOptions(), max: 8 });
        await pool.query('SELECT 1');
        const first = pool.lease.current();
        const load = startLoad(8, (i) => poolUnitOfWork(pool, i));
        await waitFor('load running on the first generation', () => load.ok >= 20);
        await server.revokeLease(first.leaseId);
        await waitFor('a new generation', () => pool.lease.current().generation > first.generation);
        const before = load.ok;
        await waitFor('work done on the new generation', () => load.ok >= before + 20);
        const { ok, failures } = await load.stop({ minOk: 21 });

        expect(ok).toBeGreaterThan(20);
        expect(pool.lease.current().generation).toBeGreaterThan(first.generation);
        // Only transactions on the dropped role failed (pool.query retried on the new generation), all with the typed
        // ROLE_DROPPED error, on the revoked generation.
        for (const f of failures) {
          expect(f.error).toMatchObject({
            code: RotatingPoolErrorCode.ROLE_DROPPED,
            inTransaction: true,
            generation: first.generation,
          });
        }
        expect(failures.length).toBeLessThanOrEqual(8);
        const { rows } = await pool.query<{ n: string }>('SELECT count(*) AS n FROM items');
        expect(Number(rows[0]?.n)).toBeGreaterThan(0);
        await waitFor('old connections drained', () => pool.stats().draining.length === 0);
        await pool.end();
      },
      30_000,
    );

    it(`keeps serving while Vault is sealed for ${SEAL_MS / 1000} s (credentials still valid)`, async () => {
      const pool = open({ vault, role: 'sealed', ...poolOptions(), max: 8, idleTimeoutMillis: 300 });
      await pool.query('SELECT 1');
      const load = startLoad(8, async (i) => {
        await poolUnitOfWork(pool, i);
        if (i === 0) await sleep(400); // lets connections go idle and reconnect during the seal
      });
      server.seal();
      const atSeal = load.ok;
      await sleep(SEAL_MS);
      // Work went on while Vault was sealed: a state reached before it returns (a loaded machine does less per
      // second), not a count of what fits in the seal.
      await waitFor('work done while sealed', () => load.ok >= atSeal + 20);
      server.unseal();
      await sleep(300);
      const { failures } = await load.stop();
      expect(failures.map((f) => String(f.error))).toEqual([]);
      expect(pool.stats().connects).toBeGreaterThan(1);
      await pool.end();
    }, 30_000);

    mainOnly(
      'follows a static role: a rejected login re-reads the password and retries once',
      async () => {
        const staticUser = db.roleName('static_app');
        await db.query(`CREATE ROLE ${staticUser} LOGIN PASSWORD 'initial-password'`);
        await db.query(`GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA public TO ${staticUser}`);
        await db.query(`GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO ${staticUser}`);
        await vaultRequest(server, 'POST', 'database/static-roles/static-app', {
          db_name: 'test',
          username: staticUser,
          rotation_period: '1h',
        });
        const pool = open({
          vault,
          role: 'static-app',
          credentials: 'static',
          ...poolOptions(),
          max: 4,
          maxUses: 10, // keeps connects happening under load
        });
        await pool.query('SELECT 1');
        const load = startLoad(6, (i) => poolUnitOfWork(pool, i));
        for (let n = 0; n < 2; n++) {
          await sleep(700);
          await vaultRequest(server, 'POST', 'database/rotate-role/static-app');
        }
        await waitFor('two static rotations', () => pool.stats().rotations >= 2);
        await sleep(300);
        const { ok, failures } = await load.stop({ minOk: 21 });
        expect(failures.map((f) => String(f.error))).toEqual([]);
        expect(ok).toBeGreaterThan(20);
        const s = pool.stats();
        expect(s.generation).toBe(3);
        expect(s.reissues).toBeGreaterThanOrEqual(2);
        expect(pool.lease.current().value.username).toBe(staticUser);
        await pool.end();
      },
      30_000,
    );

    mainOnly('end() drains and revokes the lease', async () => {
      const pool = open({ vault, role: 'ending', ...poolOptions(), max: 4 });
      const client = await pool.connect();
      const snap = pool.lease.current();
      const ended = pool.end();
      await sleep(100);
      expect(await canLogin(db, snap.value.username, snap.value.password.reveal())).toBe(true);
      client.release();
      await ended;
      expect(await canLogin(db, snap.value.username, snap.value.password.reveal())).toBe(false);
      expect(pool.lease.state).toBe('revoked');
    });

    mainOnly('end() revokes only after every connection, busy or idle, has really closed', async () => {
      const pool = open({ vault, role: 'closing', ...poolOptions(), max: 6 });
      const errors: unknown[] = [];
      const onUnhandled = (reason: unknown) => errors.push(reason);
      process.on('unhandledRejection', onUnhandled);
      const opened: pg.Client[] = [];
      const closed = new Set<pg.Client>();
      pool.on('connect', (client) => {
        opened.push(client as unknown as pg.Client);
        client.on('error', (err) => errors.push(err));
        client.once('end', () => closed.add(client as unknown as pg.Client));
      });
      try {
        // Six connections: three stay idle, three are busy when end() is called.
        const held = await Promise.all(Array.from({ length: 6 }, () => pool.connect()));
        for (const client of held.slice(3)) client.release();
        const busy = held
          .slice(0, 3)
          .map((client) => client.query('SELECT pg_sleep(0.2)').finally(() => client.release()));
        const username = pool.lease.current().value.username;
        // How many sockets had closed when the revocation started (pg-pool's end() alone resolves before they have).
        let closedAtRevoke = -1;
        const lease = pool.lease as { revoke: typeof pool.lease.revoke };
        const revoke = lease.revoke.bind(pool.lease);
        lease.revoke = (...args) => {
          closedAtRevoke = closed.size;
          return revoke(...args);
        };
        await pool.end();
        expect(opened).toHaveLength(6);
        expect(closedAtRevoke).toBe(6);
        expect(closed.size).toBe(6);
        expect(pool.stats().connections).toEqual({});
        // …so the busy queries completed and the revocation met no session of the role.
        await expect(Promise.all(busy)).resolves.toHaveLength(3);
        const sessions = await db.query(
          'SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1',
          [username],
        );
        expect(sessions.rows[0]?.n).toBe(0);
        expect(await roleExists(db, username)).toBe(false);
        expect(pool.lease.state).toBe('revoked');
        await sleep(100);
        expect(errors).toEqual([]);
      } finally {
        process.off('unhandledRejection', onUnhandled);
      }
    });
  });
}
