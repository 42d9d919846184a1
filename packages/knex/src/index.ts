/**
 * @packageDocumentation
 * Knex whose connection pool follows Vault database credentials: old-generation connections are evicted on rotation.
 *
 * ```ts
 * import { createRotatingKnex } from '@leasehold/knex';
 * const db = createRotatingKnex({ vault, role: 'app-rw', client: 'pg', connection: { host, database } });
 * await db('items').select();
 * await db.destroy(); // ends the pool and revokes the lease
 * ```
 */
import { checkOption, checkOptionsObject, optionError } from '@leasehold/core/host';
import {
  createRotatingPool,
  type RotatingPool,
  type RotatingPoolSource,
  validateRotatingPoolOptions,
} from '@leasehold/pg';
import knexModule, { type Knex } from 'knex';
import type pg from 'pg';

/** Connection settings: where to connect. The user and password come from Vault. */
export type RotatingKnexConnection = Omit<
  pg.PoolConfig,
  'user' | 'password' | 'max' | 'min' | 'idleTimeoutMillis' | 'Client'
>;

/** Pool settings (mapped onto the rotating `pg.Pool`). */
export interface RotatingKnexPoolConfig {
  /** Most connections (default 10). */
  max?: number;
  /** Fewest connections kept open (default 0). */
  min?: number;
  /** Close a connection idle this long (ms, default 10 000). */
  idleTimeoutMillis?: number;
  /**
   * Fail a checkout after waiting this long (ms; the pool's `connectionTimeoutMillis`). Also bounds every wait for
   * credentials (default: 30 s for those, no bound for a free connection).
   */
  acquireTimeoutMillis?: number;
  /**
   * Longest time a rotation spreads the replacement of old connections over (ms, default 30 000; 0 = at once). See
   * `@leasehold/pg`'s `rotationWindowMs`.
   */
  rotationWindowMs?: number;
}

/** Options of {@link createRotatingKnex}. */
export type RotatingKnexOptions = Omit<Knex.Config, 'client' | 'connection' | 'pool' | 'connectionPool'> &
  RotatingPoolSource & {
    /** The dialect: PostgreSQL (`pg`, `postgres`, `postgresql`). */
    client: 'pg' | 'postgres' | 'postgresql';
    /** Host, port, database, ssl… (no user or password). */
    connection?: RotatingKnexConnection;
    pool?: RotatingKnexPoolConfig;
    /** Revoke the lease on `destroy()` (see `@leasehold/pg`'s `revokeOnEnd`). */
    revokeOnEnd?: boolean;
  };

/** A Knex instance whose pool follows a Vault lease; `rotatingPool` exposes `stats()` and the lease. */
export type RotatingKnex = Knex & { readonly rotatingPool: RotatingPool };

const PG_CLIENTS = new Set(['pg', 'postgres', 'postgresql']);

const knexFactory: (config: Knex.Config) => Knex =
  (knexModule as unknown as { knex?: (config: Knex.Config) => Knex }).knex ??
  (knexModule as unknown as (config: Knex.Config) => Knex);

const CREATE = 'createRotatingKnex';

/** Checks the Knex-specific options; the source and `revokeOnEnd` are checked by `@leasehold/pg`. */
function validateKnexOptions(options: unknown): void {
  checkOptionsObject(CREATE, options);
  const { client, connection, pool } = options as Record<string, unknown>;
  if (typeof client !== 'string' || !PG_CLIENTS.has(client)) {
    throw optionError(
      CREATE,
      'client',
      typeof client === 'string' ? `${JSON.stringify(client)} is not supported` : 'is required',
      'Use "pg" (PostgreSQL).',
    );
  }
  if (
    connection !== undefined &&
    (typeof connection !== 'object' ||
      connection === null ||
      'user' in connection ||
      'password' in connection ||
      'connectionString' in connection)
  ) {
    throw optionError(
      CREATE,
      'connection',
      'must be an object without user/password/connectionString (the credentials come from Vault)',
      'Pass { host, port, database, ssl… } and remove the credentials.',
    );
  }
  checkOption(CREATE, 'pool', pool, 'object');
  const p = (pool ?? {}) as Record<string, unknown>;
  checkOption(CREATE, 'pool.max', p.max, 'positiveInteger');
  checkOption(CREATE, 'pool.min', p.min, 'nonNegativeInteger');
  checkOption(CREATE, 'pool.idleTimeoutMillis', p.idleTimeoutMillis, 'ms');
  checkOption(CREATE, 'pool.acquireTimeoutMillis', p.acquireTimeoutMillis, 'ms');
  checkOption(CREATE, 'pool.rotationWindowMs', p.rotationWindowMs, 'ms');
}

