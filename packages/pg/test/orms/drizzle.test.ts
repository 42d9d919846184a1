import { createRotatingPool, type RotatingPool } from '@leasehold/pg';
import { assertClosedAndRevoked, revokeUnderLoad, rotateUnderLoad } from '@leasehold/test-env';
import { count, sql } from 'drizzle-orm';
import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import { integer, pgTable, serial } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAST, type OrmFixture, SLOW, startOrmFixture } from './fixture.js';

const items = pgTable('items', { id: serial('id').primaryKey(), n: integer('n').notNull() });

/** What `drizzle({ client: pool })` returns: the database, with the pool as `$client`. */
type Db = NodePgDatabase & { $client: RotatingPool };

let f: OrmFixture;
const pools: RotatingPool[] = [];

function open(role: string): { db: Db; pool: RotatingPool } {
  const pool = createRotatingPool({ vault: f.vault, role, ...f.where, max: 6 });
  pool.on('error', () => undefined);
  pools.push(pool);
  return { db: drizzle({ client: pool }), pool };
}

/** Reads, writes and Drizzle's own transactions. */
async function work(db: Db, i: number): Promise<void> {
  if (i % 3 === 0) await db.select({ n: count() }).from(items);
  else if (i % 3 === 1) await db.insert(items).values({ n: i });
  else
    await db.transaction(async (tx) => {
      await tx.insert(items).values({ n: i });
      await tx.execute(sql`SELECT pg_sleep(0.005)`);
      await tx.select({ n: count() }).from(items);
    });
}

beforeAll(async () => {
  f = await startOrmFixture({ fast: FAST, oob: SLOW });
});

afterAll(async () => {
  await Promise.all(pools.filter((p) => !p.ending).map((p) => p.end()));
  await f?.close();
});

describe('Drizzle (drizzle-orm/node-postgres) on a rotating pool', () => {
  it('follows 3 rotations under reads, writes and transactions; $client.end() revokes the lease', async () => {
    const { db, pool } = open('fast');
    expect(db.$client).toBe(pool);
    const result = await rotateUnderLoad(f.db, pool, (i) => work(db, i));
    expect(result.rotations).toBeGreaterThanOrEqual(3);
    const current = pool.lease.current();
    await db.$client.end();
    await assertClosedAndRevoked(f.db, pool, current);
  }, 90_000);

  it('out-of-band lease revoke: queries run again on the new lease, only transactions fail (typed, once)', async () => {
    const { db, pool } = open('oob');
    // Drizzle runs a statement outside a transaction with pool.query(), which re-runs a statement refused on the
    // dropped role; a transaction holds a client, so it fails once with the typed error, as with pg.
    const { first } = await revokeUnderLoad(
      pool,
      (id) => f.server.revokeLease(id),
      (i) => work(db, i),
      {
        maxFailures: 6,
        onlyTransactions: true,
      },
    );
    const { rows } = await db.execute<{ u: string }>(sql`SELECT current_user AS u`);
    expect(rows[0]?.u).toBe(pool.lease.current().value.username);
    expect(rows[0]?.u).not.toBe(first.value.username);
  }, 40_000);
});
