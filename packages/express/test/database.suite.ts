import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { auth, createVault } from '@leasehold/core';
import { type DevServer, startDevServer } from '@leasehold/dev-server';
import { createRotatingPool, type RotatingPool } from '@leasehold/pg';
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
import express from 'express';
import { afterAll, beforeAll, describe, expect, expectTypeOf, inject, it } from 'vitest';
import { createVaultExpress, gracefulShutdown, vaultMiddleware, vaultReadiness } from '../src/index.js';

/**
 * Databases hosted by the Express integration, against the dev server and real PostgreSQL. The main tier serves
 * through one rotation; the soak tier (`database.soak.test.ts`) through three.
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
      roles: { fast: { defaultTtl: '4s', maxTtl: '5s' } },
      secrets: { app: { greeting: 'hello' } },
    });
  });
  afterAll(async () => {
    await server?.close();
    await db?.drop();
  });

  describe('@leasehold/express with a rotating pool', () => {
    mainOnly(
      'types vx.db from the driver factories; a driver name or a factory without { lease } does not compile',
      () => {
        const make = () =>
          createVaultExpress({ databases: { main: { driver: createRotatingPool, role: 'app', max: 2 } } });
        expectTypeOf<ReturnType<typeof make>['db']['main']>().toEqualTypeOf<RotatingPool>();
        const wrong = () => [
          // @ts-expect-error a driver name is no longer accepted: pass the factory
          createVaultExpress({ databases: { main: { driver: 'pg', role: 'app' } } }),
          createVaultExpress({
            // @ts-expect-error the factory must accept { lease }
            databases: { main: { driver: (o: { host: string }) => o, role: 'app', host: 'db' } },
          }),
        ];
        expectTypeOf(wrong).toBeFunction();
        expect(() =>
          createVaultExpress({ databases: { main: { driver: 'pg', role: 'app' } } } as never),
        ).toThrow(/"databases\.main\.driver" of VaultHost: must be a database factory function/);
      },
    );

    it(`answers 200 under concurrent requests through ${ROTATIONS} rotation(s) on a hosted pool; gracefulShutdown revokes the leases`, async () => {
      const vault = createVault({ address: server.url, auth: auth.token({ token: server.rootToken }) });
      const vx = createVaultExpress({
        vault,
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
      const leaseIds = new Set<string>();
      vault.on('lease:issued', (e) => leaseIds.add(e.leaseId));
      let rotations = 0;
      vault.on('lease:rotated', () => {
        rotations++;
      });
      const app = express();
      app.use(vaultReadiness(vx), vaultMiddleware(vx));
      app.get('/secret', async (req, res) => {
        const { data } = await req.vault.kv.get<{ greeting: string }>('app');
        res.json({ greeting: data.reveal().greeting });
      });
      app.get('/items', async (_req, res) => {
        const { rows } = await vx.db.main.query<{ n: string }>('SELECT count(*) AS n FROM items');
        res.json({ count: Number(rows[0]?.n) });
      });
      const http = await new Promise<Server>((resolve) => {
        const s = app.listen(0, '127.0.0.1', () => resolve(s));
      });
      const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
      const { shutdown } = gracefulShutdown(http, vx, { signals: [] });
      let done = false;
      try {
        await vx.start();
        const pool = vx.db.main;
        leaseIds.add((await pool.lease.ready()).leaseId);
        const { ok, failures, finished } = await httpLoadUntil(
          url,
          ['/secret', '/items'],
          () => rotations >= ROTATIONS,
          { minOk: 31 },
        );
        expect(finished).toBe(true);
        expect(failures.map((f) => String(f.error))).toEqual([]);
        expect(ok).toBeGreaterThan(30);
        const last = pool.lease.current();
        expect(await leaseExists(server, last.leaseId)).toBe(true);
        await shutdown();
        done = true;
        expect(vault.closed).toBe(true);
        expect(pool.ended).toBe(true);
        expect(await leasesStillKnown(server, leaseIds)).toEqual([]);
        expect(await roleExists(db, last.value.username)).toBe(false);
      } finally {
        if (!done) await shutdown();
      }
    }, 90_000);
  });
}
