/**
 * `createRotatingPgModule()`: a `pg`-compatible module for ORMs that build their own pool from the `pg` module they
 * load (TypeORM's `driver` option). Its `Pool` is a {@link RotatingPool} bound to one Vault lease: the ORM's options
 * give everything but the credentials (host, port, database, ssl, pool size, timeouts), the lease gives the user and
 * password. Everything else is the application's own `pg` (types, defaults, Client, errors).
 */
import { checkOption, checkOptionsObject, optionError } from '@leasehold/core/host';
import pg from 'pg';
import { validateRotatingPoolOptions } from './options.js';
import { RotatingPool, type RotatingPoolOptions, type RotatingPoolSource } from './pool.js';

const CREATE = 'createRotatingPgModule';

/** Options of {@link createRotatingPgModule}: where the credentials come from, and how the pools treat the lease. */
export type RotatingPgModuleOptions = RotatingPoolSource &
  Pick<RotatingPoolOptions, 'revokeOnEnd' | 'detectDroppedRole'> & {
    /**
     * Pool options that override what the ORM passes (e.g. `{ max: 20, idleTimeoutMillis: 5000 }`), for settings
     * the ORM has no option of its own for. Not `user`/`password`.
     */
    poolDefaults?: Omit<pg.PoolConfig, 'user' | 'password'>;
  };

/** The pool class of a {@link RotatingPgModule}: constructed by the ORM with its own `pg.PoolConfig`. */
export type RotatingPgModulePool = new (config?: pg.PoolConfig) => RotatingPool;

/**
 * A `pg`-compatible module (what `import pg from 'pg'` gives) whose `Pool` is a {@link RotatingPool} bound to the
 * lease. `native` is `null`, so an ORM that prefers `pg-native` when it is installed keeps using this `Pool`.
 */
export type RotatingPgModule = Omit<typeof pg, 'Pool' | 'native'> & {
  /** `new Pool(config)`: a {@link RotatingPool} with `config` minus the credentials, plus the lease. */
  readonly Pool: RotatingPgModulePool;
  readonly native: null;
  /** Every pool the ORM created from this module, in order (an ended pool stays listed with `ended: true`). */
  readonly pools: readonly RotatingPool[];
};

/**
 * Creates a `pg`-compatible module whose `Pool` is a rotating pool bound to a Vault lease, for an ORM that takes the
 * driver module as an option and builds its pool from it:
 *
 * ```ts
 * import { createRotatingPgModule } from '@leasehold/pg';
 * import { DataSource } from 'typeorm';
 *
 * const dataSource = new DataSource({
 *   type: 'postgres',
 *   driver: createRotatingPgModule({ vault, role: 'app-rw' }),
 *   host: 'db', port: 5432, database: 'app', poolSize: 20, // no username / password
 * });
 * await dataSource.initialize();
 * await dataSource.destroy(); // ends the pool and revokes the lease
 * ```
 *
 * The ORM must not pass a user or password (`username`/`password` in its options): the constructor throws a
 * `VAULT_CONFIG` error naming them. With `vault` + `role`, each pool the ORM creates holds the lease of that role and
 * revokes it when the ORM ends the pool (`revokeOnEnd`, default `true`); with `lease`, the lease is yours to revoke.
 */
export function createRotatingPgModule(options: RotatingPgModuleOptions): RotatingPgModule {
  checkOptionsObject(CREATE, options);
  const { poolDefaults, ...source } = options as RotatingPgModuleOptions & Record<string, unknown>;
  checkOption(CREATE, 'poolDefaults', poolDefaults, 'object');
  // The source and the pool defaults are checked now, not when the ORM first builds its pool.
  validateRotatingPoolOptions({ ...poolDefaults, ...source }, CREATE);
  const pools: RotatingPool[] = [];

  class LeasedPool extends RotatingPool {
    constructor(config: pg.PoolConfig = {}) {
      checkOptionsObject(`${CREATE}(…).Pool`, config, true);
      const { user, password, ...rest } = (config ?? {}) as pg.PoolConfig;
      for (const [key, value] of [
        ['user', user],
        ['password', password],
      ] as const) {
        if (value !== undefined && value !== null && value !== '') {
          throw optionError(
            `${CREATE}(…).Pool`,
            key,
            'was passed by the ORM, but the credentials come from the Vault lease',
            'Remove the user name and password from the ORM\'s options (TypeORM: "username"/"password").',
          );
        }
      }
      super({ ...rest, ...poolDefaults, ...source } as RotatingPoolOptions);
      pools.push(this);
    }
  }

  const module = Object.create(null) as Record<string, unknown>;
  for (const [key, value] of Object.entries(pg)) module[key] = value;
  module.Pool = LeasedPool;
  module.native = null;
  module.default = module;
  Object.defineProperty(module, 'pools', { enumerable: false, get: () => [...pools] });
  return module as unknown as RotatingPgModule;
}
