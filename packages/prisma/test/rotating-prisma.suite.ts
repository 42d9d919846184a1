import { inspect } from 'node:util';
import { auth, createVault, type DatabaseCredentials, type LeaseSnapshot, type Vault } from '@leasehold/core';
import { type DevServer, startDevServer } from '@leasehold/dev-server';
import { createRotatingPrismaAdapter } from '@leasehold/prisma';
import {
  canLogin,
  createDatabaseRole,
  createTestDatabase,
  mountDatabaseEngine,
  onNewestGeneration,
  sleep,
  startLoad,
  type TestDatabase,
  vaultRequest,
  waitFor,
} from '@leasehold/test-env';
import type {} from '@leasehold/test-env/global-setup';
import { type TestTier, tierTests } from '@leasehold/test-env/tier';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { PrismaClient } from './generated/client.js';

/**
 * A generated Prisma client on a rotating pool, against the dev server and real PostgreSQL. The main tier follows one
 * rotation under load; the soak tier (`rotating-prisma.soak.test.ts`) five.
 */
export function defineRotatingPrismaSuite(tier: TestTier): void {
  const { soak, mainOnly } = tierTests(tier);
  const ROTATIONS = soak ? 5 : 1;

  let db: TestDatabase;
  let server: DevServer;
  let vault: Vault;
  const clients: PrismaClient[] = [];

  beforeAll(async () => {
    db = await createTestDatabase(inject('pgSuperuserUrl'));
    await db.query('CREATE TABLE items (id serial PRIMARY KEY, n int NOT NULL)');
    server = await startDevServer();
    await mountDatabaseEngine(server, db);
    await createDatabaseRole(server, 'fast', { defaultTtl: '8s', maxTtl: '8s' });
    await createDatabaseRole(server, 'oob', { defaultTtl: '60s', maxTtl: '120s' });
    vault = createVault({ address: server.url, auth: auth.token({ token: server.rootToken }) });
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.$disconnect()));
    await vault?.close();
    await server?.close();
    await db?.drop();
  });

  function adapterFor(role: string, max: number) {
    return createRotatingPrismaAdapter({ vault, role, host: db.host, port: db.port, database: db.name, max });
  }

  describe('createRotatingPrismaAdapter', () => {
    it(`runs a generated Prisma client through ${ROTATIONS} rotation(s) under load: 0 failed queries`, async () => {
      const adapter = adapterFor('fast', 6);
      const pool = adapter.rotatingPool;
      // Generous transaction waits: the test machine may be busy; a rotation itself never makes a checkout wait long.
      const prisma = new PrismaClient({ adapter, transactionOptions: { maxWait: 10_000, timeout: 20_000 } });
      clients.push(prisma);
      const previous: Array<LeaseSnapshot<DatabaseCredentials>> = [];
      const revoked = new Set<number>();
      pool.lease.on('rotated', (e) => {
        previous.push(e.previous);
      });
      pool.lease.on('revoked', (e) => {
        if (e.reason === 'rotated') revoked.add(e.generation);
      });
      // Credentials that ended before their replacement was issued (Vault or the machine too slow) would fail
      // queries through no fault of the pool: reported separately so a failure says which side it is.
      const expired: number[] = [];
      pool.lease.on('expired', (e) => expired.push(e.previous.generation));
      const late: string[] = [];
      pool.lease.on('rotated', (e) => {
        if (e.previous.expiresAt < Date.now())
          late.push(`generation ${e.previous.generation} replaced after it expired`);
      });

      const load = startLoad(6, async (i) => {
        if (i % 2 === 0) {
          await prisma.item.count();
        } else {
          await prisma.$transaction(async (tx) => {
            const item = await tx.item.create({ data: { n: i } });
            await tx.item.update({ where: { id: item.id }, data: { n: i + 1 } });
          });
        }
      });
      await waitFor(`${ROTATIONS} rotation(s)`, () => pool.stats().rotations >= ROTATIONS, 60_000);
      const { ok, failures } = await load.stop({ minOk: 51 });

      expect({ expired, late }).toEqual({ expired: [], late: [] });
      expect(failures.map((f) => String(f.error))).toEqual([]);
      expect(ok).toBeGreaterThan(50);
      await waitFor('old leases revoked', () => previous.every((p) => revoked.has(p.generation)));
      for (const p of previous) {
        expect(await canLogin(db, p.value.username, p.value.password.reveal())).toBe(false);
      }
      await waitFor('connections on the newest generation', () => onNewestGeneration(pool));
      expect(await prisma.item.count()).toBeGreaterThan(0);

      const current = pool.lease.current();
      await prisma.$disconnect(); // ends the pool (disposeExternalPool) and so revokes the lease
      await waitFor('pool ended', () => pool.ended);
      await waitFor('lease revoked', () => pool.lease.state === 'revoked');
      expect(await canLogin(db, current.value.username, current.value.password.reveal())).toBe(false);
    }, 90_000);

    mainOnly(
      'out-of-band lease revoke under 8 workers of Prisma queries: 0 failed queries, a new generation serves',
      async () => {
        const adapter = adapterFor('oob', 10);
        const pool = adapter.rotatingPool;
        const prisma = new PrismaClient({ adapter });
        clients.push(prisma);
        await prisma.item.count();
        const first = pool.lease.current();
        const load = startLoad(8, async (i) => {
          if (i % 2 === 0) await prisma.item.count();
          else await prisma.item.create({ data: { n: i } });
        });
        await sleep(500);
        await vaultRequest(server, 'PUT', 'sys/leases/revoke', { lease_id: first.leaseId });
        await waitFor('a new generation', () => pool.stats().generation > first.generation, 15_000);
        await sleep(1000);
        const { ok, failures } = await load.stop({ minOk: 51 });
        expect(failures.map((f) => String(f.error))).toEqual([]);
        expect(ok).toBeGreaterThan(50);
        const rows = await prisma.$queryRaw<Array<{ u: string }>>`SELECT current_user AS u`;
        expect(rows[0]?.u).toBe(pool.lease.current().value.username);
        expect(rows[0]?.u).not.toBe(first.value.username);

        // No password through inspection of the adapter, its pool, or the Prisma client.
        const secret = pool.lease.current().value.password.reveal();
        for (const target of [adapter, pool]) {
          expect(inspect(target, { showHidden: true, depth: Number.POSITIVE_INFINITY })).not.toContain(
            secret,
          );
        }
      },
      40_000,
    );

    mainOnly('validates its options with typed errors naming the option', () => {
      const config = (fn: () => unknown, pattern: RegExp) =>
        expect(fn).toThrow(
          expect.objectContaining({ code: 'VAULT_CONFIG', message: expect.stringMatching(pattern) }),
        );
      config(
        () => (createRotatingPrismaAdapter as (o?: unknown) => unknown)(),
        /^createRotatingPrismaAdapter needs an options object/,
      );
      config(
        () => createRotatingPrismaAdapter({ vault, role: 'oob', detectDroppedRole: 'no' as never }),
        /"detectDroppedRole" of createRotatingPrismaAdapter: must be true or false/,
      );
      config(() => createRotatingPrismaAdapter({ vault, role: 'oob', adapter: 'x' as never }), /"adapter"/);
      config(() => createRotatingPrismaAdapter({ role: 'oob' } as never), /"vault"/);
    });
  });
}
