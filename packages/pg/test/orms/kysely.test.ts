import { createRotatingPool, type RotatingPool } from '@leasehold/pg';
import { assertClosedAndRevoked, revokeUnderLoad, rotateUnderLoad } from '@leasehold/test-env';
import { type Generated, Kysely, PostgresDialect, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAST, type OrmFixture, SLOW, startOrmFixture } from './fixture.js';

interface Database {
  items: { id: Generated<number>; n: number };
}

let f: OrmFixture;
const instances: Array<{ db: Kysely<Database>; pool: RotatingPool }> = [];

function open(role: string): { db: Kysely<Database>; pool: RotatingPool } {
  const pool = createRotatingPool({ vault: f.vault, role, ...f.where, max: 6 });
  pool.on('error', () => undefined);
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  instances.push({ db, pool });
  return { db, pool };
}

/** Reads, writes and Kysely's own transactions. */
async function work(db: Kysely<Database>, i: number): Promise<void> {
  if (i % 3 === 0)
    await db
      .selectFrom('items')
      .select((eb) => eb.fn.countAll().as('n'))
      .execute();
  else if (i % 3 === 1) await db.insertInto('items').values({ n: i }).execute();
  else
    await db.transaction().execute(async (trx) => {
      await trx.insertInto('items').values({ n: i }).execute();
      await sql`SELECT pg_sleep(0.005)`.execute(trx);
      await trx
        .selectFrom('items')
        .select((eb) => eb.fn.countAll().as('n'))
        .execute();
    });
}

beforeAll(async () => {
  f = await startOrmFixture({ fast: FAST, oob: SLOW });
});

afterAll(async () => {
  await Promise.all(instances.filter((i) => !i.pool.ending).map((i) => i.db.destroy()));
  await f?.close();
});

describe('Kysely (PostgresDialect) on a rotating pool', () => {
  it('follows 3 rotations under reads, writes and transactions; destroy() ends the pool and revokes the lease', async () => {
    const { db, pool } = open('fast');
    const result = await rotateUnderLoad(f.db, pool, (i) => work(db, i));
    expect(result.rotations).toBeGreaterThanOrEqual(3);
    const current = pool.lease.current();
    await db.destroy();
    await assertClosedAndRevoked(f.db, pool, current);
  }, 90_000);

  it('out-of-band lease revoke: only statements on the dropped role fail, once each, with the typed error', async () => {
    const { db, pool } = open('oob');
    // Kysely runs every statement on a checked-out client: as with a checked-out pg client, each session that was on
    // the dropped role fails its next statement once; a new session is on the new lease.
    const { first } = await revokeUnderLoad(
      pool,
      (id) => f.server.revokeLease(id),
      (i) => work(db, i),
      {
        maxFailures: 6,
      },
    );
    const { rows } = await sql<{ u: string }>`SELECT current_user AS u`.execute(db);
    expect(rows[0]?.u).toBe(pool.lease.current().value.username);
    expect(rows[0]?.u).not.toBe(first.value.username);
  }, 40_000);
});
