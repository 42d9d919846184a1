/**
 * `createRotatingPgModule()`: a `pg`-compatible module for ORMs that build their pool from the `pg` module they load.
 *
 * - `Pool` (TypeORM's `driver` option): a {@link RotatingPool} bound to one Vault lease. The ORM's options give
 *   everything but the credentials (host, port, database, ssl, pool size, timeouts); the lease gives user and password.
 * - `Client` (Sequelize's `dialectModule`, which keeps its own pool of `pg.Client`s): each `new Client()` is a session
 *   checked out of one rotating pool the module holds for the ORM. After a rotation a session of an older generation
 *   reports itself invalid (`_invalid`, what Sequelize's pool validates on every acquire), so the ORM replaces it;
 *   ending it closes its connection, and once none is left the old lease is revoked.
 *
 * Everything else is the application's own `pg` (types, defaults, errors).
 */
import { EventEmitter } from 'node:events';
import {
  checkDatabaseLeaseOptions,
  checkOption,
  checkOptionsObject,
  isVault,
  optionError,
} from '@leasehold/core/host';
import pg from 'pg';
import { RotatingPoolError, RotatingPoolErrorCode } from './errors.js';
import { validateRotatingPoolOptions } from './options.js';
import { RotatingPool, type RotatingPoolOptions, type RotatingPoolSource } from './pool.js';

const CREATE = 'createRotatingPgModule';

/** Options of {@link createRotatingPgModule}: where the credentials come from, and how the pools treat the lease. */
export type RotatingPgModuleOptions = RotatingPoolSource &
  Pick<RotatingPoolOptions, 'revokeOnEnd' | 'detectDroppedRole' | 'rotationWindowMs'> & {
    /**
     * Pool options that override what the ORM passes (e.g. `{ max: 20, idleTimeoutMillis: 5000 }`), for settings
     * the ORM has no option of its own for. Not `user`/`password`.
     */
    poolOptions?: Omit<pg.PoolConfig, 'user' | 'password'>;
  };

/** The pool class of a {@link RotatingPgModule}: constructed by the ORM with its own `pg.PoolConfig`. */
export type RotatingPgModulePool = new (config?: pg.PoolConfig) => RotatingPool;

/**
 * A session of a {@link RotatingPgModule}'s `Client`: the part of `pg.Client` an ORM that pools clients itself uses
 * (`connect`, `query`, `end`, events `error`/`end`/`notice`/`notification`), plus the flags Sequelize's pool reads.
 */
export interface RotatingPgSession extends EventEmitter {
  /** True once the session must not be used again: its generation was rotated away or its role was dropped. */
  readonly _invalid: boolean;
  /** True once `end()` was called. */
  readonly _ending: boolean;
  /** Stand-in for pg's wire connection (events an ORM may listen to before `connect()`; none is emitted). */
  readonly connection: EventEmitter;
  connect(): Promise<void>;
  connect(callback: (err?: Error) => void): void;
  /** pg's `client.query()`, on the session's connection (promise or callback form). */
  query: pg.Client['query'];
  end(): Promise<void>;
  end(callback: (err?: Error) => void): void;
  escapeIdentifier(value: string): string;
  escapeLiteral(value: string): string;
}

/**
 * A `pg`-compatible module (what `import pg from 'pg'` gives) whose `Pool` is a {@link RotatingPool} bound to the
 * lease. `native` is `null`, so an ORM that prefers `pg-native` when it is installed keeps using this `Pool`.
 */
