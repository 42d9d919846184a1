import type { TestDatabase } from './database.js';
import { canLogin, roleExists, startLoad } from './vault-database.js';
import { waitFor } from './wait.js';

/** The credentials of one lease generation, as `@leasehold/core`'s `LeaseSnapshot<DatabaseCredentials>` has them. */
export interface RotatedCredentials {
  readonly generation: number;
  readonly value: { readonly username: string; readonly password: { reveal(): string } };
}

/**
 * What {@link rotateUnderLoad} needs of a rotating pool (`@leasehold/pg`'s `RotatingPool`, structurally, so the test
 * environment does not depend on the package it tests).
 */
export interface RotatingPoolLike {
  readonly lease: {
    on(event: 'rotated', listener: (e: { previous: RotatedCredentials }) => void): () => void;
    on(event: 'revoked', listener: (e: { generation: number; reason: string }) => void): () => void;
    current(): RotatedCredentials;
    ready(): Promise<unknown>;
  };
  stats(): {
    readonly generation: number;
    readonly rotations: number;
    readonly connections: Readonly<Record<number, number>>;
    readonly draining: readonly number[];
  };
}

/**
 * Whether every open connection of `pool` is on its newest credential generation and none is draining: the state a
 * clean rotation ends in. `generation`, when given, must also be the newest.
 */
export function onNewestGeneration(pool: Pick<RotatingPoolLike, 'stats'>, generation?: number): boolean {
  const s = pool.stats();
  return (
    (generation === undefined || s.generation === generation) &&
    s.draining.length === 0 &&
    Object.keys(s.connections).every((g) => Number(g) === s.generation)
  );
}

/** Options of {@link rotateUnderLoad}. */
export interface RotateUnderLoadOptions {
  /** Rotations to go through while the load runs (default 3). */
  rotations?: number;
  /** Concurrent workers (default 6). */
  concurrency?: number;
  /** Guard deadline of the whole run, ms (default 60 000): the rotations come from the lease's TTL. */
  timeoutMs?: number;
  /** Fewest successful units of work expected (default 30): the load really ran. */
  minOk?: number;
}

/** What {@link rotateUnderLoad} observed. */
export interface RotateUnderLoadResult {
  /** Units of work that succeeded. */
  ok: number;
  /** Rotations seen (at least the number asked for). */
  rotations: number;
  /** The credentials of every generation that was rotated away (each one checked: revoked, role refused). */
  previous: RotatedCredentials[];
}

/**
 * The clean-rotation proof every database integration shares: runs `work(i)` on `concurrency` workers against an
 * ORM (or driver) whose connections come from `pool`, until the lease rotated `rotations` times, then checks and
 * throws (naming what is wrong) unless
 * - no unit of work failed and at least `minOk` succeeded,
 * - every rotated-away lease was revoked (`revoked` with reason `rotated`), and its user can no longer log in to
 *   `db` (its role is gone),
 * - every open connection is on the newest generation and no generation is left draining.
 */
export async function rotateUnderLoad(
  db: TestDatabase,
  pool: RotatingPoolLike,
  work: (i: number) => Promise<unknown>,
  options: RotateUnderLoadOptions = {},
): Promise<RotateUnderLoadResult> {
  const want = options.rotations ?? 3;
  const timeoutMs = options.timeoutMs ?? 60_000;
  const previous: RotatedCredentials[] = [];
  const revoked = new Set<number>();
  const off = [
    pool.lease.on('rotated', (e) => {
      previous.push(e.previous);
    }),
    pool.lease.on('revoked', (e) => {
      if (e.reason === 'rotated') revoked.add(e.generation);
    }),
  ];
  const startRotations = pool.stats().rotations;
  const minOk = options.minOk ?? 30;
  const load = startLoad(options.concurrency ?? 6, work);
  try {
    await waitFor(`${want} rotations`, () => pool.stats().rotations - startRotations >= want, timeoutMs);
    // "The load really ran" is a state reached, not a count of what fits in the rotations' time on a fast machine.
    await waitFor(`${minOk} units of work done`, () => load.ok >= minOk, timeoutMs);
  } finally {
    await load.stop();
  }
  const failures = load.failures;
  if (failures.length > 0) {
    const first = failures
      .slice(0, 5)
      .map((f) => String(f.error))
      .join('; ');
    throw new Error(`${failures.length} units of work failed during the rotations (the first: ${first})`);
  }
  await waitFor(
    'every rotated-away lease revoked',
    () => previous.every((p) => revoked.has(p.generation)),
    timeoutMs,
  );
  for (const p of previous) {
    await waitFor(
      `the user of generation ${p.generation} refused and its role gone after its lease was revoked`,
      async () =>
        !(await canLogin(db, p.value.username, p.value.password.reveal())) &&
        !(await roleExists(db, p.value.username)),
      timeoutMs,
    );
  }
  await waitFor('every connection on the newest generation', () => onNewestGeneration(pool), timeoutMs);
  for (const unsubscribe of off) unsubscribe();
  return { ok: load.ok, rotations: pool.stats().rotations - startRotations, previous };
}

