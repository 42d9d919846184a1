/**
 * The NestJS patterns of the ORMs: TypeORM through `TypeOrmModule.forRootAsync` fed by `VaultModule` (its DataSource
 * builds its pool from `createRotatingPgModule`), and Drizzle on a pool of `VaultModule`'s `databases`.
 */
import 'reflect-metadata';
import { auth, type DatabaseCredentials, type LeaseSnapshot } from '@leasehold/core';
import { type DevServer, startDevServer } from '@leasehold/dev-server';
import { createRotatingPgModule, createRotatingPool, type RotatingPool } from '@leasehold/pg';
import {
  assertClosedAndRevoked,
  createTestDatabase,
  leasesStillKnown,
  rotateUnderLoad,
  setupAppFixture,
  type TestDatabase,
} from '@leasehold/test-env';
import type {} from '@leasehold/test-env/global-setup';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { getDataSourceToken, InjectRepository, TypeOrmModule } from '@nestjs/typeorm';
import { count } from 'drizzle-orm';
import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import { integer, pgTable, serial } from 'drizzle-orm/pg-core';
import { type DataSource, EntitySchema, type Repository } from 'typeorm';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { getPoolToken, VaultModule, VaultService } from '../src/index.js';

interface Item {
  id: number;
  n: number;
}
const ItemEntity = new EntitySchema<Item>({
  name: 'Item',
  tableName: 'items',
  columns: { id: { type: Number, primary: true, generated: true }, n: { type: 'int' } },
});

let db: TestDatabase;
let server: DevServer;

beforeAll(async () => {
  db = await createTestDatabase(inject('pgSuperuserUrl'));
  server = await startDevServer({ port: 0 });
  await setupAppFixture(server, db, {
    roles: { fast: { defaultTtl: '6s', maxTtl: '6s' }, steady: { defaultTtl: '60s', maxTtl: '120s' } },
  });
});
afterAll(async () => {
  await server?.close();
  await db?.drop();
});

@Injectable()
class ItemsService {
  constructor(@InjectRepository(ItemEntity) readonly items: Repository<Item>) {}

  /** A read, a write or a transaction. */
  async work(i: number): Promise<void> {
    if (i % 3 === 0) await this.items.count();
    else if (i % 3 === 1) await this.items.insert({ n: i });
    else
      await this.items.manager.transaction(async (em) => {
        await em.insert(ItemEntity, { n: i });
        await em.count(ItemEntity);
      });
  }
}

describe('NestJS + TypeORM: TypeOrmModule.forRootAsync fed by VaultModule', () => {
  it('the DataSource follows 3 rotations under load; app.close() ends its pool and revokes every lease', async () => {
    @Module({
      imports: [
        VaultModule.forRoot({
          isGlobal: true,
          address: server.url,
          auth: auth.token({ token: server.rootToken }),
          readyTimeoutMs: 10_000,
        }),
        TypeOrmModule.forRootAsync({
          inject: [VaultService],
          useFactory: (vault: VaultService) => ({
            type: 'postgres' as const,
            driver: createRotatingPgModule({ vault, role: 'fast' }),
            host: db.host,
            port: db.port,
            database: db.name,
            poolSize: 6,
            entities: [ItemEntity],
          }),
        }),
        TypeOrmModule.forFeature([ItemEntity]),
      ],
      providers: [ItemsService],
    })
    class AppModule {}

    const app = await NestFactory.createApplicationContext(AppModule, { logger: false, abortOnError: false });
    let closed = false;
    try {
      const vault = app.get(VaultService);
      const leaseIds = new Set<string>();
      vault.on('lease:issued', (e) => leaseIds.add(e.leaseId));
      const dataSource = app.get<DataSource>(getDataSourceToken());
      const [pool] = (dataSource.options as { driver: ReturnType<typeof createRotatingPgModule> }).driver
        .pools;
      if (!pool) throw new Error('TypeORM built no pool');
      leaseIds.add(pool.lease.current().leaseId);
      const service = app.get(ItemsService);
      const result = await rotateUnderLoad(db, pool, (i) => service.work(i));
      expect(result.rotations).toBeGreaterThanOrEqual(3);
      const last = pool.lease.current();
      await app.close();
      closed = true;
      await assertClosedAndRevoked(db, pool, last);
      expect(await leasesStillKnown(server, leaseIds)).toEqual([]);
    } finally {
      if (!closed) await app.close();
    }
  }, 90_000);
});

const DRIZZLE = Symbol('drizzle');
type Db = NodePgDatabase & { $client: RotatingPool };
const items = pgTable('items', { id: serial('id').primaryKey(), n: integer('n').notNull() });

describe('NestJS + Drizzle: a provider over a VaultModule database', () => {
  it('serves on the rotating pool; app.close() ends it and revokes the lease', async () => {
    @Module({
      imports: [
        VaultModule.forRoot({
          address: server.url,
          auth: auth.token({ token: server.rootToken }),
          readyTimeoutMs: 10_000,
          databases: {
            main: {
              driver: createRotatingPool,
              role: 'steady',
              host: db.host,
              port: db.port,
              database: db.name,
            },
          },
        }),
      ],
      providers: [
        {
          provide: DRIZZLE,
          inject: [getPoolToken('main')],
          useFactory: (pool: RotatingPool) => drizzle({ client: pool }),
        },
      ],
      exports: [DRIZZLE],
    })
    class AppModule {}

    const app = await NestFactory.createApplicationContext(AppModule, { logger: false, abortOnError: false });
    const orm = app.get<Db>(DRIZZLE);
    const pool = orm.$client;
    const [row] = await orm.select({ n: count() }).from(items);
    expect(row?.n).toBeGreaterThanOrEqual(3);
    const current: LeaseSnapshot<DatabaseCredentials> = pool.lease.current();
    await app.close();
    await assertClosedAndRevoked(db, pool, current);
  });
});
