import { auth } from '@leasehold/core';
import { type DevServer, startDevServer } from '@leasehold/dev-server';
import { createRotatingPool, type RotatingPool } from '@leasehold/pg';
import { createRotatingPrismaAdapter, type RotatingPrismaAdapter } from '@leasehold/prisma';
import {
  createTestDatabase,
  httpLoadUntil,
  leaseExists,
  leasesStillKnown,
  roleExists,
  setupAppFixture,
  type TestDatabase,
} from '@leasehold/test-env';
import type {} from '@leasehold/test-env/global-setup';
import { type TestTier, tierTests } from '@leasehold/test-env/tier';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, expectTypeOf, inject, it } from 'vitest';
import { registerVault, vaultPlugin } from '../src/index.js';

/**
 * Databases decorated by the Fastify plugin, against the dev server and real PostgreSQL. The main tier serves through
 * one rotation; the soak tier (`database.soak.test.ts`) through three.
 */
export function defineDatabaseSuite(tier: TestTier): void {
  const { soak, mainOnly } = tierTests(tier);
  const ROTATIONS = soak ? 3 : 1;

  let db: TestDatabase;
  let server: DevServer;

  beforeAll(async () => {
    db = await createTestDatabase(inject('pgSuperuserUrl'));
    server = await startDevServer({ port: 0 });
    await setupAppFixture(server, db, {
      roles: { fast: { defaultTtl: '4s', maxTtl: '5s' }, steady: { defaultTtl: '60s', maxTtl: '120s' } },
      secrets: { app: { greeting: 'hello' } },
    });
  });
  afterAll(async () => {
    await server?.close();
    await db?.drop();
  });

  describe('vaultPlugin databases', () => {
    it(`app.db.main answers 200 under concurrent requests through ${ROTATIONS} rotation(s); close revokes the leases`, async () => {
      const app = await registerVault(Fastify(), {
        address: server.url,
        auth: auth.token({ token: server.rootToken }),
        readyTimeoutMs: 10_000,
        databases: {
          main: {
            driver: createRotatingPool,
            role: 'fast',
            host: db.host,
            port: db.port,
            database: db.name,
            max: 8,
          },
        },
      });
      expectTypeOf<typeof app.db.main>().toEqualTypeOf<RotatingPool>(); // type only: not open before listen()
      app.get('/secret', async () => {
        const { data } = await app.vault.kv.get<{ greeting: string }>('app');
        return { greeting: data.reveal().greeting };
      });
      app.get('/items', async () => {
        const { rows } = await app.db.main.query<{ n: string }>('SELECT count(*) AS n FROM items');
        return { count: Number(rows[0]?.n) };
      });
      const leaseIds = new Set<string>();
      app.vault.on('lease:issued', (e) => leaseIds.add(e.leaseId));
      let rotations = 0;
      app.vault.on('lease:rotated', () => {
        rotations++;
      });
      await app.listen({ port: 0, host: '127.0.0.1' });
      let closed = false;
      try {
        const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
        leaseIds.add(app.db.main.lease.current().leaseId);
        const { ok, failures, finished } = await httpLoadUntil(
          url,
          ['/secret', '/items'],
          () => rotations >= ROTATIONS,
          { minOk: 31 },
        );
        expect(finished).toBe(true);
        expect(failures.map((f) => String(f.error))).toEqual([]);
        expect(ok).toBeGreaterThan(30);
        const last = app.db.main.lease.current();
        expect(await leaseExists(server, last.leaseId)).toBe(true);
        await app.close();
        closed = true;
        expect(app.vault.closed).toBe(true);
        expect(await leasesStillKnown(server, leaseIds)).toEqual([]);
        expect(await roleExists(db, last.value.username)).toBe(false);
      } finally {
        if (!closed) await app.close();
      }
    }, 90_000);

    mainOnly(
      'driver createRotatingPrismaAdapter: app.db.reports is a Prisma driver adapter over a rotating pool, closed with the app',
      async () => {
        const app = await registerVault(Fastify(), {
          address: server.url,
          auth: auth.token({ token: server.rootToken }),
          databases: {
            reports: {
              driver: createRotatingPrismaAdapter,
              role: 'steady',
              host: db.host,
              port: db.port,
              database: db.name,
            },
          },
        });
        await app.ready();
        const adapter = app.db.reports;
        expectTypeOf(adapter).toEqualTypeOf<RotatingPrismaAdapter>();
        const leaseId = adapter.rotatingPool.lease.current().leaseId;
        try {
          const connection = await adapter.connect();
          const result = await connection.queryRaw({
            sql: 'SELECT count(*)::int AS n FROM items',
            args: [],
            argTypes: [],
          });
          expect(Number(result.rows[0]?.[0])).toBeGreaterThanOrEqual(3);
        } finally {
          await app.close();
        }
        expect(adapter.rotatingPool.ended).toBe(true);
        expect(await leasesStillKnown(server, [leaseId])).toEqual([]);
      },
    );

    mainOnly('app.ready() fails naming the database when its role does not exist', async () => {
      const app = Fastify();
      app.register(vaultPlugin, {
        address: server.url,
        auth: auth.token({ token: server.rootToken }),
        readyTimeoutMs: 5000,
        databases: {
          main: { driver: createRotatingPool, role: 'no-such-role', host: db.host, database: db.name },
        },
      });
      const error = await app.ready().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect((error as Error).message).toMatch(/database "main" \(role "no-such-role"\) got no credentials/);
      expect(app.vault.closed).toBe(true);
      expect(() => app.db.main).toThrow(/not open/);
      await app.close();
    });

    mainOnly('a driver name or a factory without { lease } does not compile', () => {
      const wrong = (app: ReturnType<typeof Fastify>) => [
        // @ts-expect-error a driver name is no longer accepted: pass the factory
        registerVault(app, { databases: { main: { driver: 'pg', role: 'app' } } }),
        registerVault(app, {
          // @ts-expect-error the factory must accept { lease }
          databases: { main: { driver: (o: { host: string }) => o, role: 'app', host: 'db' } },
        }),
      ];
      expectTypeOf(wrong).toBeFunction();
    });
  });
}
