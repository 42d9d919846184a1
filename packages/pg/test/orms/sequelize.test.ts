import { createRotatingPgModule, type RotatingPgModule } from '@leasehold/pg';
import { assertClosedAndRevoked, revokeUnderLoad, rotateUnderLoad } from '@leasehold/test-env';
import { DataTypes, type Model, type ModelStatic, Sequelize } from 'sequelize';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAST, type OrmFixture, SLOW, startOrmFixture } from './fixture.js';

interface ItemAttributes {
  id: number;
  n: number;
}

let f: OrmFixture;
const opened: Array<{ sequelize: Sequelize; driver: RotatingPgModule }> = [];

function open(role: string): {
  sequelize: Sequelize;
  driver: RotatingPgModule;
  Item: ModelStatic<Model<ItemAttributes, { n: number }>>;
} {
  const driver = createRotatingPgModule({ vault: f.vault, role });
  const sequelize = new Sequelize({
    database: f.where.database,
    dialect: 'postgres',
    dialectModule: driver,
    host: f.where.host,
    port: f.where.port,
    pool: { max: 6 },
    logging: false,
  });
  const Item = sequelize.define<Model<ItemAttributes, { n: number }>>(
    'Item',
    { id: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true }, n: DataTypes.INTEGER },
    { tableName: 'items', timestamps: false },
  );
  opened.push({ sequelize, driver });
  return { sequelize, driver, Item };
}

function poolOf(driver: RotatingPgModule) {
  const [pool] = driver.pools;
  if (!pool) throw new Error('no session has been opened yet');
  return pool;
}

/** Reads, writes and Sequelize's own (managed) transactions. */
function work(sequelize: Sequelize, Item: ReturnType<typeof open>['Item']) {
  return async (i: number): Promise<void> => {
    if (i % 3 === 0) await Item.count();
    else if (i % 3 === 1) await Item.create({ n: i });
    else
      await sequelize.transaction(async (transaction) => {
        await Item.create({ n: i }, { transaction });
        await sequelize.query('SELECT pg_sleep(0.005)', { transaction });
        await Item.count({ transaction });
      });
  };
}

beforeAll(async () => {
  f = await startOrmFixture({ fast: FAST, oob: SLOW });
});

afterAll(async () => {
  for (const { sequelize, driver } of opened) {
    await sequelize.close().catch(() => undefined);
    await driver.end();
  }
  await f?.close();
});

describe('Sequelize (postgres dialect) with createRotatingPgModule as dialectModule', () => {
  it('follows 3 rotations under reads, writes and transactions; close() + end() revoke the lease', async () => {
    const { sequelize, driver, Item } = open('fast');
    await sequelize.authenticate();
    const pool = poolOf(driver);
    const [[row]] = (await sequelize.query('SELECT current_user AS u')) as [Array<{ u: string }>, unknown];
    expect(row?.u).toBe(pool.lease.current().value.username);
    const result = await rotateUnderLoad(f.db, pool, work(sequelize, Item));
    expect(result.rotations).toBeGreaterThanOrEqual(3);
    const current = pool.lease.current();
    await sequelize.close();
    await driver.end();
    await assertClosedAndRevoked(f.db, pool, current);
  }, 90_000);

  it('out-of-band lease revoke: only statements on the dropped role fail, once each, with the typed error', async () => {
    const { sequelize, driver, Item } = open('oob');
    await sequelize.authenticate();
    const pool = poolOf(driver);
    const { first } = await revokeUnderLoad(pool, (id) => f.server.revokeLease(id), work(sequelize, Item), {
      maxFailures: 6,
    });
    const [[row]] = (await sequelize.query('SELECT current_user AS u')) as [Array<{ u: string }>, unknown];
    expect(row?.u).toBe(pool.lease.current().value.username);
    expect(row?.u).not.toBe(first.value.username);
  }, 40_000);

  it('refuses a user name from the Sequelize options with a typed error naming it', async () => {
    const driver = createRotatingPgModule({ vault: f.vault, role: 'oob' });
    const sequelize = new Sequelize({
      database: f.where.database,
      username: 'someone',
      dialect: 'postgres',
      dialectModule: driver,
      host: f.where.host,
      port: f.where.port,
      logging: false,
    });
    opened.push({ sequelize, driver });
    await expect(sequelize.authenticate()).rejects.toMatchObject({
      code: 'VAULT_CONFIG',
      message: expect.stringMatching(/"user".*Sequelize: leave out/),
    });
  });
});
