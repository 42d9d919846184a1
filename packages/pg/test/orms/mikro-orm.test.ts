import { createRotatingPool, type RotatingPool } from '@leasehold/pg';
import { assertClosedAndRevoked, revokeUnderLoad, rotateUnderLoad } from '@leasehold/test-env';
import {
  createPostgreSqlTypeParsers,
  type EntityManager,
  EntitySchema,
  MikroORM,
} from '@mikro-orm/postgresql';
import { PostgresDialect } from 'kysely';
import pg from 'pg';
import Cursor from 'pg-cursor';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAST, type OrmFixture, SLOW, startOrmFixture } from './fixture.js';

interface Item {
  id: number;
  n: number;
}
const ItemEntity = new EntitySchema<Item>({
  name: 'Item',
  tableName: 'items',
  properties: { id: { type: 'number', primary: true }, n: { type: 'number' } },
});

let f: OrmFixture;
const orms: MikroORM[] = [];

/** The type parsers MikroORM installs on the pool it builds itself (it builds none when given a dialect). */
function mikroTypes(): pg.TypeOverrides {
  const types = new pg.TypeOverrides();
  const parseArray = (value: string): string[] =>
    (
      pg.types as unknown as {
        arrayParser: { create(s: string, t: (x: string) => string): { parse(): string[] } };
      }
    ).arrayParser
      .create(value, (x) => x)
      .parse();
  for (const [oid, parser] of Object.entries(createPostgreSqlTypeParsers(parseArray))) {
    types.setTypeParser(Number(oid), parser);
  }
  return types;
}

async function open(role: string): Promise<{ orm: MikroORM; pool: RotatingPool }> {
  const pool = createRotatingPool({ vault: f.vault, role, ...f.where, max: 6, types: mikroTypes() });
  pool.on('error', () => undefined);
  const orm = await MikroORM.init({
    entities: [ItemEntity],
    dbName: f.where.database,
    driverOptions: new PostgresDialect({ pool, cursor: Cursor }),
    allowGlobalContext: true,
  });
  orms.push(orm);
  return { orm, pool };
}

/** Reads, writes and MikroORM's own transactions (each unit on a forked EntityManager). */
async function work(orm: MikroORM, i: number): Promise<void> {
  const em: EntityManager = orm.em.fork();
  if (i % 3 === 0) await em.count(ItemEntity);
  else if (i % 3 === 1) await em.insert(ItemEntity, { n: i });
  else
    await em.transactional(async (tx) => {
      await tx.insert(ItemEntity, { n: i });
      await tx.execute('SELECT pg_sleep(0.005)');
      await tx.count(ItemEntity);
    });
}

beforeAll(async () => {
  f = await startOrmFixture({ fast: FAST, oob: SLOW });
});

afterAll(async () => {
  await Promise.all(orms.map((orm) => orm.close()));
  await f?.close();
});

describe('MikroORM 7 (PostgreSQL driver, Kysely underneath) with a rotating pool in a dialect', () => {
  it('follows 3 rotations under reads, writes and transactions; orm.close() ends the pool and revokes the lease', async () => {
    const { orm, pool } = await open('fast');
    const result = await rotateUnderLoad(f.db, pool, (i) => work(orm, i));
    expect(result.rotations).toBeGreaterThanOrEqual(3);
    const current = pool.lease.current();
    await orm.close();
    await assertClosedAndRevoked(f.db, pool, current);
  }, 90_000);

  it('out-of-band lease revoke: only statements on the dropped role fail, once each, with the typed error', async () => {
    const { orm, pool } = await open('oob');
    // MikroORM runs its statements through Kysely, on checked-out clients: as with a checked-out pg client, each
    // session that was on the dropped role fails its next statement once; a new session is on the new lease.
    const { first } = await revokeUnderLoad(
      pool,
      (id) => f.server.revokeLease(id),
      (i) => work(orm, i),
      {
        maxFailures: 6,
      },
    );
    const [row] = await orm.em.fork().execute<Array<{ u: string }>>('SELECT current_user AS u');
    expect(row?.u).toBe(pool.lease.current().value.username);
    expect(row?.u).not.toBe(first.value.username);
  }, 40_000);
});