export type RotatingPgModule = Omit<typeof pg, 'Pool' | 'Client' | 'native'> & {
  /** `new Pool(config)`: a {@link RotatingPool} with `config` minus the credentials, plus the lease. */
  readonly Pool: RotatingPgModulePool;
  /**
   * `new Client(config)`: a session checked out of the module's own rotating pool (created from the first `config`
   * minus the credentials), for ORMs that pool `pg.Client`s themselves (Sequelize). Its `query()` and events are
   * the checked-out client's; `end()` closes its connection.
   */
  readonly Client: new (
    config?: pg.ClientConfig,
  ) => RotatingPgSession;
  readonly native: null;
  /**
   * Every rotating pool created from this module, in order: the ORM's own (`Pool`), and the one behind `Client`
   * sessions. An ended pool stays listed with `ended: true`.
   */
  readonly pools: readonly RotatingPool[];
  /**
   * Ends every pool of this module that is not ended yet (each revokes its lease as `revokeOnEnd` says). Needed for
   * `Client` sessions, whose pool no ORM call ends: call it after the ORM closed (Sequelize: `sequelize.close()`).
   */
  end(): Promise<void>;
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
  const { poolOptions, ...source } = options as RotatingPgModuleOptions & Record<string, unknown>;
  checkOption(CREATE, 'poolOptions', poolOptions, 'object');
  // The source and the pool options are checked now, not when the ORM first builds its pool (the lease itself is
  // resolved then, by the pool: a module that never gets a pool never issues credentials).
  validateRotatingPoolOptions({ ...poolOptions, ...source }, CREATE);
  if (source.lease === undefined) {
    if (!isVault(source.vault)) {
      throw optionError(
        CREATE,
        'vault',
        'is required (or pass `lease`)',
        'Pass the client from createVault() and a `role`, or a lease handle as `lease`.',
      );
    }
    checkDatabaseLeaseOptions(source as Parameters<typeof checkDatabaseLeaseOptions>[0], { fn: CREATE });
  }
  const pools: RotatingPool[] = [];

  class LeasedPool extends RotatingPool {
    constructor(config: pg.PoolConfig = {}) {
      checkOptionsObject(`${CREATE}(…).Pool`, config, true);
      const { user, password, ...rest } = (config ?? {}) as pg.PoolConfig;
      rejectCredentials(`${CREATE}(…).Pool`, user, password);
      super({ ...rest, ...poolOptions, ...source } as RotatingPoolOptions);
      pools.push(this);
    }
  }

  let sessionPool: RotatingPool | undefined;
  const sessions = new Set<LeasedSession>();
  /** The rotating pool behind `Client` sessions, created from the first session's config. */
  const poolFor = (config: pg.PoolConfig): RotatingPool => {
    if (!sessionPool || sessionPool.ending) {
      // The ORM's own pool limits the sessions; this one must never make a session wait.
      const pool = new LeasedPool({ max: 10_000, ...config, idleTimeoutMillis: 1000 });
      pool.on('error', noop); // a checked-out client's errors reach its session; an idle one is closed by pg-pool
      pool.on('rotate', (e) => {
        // `login` binding: the sessions of the previous value stay valid.
        if (e.retirePrevious) for (const session of sessions) session._retireBefore(e.generation);
      });
      sessionPool = pool;
    }
    return sessionPool;
  };

  class LeasedSession extends EventEmitter {
    /** Set when the session must not be used again (Sequelize's pool validates it on every acquire). */
    _invalid = false;
    /** Set once `end()` was called. */
    _ending = false;
    /** Stand-in for pg's wire connection, whose events the ORM may listen to before `connect()`. */
    readonly connection = new EventEmitter();
    readonly #config: pg.PoolConfig;
    #client: pg.PoolClient | undefined;
    #pool: RotatingPool | undefined;
    #closed = false;

    constructor(config: pg.ClientConfig = {}) {
      super();
      checkOptionsObject(`${CREATE}(…).Client`, config, true);
      const { user, password, ...rest } = (config ?? {}) as pg.ClientConfig;
      rejectCredentials(`${CREATE}(…).Client`, user, password);
      this.#config = rest as pg.PoolConfig;
    }

    connect(callback?: (err?: Error) => void): Promise<void> | undefined {
      const done = (async () => {
        if (this._ending) throw new Error('This session was ended; create a new one.');
        const pool = poolFor(this.#config);
        const client = await pool.connect();
        this.#pool = pool;
        this.#client = client;
        sessions.add(this);
        const generation = pool.generationOf(client);
        if (generation !== undefined && pool._retired(generation)) this._invalid = true;
        client.on('error', (err) => {
          this._invalid = true;
          this.emit('error', err);
        });
        client.on('notice', (msg) => this.emit('notice', msg));
        client.on('notification', (msg) => this.emit('notification', msg));
        client.once('end', () => {
          this.#closed = true;
          sessions.delete(this);
          this.emit('end');
        });
      })();
      if (!callback) return done;
      done.then(() => callback(), callback);
      return undefined;
    }

    query(...args: unknown[]): unknown {
      const client = this.#client;
      if (!client || this._ending) {
        const error = new Error('The session is not connected (connect() first) or was ended.');
        const last = args[args.length - 1];
        if (typeof last === 'function') {
          process.nextTick(last as (err: Error) => void, error);
          return undefined;
        }
        return Promise.reject(error);
      }
      // A statement refused because the session's role was dropped: the session fails this once and is replaced.
      const check = (err: unknown): void => {
        if (RotatingPoolError.is(err, RotatingPoolErrorCode.ROLE_DROPPED)) this._invalid = true;
      };
      const last = args[args.length - 1];
      if (typeof last === 'function') {
        const callback = last as (err: Error | undefined, result?: unknown) => void;
        return (client.query as (...a: unknown[]) => unknown).apply(client, [
          ...args.slice(0, -1),
          (err: Error | undefined, result?: unknown) => {
            if (err) check(err);
            callback(err, result);
          },
        ]);
      }
      const result = (client.query as (...a: unknown[]) => unknown).apply(client, args);
      if (result instanceof Promise) {
        return result.catch((err: unknown) => {
          check(err);
          throw err;
        });
      }
      return result;
    }

    end(callback?: (err?: Error) => void): Promise<void> | undefined {
      const client = this.#client;
      const done = new Promise<void>((resolve) => {
        if (this._ending || !client || this.#closed) {
          this._ending = true;
          resolve();
          return;
        }
        this._ending = true;
        this._invalid = true;
        client.once('end', () => resolve());
        client.release(true); // pg-pool closes the connection instead of keeping it
      });
      if (!callback) return done;
      done.then(() => callback(), callback);
      return undefined;
    }

    /** @internal A rotation to `generation`: a session opened on an older generation is to be replaced. */
    _retireBefore(generation: number): void {
      const gen = this.#client && this.#pool?.generationOf(this.#client);
      if (gen !== undefined && gen < generation) this._invalid = true;
    }

    escapeIdentifier(value: string): string {
      return pg.escapeIdentifier(value);
    }

    escapeLiteral(value: string): string {
      return pg.escapeLiteral(value);
    }
  }

  const module = Object.create(null) as Record<string, unknown>;
  for (const [key, value] of Object.entries(pg)) module[key] = value;
  module.Pool = LeasedPool;
  module.Client = LeasedSession;
  module.end = async (): Promise<void> => {
    await Promise.all(pools.filter((p) => !p.ending).map((p) => p.end()));
  };
  module.native = null;
  module.default = module;
  Object.defineProperty(module, 'pools', { enumerable: false, get: () => [...pools] });
  return module as unknown as RotatingPgModule;
}

function noop(): void {}

/** The ORM passed a user name or password (from its own options): they would not be used, so say so. */
function rejectCredentials(fn: string, user: unknown, password: unknown): void {
  for (const [key, value] of [
    ['user', user],
    ['password', password],
  ] as const) {
    if (value !== undefined && value !== null && value !== '') {
      throw optionError(
        fn,
        key,
        'was passed by the ORM, but the credentials come from the Vault lease',
        'Remove the user name and password from the ORM\'s options (TypeORM: "username"/"password"; Sequelize: leave out username/password).',
      );
    }
  }
}