/**
 * Checks what closing an ORM must do to the pool under it: the pool ended (`ended`) and the lease of `credentials`
 * was revoked, so its user can no longer log in. Throws naming what is wrong.
 */
export async function assertClosedAndRevoked(
  db: TestDatabase,
  pool: { readonly ended: boolean },
  credentials: RotatedCredentials,
): Promise<void> {
  if (!pool.ended) throw new Error('closing the ORM did not end its rotating pool');
  await waitFor(
    `the user of generation ${credentials.generation} refused after the ORM was closed`,
    async () => !(await canLogin(db, credentials.value.username, credentials.value.password.reveal())),
    20_000,
  );
}

/** The `RotatingPoolError` code of a statement refused because its connection's role was dropped. */
const ROLE_DROPPED = 'POOL_ROLE_DROPPED';

/** The first error in `error`'s `cause` chain (ORMs wrap driver errors) whose `code` is `code`, if any. */
export function findCause(
  error: unknown,
  code: string,
): { code: string; inTransaction?: boolean } | undefined {
  const seen = new Set<unknown>();
  let e = error as { code?: unknown; cause?: unknown; driverError?: unknown; original?: unknown } | undefined;
  while (e && typeof e === 'object' && !seen.has(e)) {
    seen.add(e);
    if (e.code === code) return e as { code: string; inTransaction?: boolean };
    e = (e.cause ?? e.driverError ?? e.original) as typeof e;
  }
  return undefined;
}

/** Options of {@link revokeUnderLoad}. */
export interface RevokeUnderLoadOptions {
  /** Concurrent workers (default 6). */
  concurrency?: number;
  /**
   * Most units of work that may fail, each with `POOL_ROLE_DROPPED` in its cause chain: the sessions that were on the
   * dropped role (default 0 — for `pool.query()`-based clients, which run such a statement again by themselves).
   */
  maxFailures?: number;
  /** Only failures of transactions (`inTransaction: true`) are allowed (default false). */
  onlyTransactions?: boolean;
  /** Guard deadline, ms (default 20 000). */
  timeoutMs?: number;
}

/**
 * The out-of-band revocation proof: runs `work(i)` on `concurrency` workers, revokes the pool's current lease with
 * `revoke(leaseId)` (e.g. `sys/leases/revoke`), waits for the pool to be on a new generation and for 20 more units of
 * work to succeed on it (states with guard deadlines, no fixed pauses). Throws unless every failure carries the typed `POOL_ROLE_DROPPED` error (as the pg pool reports a
 * statement on a dropped role), there are at most `maxFailures`, and at least 20 units of work succeeded.
 */
export async function revokeUnderLoad(
  pool: RotatingPoolLike,
  revoke: (leaseId: string) => Promise<unknown>,
  work: (i: number) => Promise<unknown>,
  options: RevokeUnderLoadOptions = {},
): Promise<{ ok: number; failures: number; first: RotatedCredentials }> {
  await pool.lease.ready();
  const first = pool.lease.current() as RotatedCredentials & { leaseId: string };
  const guardMs = options.timeoutMs ?? 20_000;
  const load = startLoad(options.concurrency ?? 6, work);
  try {
    await waitFor('load on the first generation', () => load.ok >= 10, guardMs);
    await revoke(first.leaseId);
    await waitFor('a new generation', () => pool.stats().generation > first.generation, guardMs);
    const before = load.ok;
    await waitFor('20 units of work on the new generation', () => load.ok >= before + 20, guardMs);
  } finally {
    await load.stop();
  }
  const wrong = load.failures.filter((f) => {
    const dropped = findCause(f.error, ROLE_DROPPED);
    return !dropped || (options.onlyTransactions === true && dropped.inTransaction !== true);
  });
  if (wrong.length > 0) {
    throw new Error(
      `${wrong.length} units of work failed with another error than ${ROLE_DROPPED}: ${String(wrong[0]?.error)}`,
    );
  }
  if (load.failures.length > (options.maxFailures ?? 0)) {
    throw new Error(
      `${load.failures.length} units of work failed with ${ROLE_DROPPED}, more than the ${options.maxFailures ?? 0} allowed`,
    );
  }
  if (load.ok < 20) throw new Error(`only ${load.ok} units of work ran around the revocation`);
  return { ok: load.ok, failures: load.failures.length, first };
}

/** What {@link poolUnitOfWork} needs of a pool: `pg.Pool`'s `query` and `connect` (a rotating pool is one). */
export interface QueryPoolLike {
  query(text: string, values?: unknown[]): Promise<unknown>;
  connect(): Promise<{
    query(text: string, values?: unknown[]): Promise<unknown>;
    release(error?: Error | boolean): void;
  }>;
}

/**
 * The load the pool tests run (needs table `items (id serial, n int)`): even `i`, a read through `pool.query`; odd
 * `i`, a short transaction (an insert and a 5 ms pause) on a checked-out client, released with its error when it
 * fails so that a broken connection is not returned to the pool.
 */
export async function poolUnitOfWork(pool: QueryPoolLike, i: number): Promise<void> {
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
  } catch (error) {
    client.release(error as Error);
    throw error;
  }
}
