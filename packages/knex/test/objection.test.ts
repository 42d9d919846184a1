import { auth, createVault, type Vault } from '@leasehold/core';
import { type DevServer, startDevServer } from '@leasehold/dev-server';
import { createRotatingKnex, type RotatingKnex } from '@leasehold/knex';
import {
  assertClosedAndRevoked,
  createDatabaseRole,
  createTestDatabase,
  mountDatabaseEngine,
  revokeUnderLoad,
  rotateUnderLoad,
  type TestDatabase,
} from '@leasehold/test-env';
import type {} from '@leasehold/test-env/global-setup';
import { Model } from 'objection';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

class Item extends Model {
  static override tableName = 'items';
  id!: number;
  n!: number;
}

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

/** Reads, writes and Objection's own transactions, on models bound to `knex`. */
async function work(knex: RotatingKnex, i: number): Promise<void> {
  const Items = Item.bindKnex(knex);
  if (i % 3 === 0) await Items.query().resultSize();
  else if (i % 3 === 1) await Items.query().insert({ n: i });
  else
    await Items.transaction(async (trx) => {
      await Items.query(trx).insert({ n: i });
      await trx.raw('SELECT pg_sleep(0.005)');
      await Items.query(trx).resultSize();
    });
}

beforeAll(async () => {
  db = await createTestDatabase(inject('pgSuperuserUrl'));
  await db.query('CREATE TABLE items (id serial PRIMARY KEY, n int NOT NULL)');
  server = await startDevServer();
  await mountDatabaseEngine(server, db);
  await createDatabaseRole(server, 'fast', { defaultTtl: '6s', maxTtl: '6s' });
  await createDatabaseRole(server, 'oob', { defaultTtl: '60s', maxTtl: '120s' });
  vault = createVault({ address: server.url, auth: auth.token({ token: server.rootToken }) });
});

afterAll(async () => {
  await Promise.all(instances.map((k) => k.destroy()));
  await vault?.close();
  await server?.close();
  await db?.drop();
});

describe('Objection on createRotatingKnex', () => {
  it('follows 3 rotations under reads, writes and transactions; knex.destroy() ends the pool and revokes the lease', async () => {
    const knex = open('fast');
    Model.knex(knex); // the global binding works the same as bindKnex
    const result = await rotateUnderLoad(db, knex.rotatingPool, (i) => work(knex, i));
    expect(result.rotations).toBeGreaterThanOrEqual(3);
    const current = knex.rotatingPool.lease.current();
    await knex.destroy();
    await assertClosedAndRevoked(db, knex.rotatingPool, current);
  }, 90_000);

  it('out-of-band lease revoke: queries run again on the new lease, only transactions fail (typed, once)', async () => {
    const knex = open('oob');
    await knex.raw('SELECT 1');
    const { first } = await revokeUnderLoad(
      knex.rotatingPool,
      (id) => server.revokeLease(id),
      (i) => work(knex, i),
      { maxFailures: 6, onlyTransactions: true },
    );
    const { rows } = await knex.raw<{ rows: Array<{ u: string }> }>('SELECT current_user AS u');
    expect(rows[0]?.u).toBe(knex.rotatingPool.lease.current().value.username);
    expect(rows[0]?.u).not.toBe(first.value.username);
  }, 40_000);
});