/**
 * A Knex query refused because its connection's role was dropped (outside a transaction, so it did not run) runs
 * once more, with a new runner that checks out a connection of the new generation after the first one was released.
 */
function retryDroppedStatements(db: Knex, pool: RotatingPool): void {
  type Runner = { run(): Promise<unknown> };
  const client = db.client as { runner(builder: unknown): Runner };
  const makeRunner = client.runner;
  client.runner = function runner(this: unknown, builder: unknown): Runner {
    const first = makeRunner.call(this, builder);
    const run = first.run;
    first.run = () =>
      run.call(first).catch(async (error: unknown) => {
        await pool.awaitReplacement(error);
        return makeRunner.call(this, builder).run();
      });
    return first;
  };
}

/**
 * Creates a normal Knex instance (PostgreSQL) over a rotating `pg.Pool` from `@leasehold/pg`: every pooled connection
 * carries its credential generation; on rotation the old connections are replaced one by one over the rotation window
 * (`pool.rotationWindowMs`), so no query fails or waits for a burst of logins, and the old lease is revoked once they
 * are gone. `db.destroy()` ends the pool and revokes the lease.
 *
 * Needs knex ≥ 3.3 (the `connectionPool` option).
 */
export function createRotatingKnex(options: RotatingKnexOptions): RotatingKnex {
  validateKnexOptions(options);
  // The source fields (vault, role, credentials, mount, leaseOptions, lease) go to the rotating pool as they are:
  // the core's resolveDatabaseLease() turns them into the lease.
  const {
    vault,
    role,
    credentials,
    mount,
    leaseOptions,
    lease,
    revokeOnEnd,
    client,
    connection,
    pool: poolConfig,
    ...knexConfig
  } = options;
  const source = { vault, role, credentials, mount, leaseOptions, lease } as RotatingPoolSource;
  const poolOptions = {
    ...connection,
    ...source,
    max: poolConfig?.max ?? 10,
    min: poolConfig?.min ?? 0,
    idleTimeoutMillis: poolConfig?.idleTimeoutMillis ?? 10_000,
    connectionTimeoutMillis: poolConfig?.acquireTimeoutMillis,
    rotationWindowMs: poolConfig?.rotationWindowMs,
    revokeOnEnd,
  };
  validateRotatingPoolOptions(poolOptions, CREATE);
  const rotatingPool = createRotatingPool(poolOptions);
  const db = knexFactory({ ...knexConfig, client: 'pg', connectionPool: rotatingPool });
  retryDroppedStatements(db, rotatingPool);
  const destroyKnex = db.destroy.bind(db) as () => Promise<void>;
  let destroying: Promise<void> | undefined;
  const destroy = (callback?: () => void): Promise<void> => {
    destroying ??= (async () => {
      await destroyKnex();
      if (!rotatingPool.ending) await rotatingPool.end();
    })();
    if (callback) destroying.then(callback, callback);
    return destroying;
  };
  Object.defineProperty(db, 'destroy', { value: destroy, configurable: true, writable: true });
  Object.defineProperty(db, 'rotatingPool', { value: rotatingPool, enumerable: false });
  return db as RotatingKnex;
}

export type { RotatingPool, RotatingPoolSource } from '@leasehold/pg';
