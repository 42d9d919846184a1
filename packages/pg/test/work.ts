import type { RotatingPool } from '@leasehold/pg';

/** One unit of work: a read through pool.query and a transaction on a checked-out client. */
export async function work(pool: RotatingPool, i: number): Promise<void> {
  if (i % 2 === 0) {
    await pool.query('SELECT count(*) FROM items');
    return;
  }
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('INSERT INTO items (n) VALUES ($1)', [i]);
    await client.query('SELECT pg_sleep(0.005)');
    await client.query('COMMIT');
    client.release();
  } catch (err) {
    client.release(err as Error); // a failed client is not returned to the pool
    throw err;
  }
}
