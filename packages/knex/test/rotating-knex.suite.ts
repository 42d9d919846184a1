import { inspect } from 'node:util';
import { auth, createVault, type DatabaseCredentials, type LeaseSnapshot, type Vault } from '@leasehold/core';
import { type DevServer, startDevServer } from '@leasehold/dev-server';
import { createRotatingKnex, type RotatingKnex } from '@leasehold/knex';
import { RotatingPoolErrorCode } from '@leasehold/pg';
import {
  canLogin,
  createDatabaseRole,
  createTestDatabase,
  mountDatabaseEngine,
  onNewestGeneration,
  startLoad,
  type TestDatabase,
  vaultRequest,
  waitFor,
} from '@leasehold/test-env';
import type {} from '@leasehold/test-env/global-setup';
import { type TestTier, tierTests } from '@leasehold/test-env/tier';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

/**
 * createRotatingKnex against the dev server and real PostgreSQL. The main tier follows one rotation under load; the
 * soak tier (`rotating-knex.soak.test.ts`) five.
 */
export function defineRotatingKnexSuite(tier: TestTier): void {
  const { soak, mainOnly } = tierTests(tier);
  const ROTATIONS = soak ? 5 : 1;

  let db: TestDatabase;
  let server: DevServer;
  let vault: Vault;
  const instances: RotatingKnex[] = [];

  function open(role: string): RotatingKnex {
    const knex = createRotatingKnex({
      vault,
      role,
      client: 'pg',
      connection: { host: db.host, port: db.port, database: db.name },
      pool: { max: 6 },
    });
    knex.rotatingPool.on('error', () => undefined);
    instances.push(knex);
    return knex;
  }

  async function work(knex: RotatingKnex, i: number): Promise<void> {
    if (i % 2 === 0) {
      await knex('items').count({ n: '*' });
      return;
    }
    await knex.transaction(async (trx) => {
      await trx('items').insert({ n: i });
      await trx.raw('SELECT pg_sleep(0.005)');
    });
  }

  beforeAll(async () => {
    db = await createTestDatabase(inject('pgSuperuserUrl'));
    await db.query('CREATE TABLE items (id serial PRIMARY KEY, n int NOT NULL)');
    server = await startDevServer();
    await mountDatabaseEngine(server, db);
    await createDatabaseRole(server, 'fast', { defaultTtl: '6s', maxTtl: '6s' });
    await createDatabaseRole(server, 'oob', { defaultTtl: '60s', maxTtl: '120s' });
    await createDatabaseRole(server, 'oobplain', { defaultTtl: '60s', maxTtl: '120s' });
    vault = createVault({ address: server.url, auth: auth.token({ token: server.rootToken }) });
  });

  afterAll(async () => {
    await Promise.all(instances.map((k) => k.destroy()));
    await vault?.close();
    await server?.close();
    await db?.drop();
  });

  describe('createRotatingKnex', () => {
    mainOnly('rejects unsupported clients and credentials in `connection`', () => {
      expect(() => createRotatingKnex({ vault, role: 'fast', client: 'mysql2' as never })).toThrow(
        /Invalid option "client"/,
      );
      expect(() =>
        createRotatingKnex({ vault, role: 'fast', client: 'pg', connection: { user: 'x' } as never }),
      ).toThrow(/without user\/password/);
    });

    it(`evicts old-generation connections through ${ROTATIONS} rotation(s) under load: 0 failed queries`, async () => {
      const knex = open('fast');
      const pool = knex.rotatingPool;
      const previous: Array<LeaseSnapshot<DatabaseCredentials>> = [];
      const revoked = new Set<number>();
      pool.lease.on('rotated', (e) => {
        previous.push(e.previous);
      });
      pool.lease.on('revoked', (e) => {
        if (e.reason === 'rotated') revoked.add(e.generation);
      });
      const load = startLoad(8, (i) => work(knex, i));
      await waitFor(`${ROTATIONS} rotation(s)`, () => pool.stats().rotations >= ROTATIONS, 60_000);
      const { ok, failures } = await load.stop({ minOk: 51 });

      expect(failures.map((f) => String(f.error))).toEqual([]);
      expect(ok).toBeGreaterThan(50);
      await waitFor('old leases revoked', () => previous.every((p) => revoked.has(p.generation)));
      for (const p of previous) {
        expect(await canLogin(db, p.value.username, p.value.password.reveal())).toBe(false);
      }
      await waitFor('connections on the newest generation', () => onNewestGeneration(pool));
      const current = pool.lease.current();
      await knex.destroy();
      expect(pool.ended).toBe(true);
      expect(await canLogin(db, current.value.username, current.value.password.reveal())).toBe(false);
    }, 90_000);

    mainOnly(
      'recovers when the lease is revoked out of band: only transactions on the dropped role fail, typed',
      async () => {
        const knex = open('oob');
        await knex.raw('SELECT 1');
        const first = knex.rotatingPool.lease.current();
        const load = startLoad(8, (i) => work(knex, i));
        await waitFor('load running on the first generation', () => load.ok >= 20);
        await server.revokeLease(first.leaseId);
        await waitFor(
          'a new generation',
          () => knex.rotatingPool.lease.current().generation > first.generation,
        );
        const before = load.ok;
        await waitFor('work done on the new generation', () => load.ok >= before + 20);
        const { ok, failures } = await load.stop({ minOk: 21 });
        expect(ok).toBeGreaterThan(20);
        expect(knex.rotatingPool.lease.current().generation).toBeGreaterThan(first.generation);
        // Queries outside a transaction ran again on the new generation; a transaction whose connection lost its role
        // fails once with the typed error.
        for (const f of failures) {
          expect(f.error).toMatchObject({
            code: RotatingPoolErrorCode.ROLE_DROPPED,
            inTransaction: true,
            generation: first.generation,
          });
        }
        expect(failures.length).toBeLessThanOrEqual(8);
        const [row] = await knex('items').count({ n: '*' });
        expect(Number(row?.n)).toBeGreaterThan(0);
      },
      30_000,
    );

    mainOnly(
      'out-of-band lease revoke under 8 workers of plain Knex queries: 0 failed queries, a new generation serves',
      async () => {
        const knex = open('oobplain');
        await knex.raw('SELECT 1');
        const first = knex.rotatingPool.lease.current();
        const load = startLoad(8, async (i) => {
          if (i % 2 === 0) await knex('items').count({ n: '*' });
          else await knex('items').insert({ n: i });
        });
        await waitFor('load running on the first generation', () => load.ok >= 25);
        await vaultRequest(server, 'PUT', 'sys/leases/revoke', { lease_id: first.leaseId });
        await waitFor(
          'a new generation',
          () => knex.rotatingPool.stats().generation > first.generation,
          15_000,
        );
        const before = load.ok;
        await waitFor('work done on the new generation', () => load.ok >= before + 25);
        const { ok, failures } = await load.stop({ minOk: 51 });
        expect(failures.map((f) => String(f.error))).toEqual([]);
        expect(ok).toBeGreaterThan(50);
        const { rows } = await knex.raw<{ rows: Array<{ u: string }> }>('SELECT current_user AS u');
        expect(rows[0]?.u).toBe(knex.rotatingPool.lease.current().value.username);
        expect(rows[0]?.u).not.toBe(first.value.username);
      },
      40_000,
    );

    mainOnly('no password through util.inspect of the Knex instance, its pool and a connection', async () => {
      const knex = open('oobplain');
      await knex.raw('SELECT 1');
      const secret = knex.rotatingPool.lease.current().value.password.reveal();
      const connection = await knex.client.acquireConnection();
      try {
        for (const target of [knex, knex.client, knex.rotatingPool, connection]) {
          expect(inspect(target, { showHidden: true, depth: Number.POSITIVE_INFINITY })).not.toContain(
            secret,
          );
        }
      } finally {
        await knex.client.releaseConnection(connection);
      }
    });

    mainOnly('validates its options with typed errors naming the option', () => {
      const config = (fn: () => unknown, pattern: RegExp) =>
        expect(fn).toThrow(
          expect.objectContaining({ code: 'VAULT_CONFIG', message: expect.stringMatching(pattern) }),
        );
      config(
        () => (createRotatingKnex as (o?: unknown) => unknown)(),
        /^createRotatingKnex needs an options object/,
      );
      config(
        () => createRotatingKnex({ vault, role: 'x' } as never),
        /"client" of createRotatingKnex: is required/,
      );
      config(
        () => createRotatingKnex({ vault, role: 'x', client: 'pg', pool: { max: 0 } }),
        /"pool\.max".*got 0/,
      );
      config(
        () => createRotatingKnex({ vault, role: 'x', client: 'pg', pool: { acquireTimeoutMillis: -5 } }),
        /"pool\.acquireTimeoutMillis"/,
      );
      config(
        () => createRotatingKnex({ vault, role: 'x', client: 'pg', pool: { rotationWindowMs: 1.5 } }),
        /"pool\.rotationWindowMs".*got 1\.5/,
      );
      config(
        () => createRotatingKnex({ vault, role: 'x', client: 'pg', revokeOnEnd: 'no' as never }),
        /"revokeOnEnd" of createRotatingKnex: must be true or false/,
      );
      config(
        () =>
          createRotatingKnex({ vault, role: 'x', client: 'pg', connection: 'postgres://u:p@h/d' as never }),
        /"connection"/,
      );
      config(() => createRotatingKnex({ role: 'x', client: 'pg' } as never), /"vault"/);
    });
  });
}
