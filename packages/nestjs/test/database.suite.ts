import 'reflect-metadata';
import { auth, VaultError } from '@leasehold/core';
import { type DevServer, startDevServer } from '@leasehold/dev-server';
import { createRotatingKnex, type RotatingKnex } from '@leasehold/knex';
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
import {
  ConfigurableModuleBuilder,
  Controller,
  Get,
  type INestApplication,
  Inject,
  Injectable,
  Module,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { afterAll, beforeAll, describe, expect, expectTypeOf, inject, it } from 'vitest';
import {
  getPoolToken,
  InjectPool,
  InjectVault,
  type VaultDatabase,
  VaultModule,
  VaultService,
} from '../src/index.js';
import { listen } from './helpers.js';

/**
 * Databases provided by the NestJS module, against the dev server and real PostgreSQL. The main tier serves through
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

  /** The databases of the first test, as a type: what `@InjectPool('main')` injects follows from the factory. */
  type Databases = { main: { driver: typeof createRotatingPool; role: string } };

  @Controller()
  class AppController {
    constructor(
      @InjectVault() private readonly vault: VaultService,
      @InjectPool('main') private readonly pool: VaultDatabase<Databases, 'main'>,
    ) {}

    @Get('secret')
    async secret(): Promise<{ greeting: string }> {
      const { data } = await this.vault.kv.get<{ greeting: string }>('app');
      return { greeting: data.reveal().greeting };
    }

    @Get('items')
    async items(): Promise<{ count: number }> {
      const { rows } = await this.pool.query<{ n: string }>('SELECT count(*) AS n FROM items');
      return { count: Number(rows[0]?.n) };
    }
  }

  /** The error an application context of `module` fails to start with (undefined when it starts). */
  async function startupError(module: new () => unknown): Promise<unknown> {
    return NestFactory.createApplicationContext(module, { logger: false, abortOnError: false }).then(
      () => undefined,
      (e: unknown) => e,
    );
  }

  describe('VaultModule databases', () => {
    it(`routes answer 200 under concurrent requests through ${ROTATIONS} rotation(s); shutdown revokes the leases`, async () => {
      @Module({
        imports: [
          VaultModule.forRoot({
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
          }),
        ],
        controllers: [AppController],
      })
      class AppModule {}
      const app: INestApplication = await NestFactory.create(AppModule, {
        logger: false,
        abortOnError: false,
      });
      const url = await listen(app);
      const vault = app.get(VaultService);
      const leaseIds = new Set<string>();
      vault.on('lease:issued', (e) => leaseIds.add(e.leaseId));
      const pool = app.get<VaultDatabase<Databases, 'main'>>(getPoolToken('main'));
      expectTypeOf(pool).toEqualTypeOf<RotatingPool>();
      leaseIds.add(pool.lease.current().leaseId);
      let closed = false;
      try {
        let rotations = 0;
        vault.on('lease:rotated', () => {
          rotations++;
        });
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
        await app.close();
        closed = true;
        expect(vault.closed).toBe(true);
        // At the dev server: no lease of this app is left, and the database role of the last one is gone.
        expect(await leasesStillKnown(server, leaseIds)).toEqual([]);
        expect(await roleExists(db, last.value.username)).toBe(false);
        expect(server.requests({ path: 'sys/leases/revoke', status: 204 }).length).toBeGreaterThan(0);
      } finally {
        if (!closed) await app.close();
      }
    }, 90_000);

    mainOnly(
      "forRootAsync (databaseNames): a dependent module's async factory awaits the pool; knex driver too",
      async () => {
        interface ReportOptions {
          itemCount: number;
        }
        const { ConfigurableModuleClass, MODULE_OPTIONS_TOKEN } =
          new ConfigurableModuleBuilder<ReportOptions>().setClassMethodName('forRoot').build();
        @Injectable()
        class Reports {
          constructor(@Inject(MODULE_OPTIONS_TOKEN) readonly options: ReportOptions) {}
        }
        @Module({ providers: [Reports], exports: [Reports] })
        class ReportsModule extends ConfigurableModuleClass {}

        @Module({
          imports: [
            VaultModule.forRootAsync({
              isGlobal: true,
              databaseNames: ['main', 'reports'],
              useFactory: async () => ({
                address: server.url,
                auth: auth.token({ token: server.rootToken }),
                databases: {
                  main: {
                    driver: createRotatingPool,
                    role: 'steady',
                    host: db.host,
                    port: db.port,
                    database: db.name,
                    max: 2,
                  },
                  reports: {
                    driver: createRotatingKnex,
                    role: 'steady',
                    leaseOptions: { drainTimeoutMs: 5000 }, // its own handle, not the pg pool's
                    client: 'pg',
                    connection: { host: db.host, port: db.port, database: db.name },
                  },
                },
              }),
            }),
            ReportsModule.forRootAsync({
              inject: [getPoolToken('main')],
              useFactory: async (pool: RotatingPool) => {
                const { rows } = await pool.query<{ n: string }>('SELECT count(*) AS n FROM items');
                return { itemCount: Number(rows[0]?.n) };
              },
            }),
          ],
        })
        class AppModule {}
        const app = await NestFactory.createApplicationContext(AppModule, {
          logger: false,
          abortOnError: false,
        });
        try {
          expect(app.get(Reports).options.itemCount).toBeGreaterThanOrEqual(3);
          const knex = app.get<RotatingKnex>(getPoolToken('reports'));
          const rows = await knex('items').count<{ count: string }[]>('* as count');
          expect(Number(rows[0]?.count)).toBeGreaterThanOrEqual(3);
        } finally {
          await app.close();
        }
        const leases = app.get(VaultService).leases.list();
        expect(leases.every((l) => l.state === 'revoked')).toBe(true);
      },
      60_000,
    );

    mainOnly('fails to start with an error naming the database when its role does not exist', async () => {
      @Module({
        imports: [
          VaultModule.forRoot({
            address: server.url,
            auth: auth.token({ token: server.rootToken }),
            readyTimeoutMs: 5000,
            databases: {
              main: { driver: createRotatingPool, role: 'no-such-role', host: db.host, database: db.name },
            },
          }),
        ],
      })
      class AppModule {}
      const error = await startupError(AppModule);
      expect((error as Error).message).toMatch(/database "main" \(role "no-such-role"\) got no credentials/);
    });

    mainOnly(
      'forRootAsync: databaseNames naming a database the factory did not configure is VAULT_CONFIG',
      async () => {
        @Module({
          imports: [
            VaultModule.forRootAsync({
              databaseNames: ['main'],
              useFactory: () => ({ address: server.url, auth: auth.token({ token: server.rootToken }) }),
            }),
          ],
        })
        class AppModule {}
        const error = await startupError(AppModule);
        expect(VaultError.is(error, 'VAULT_CONFIG')).toBe(true);
        expect((error as Error).message).toMatch(
          /"databaseNames" of VaultModule\.forRootAsync: lists "main" but the options factory configured no "databases\.main"/,
        );
      },
    );

    mainOnly('a driver name or a factory without { lease } does not compile', () => {
      const wrong = () => [
        // @ts-expect-error a driver name is no longer accepted: pass the factory
        VaultModule.forRoot({ databases: { main: { driver: 'pg', role: 'app' } } }),
        VaultModule.forRoot({
          // @ts-expect-error the factory must accept { lease }
          databases: { main: { driver: (o: { host: string }) => o, role: 'app', host: 'db' } },
        }),
      ];
      expectTypeOf(wrong).toBeFunction();
    });
  });
}
