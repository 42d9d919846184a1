import 'reflect-metadata';
import { createRotatingPgModule } from '@leasehold/pg';
import { assertClosedAndRevoked, revokeUnderLoad, rotateUnderLoad } from '@leasehold/test-env';
import pg from 'pg';
import { DataSource, EntitySchema } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAST, type OrmFixture, SLOW, startOrmFixture } from './fixture.js';

interface Item {
  id: number;
  n: number;
}
const ItemEntity = new EntitySchema<Item>({
  name: 'Item',
  tableName: 'items',
  columns: { id: { type: Number, primary: true, generated: true }, n: { type: 'int' } },
});

let f: OrmFixture;
const sources: DataSource[] = [];

async function open(role: string, options: { username?: string } = {}): Promise<DataSource> {
  const driver = createRotatingPgModule({ vault: f.vault, role });
  const ds = new DataSource({
    type: 'postgres',
    driver,
    ...f.where,
    ...options,
    poolSize: 6,
    entities: [ItemEntity],
    poolErrorHandler: () => undefined,
  });
  sources.push(ds);
  await ds.initialize();
  return ds;
}

function poolOf(ds: DataSource) {
  const [pool] = (ds.options as { driver: ReturnType<typeof createRotatingPgModule> }).driver.pools;
  if (!pool) throw new Error('TypeORM created no pool');
  return pool;
}

/** Reads, writes and TypeORM's own transactions. */
async function work(ds: DataSource, i: number): Promise<void> {
  const items = ds.getRepository(ItemEntity);
  if (i % 3 === 0) await items.count();
  else if (i % 3 === 1) await items.insert({ n: i });
  else
    await ds.transaction(async (em) => {
      await em.insert(ItemEntity, { n: i });
      await em.query('SELECT pg_sleep(0.005)');
      await em.count(ItemEntity);
    });
}

beforeAll(async () => {
  f = await startOrmFixture({ fast: FAST, oob: SLOW, plain: SLOW });
});

afterAll(async () => {
  await Promise.all(sources.filter((s) => s.isInitialized).map((s) => s.destroy()));
  await f?.close();
});

describe('TypeORM (postgres driver) with createRotatingPgModule', () => {
  it('builds its pool from the module: a RotatingPool that is an instanceof pg.Pool, on the lease user', async () => {
    const ds = await open('plain');
    const pool = poolOf(ds);
    expect(pool).toBeInstanceOf(pg.Pool);
    const [row] = await ds.query<Array<{ u: string }>>('SELECT current_user AS u');
    expect(row?.u).toBe(pool.lease.current().value.username);
  });

  it('follows 3 rotations under reads, writes and transactions; destroy() ends the pool and revokes the lease', async () => {
    const ds = await open('fast');
    const pool = poolOf(ds);
    const result = await rotateUnderLoad(f.db, pool, (i) => work(ds, i));
    expect(result.rotations).toBeGreaterThanOrEqual(3);
    const current = pool.lease.current();
    await ds.destroy();
    await assertClosedAndRevoked(f.db, pool, current);
  }, 90_000);

  it('out-of-band lease revoke: only statements on the dropped role fail, once each, with the typed error', async () => {
    const ds = await open('oob');
    const pool = poolOf(ds);
    // TypeORM runs every statement on a checked-out client (not pool.query()), so as with a checked-out pg client
    // each session that was on the dropped role fails its next statement once; a new session is on the new lease.
    const { first } = await revokeUnderLoad(
      pool,
      (id) => f.server.revokeLease(id),
      (i) => work(ds, i),
      {
        maxFailures: 6,
      },
    );
    const [row] = await ds.query<Array<{ u: string }>>('SELECT current_user AS u');
    expect(row?.u).toBe(pool.lease.current().value.username);
    expect(row?.u).not.toBe(first.value.username);
  }, 40_000);

  it('refuses a username in the DataSource options with a typed error naming it', async () => {
    await expect(open('plain', { username: 'someone' })).rejects.toMatchObject({
      code: 'VAULT_CONFIG',
      message: expect.stringMatching(/"user".*Remove the user name and password/),
    });
  });

  it('createRotatingPgModule checks its options when it is called, with typed errors naming them', () => {
    const config = (fn: () => unknown, pattern: RegExp) =>
      expect(fn).toThrow(
        expect.objectContaining({ code: 'VAULT_CONFIG', message: expect.stringMatching(pattern) }),
      );
    config(
      () => (createRotatingPgModule as (o?: unknown) => unknown)(),
      /^createRotatingPgModule needs an options object/,
    );
    config(() => createRotatingPgModule({ role: 'x' } as never), /"vault"/);
    config(
      () => createRotatingPgModule({ vault: f.vault, role: 'x', poolOptions: { max: 0 } }),
      /"max".*got 0/,
    );
    config(
      () => createRotatingPgModule({ vault: f.vault, role: 'x', poolOptions: { password: 'p' } as never }),
      /"password"/,
    );
    const driver = createRotatingPgModule({ vault: f.vault, role: 'plain' });
    expect(driver.native).toBeNull();
    expect(driver.types).toBe(pg.types);
    expect(driver.pools).toEqual([]);
  });
});
