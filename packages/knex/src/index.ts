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
import type { LeaseOptions } from '@leasehold/core';
import { VaultError, VaultErrorCode } from '@leasehold/core';
import { createRotatingPool, type RotatingPool, type RotatingPoolSource } from '@leasehold/pg';
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
  /** Fail a checkout after waiting this long (ms, default: wait). */
  acquireTimeoutMillis?: number;
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

/**
 * Creates a normal Knex instance (PostgreSQL) over a rotating `pg.Pool` from `@leasehold/pg`: every pooled connection
 * carries its credential generation; on rotation idle old connections close at once and busy ones when released, so
 * no query fails, and the old lease is revoked once they are gone. `db.destroy()` ends the pool and revokes the lease.
 *
 * Needs knex ≥ 3.3 (the `connectionPool` option).
 */
export function createRotatingKnex(options: RotatingKnexOptions): RotatingKnex {
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
  } = options as RotatingKnexOptions & {
    vault?: RotatingPoolSource['vault'];
    role?: string;
    credentials?: 'dynamic' | 'static';
    mount?: string;
    leaseOptions?: LeaseOptions;
    lease?: RotatingPoolSource['lease'];
  };
  if (!PG_CLIENTS.has(client)) {
    throw new VaultError(
      VaultErrorCode.CONFIG,
      `Invalid option "client" of createRotatingKnex: ${JSON.stringify(client)} is not supported. Use "pg" (PostgreSQL).`,
    );
  }
  if (typeof connection === 'string' || (connection && ('user' in connection || 'password' in connection))) {
    throw new VaultError(
      VaultErrorCode.CONFIG,
      'Invalid option "connection" of createRotatingKnex: pass an object without user/password (they come from Vault). Remove them.',
    );
  }
  const source = (
    lease ? { lease } : { vault, role, credentials, mount, leaseOptions }
  ) as RotatingPoolSource;
  const rotatingPool = createRotatingPool({
    ...connection,
    ...source,
    max: poolConfig?.max ?? 10,
    min: poolConfig?.min ?? 0,
    idleTimeoutMillis: poolConfig?.idleTimeoutMillis ?? 10_000,
    connectionTimeoutMillis: poolConfig?.acquireTimeoutMillis,
    revokeOnEnd,
  });
  const db = knexFactory({ ...knexConfig, client: 'pg', connectionPool: rotatingPool });
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
