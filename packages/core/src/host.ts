/**
 * `VaultHost`: the framework-neutral part of every framework adapter (`@leasehold/nestjs`, `@leasehold/fastify`,
 * `@leasehold/express`). An adapter maps these three calls onto its framework's lifecycle and does nothing else:
 *
 * - `new VaultHost(options, loadModule)`: takes the core options (or an existing client as `vault`) plus named
 *   rotating databases; creates nothing that runs until `start()`.
 * - `start()`: logs in (`vault.ready()`), then issues each database's first credentials and opens its rotating
 *   client, all within `readyTimeoutMs`; a failure closes what was opened and rejects with one clear `VaultError`.
 * - `close()`: closes the database clients (they drain), revokes their leases, then closes the Vault client when
 *   the host owns it. Idempotent.
 *
 * Database drivers (`@leasehold/pg`, `@leasehold/knex`, `@leasehold/prisma`) are optional peers of the adapters:
 * the adapter passes `loadModule` (`(id) => import(id)`) so they resolve from the adapter package, and only when a
 * database uses them.
 */

import { z } from 'zod';
import type { VaultOptions } from './config.js';
import type { DatabaseCredentialsOptions } from './engines/database.js';
import { VaultError, VaultErrorCode } from './errors.js';
import type { DatabaseCredentials, Lease, LeaseOptions } from './lease/types.js';
import type { Logger } from './logger.js';
import { parseOptions, positiveInt, strictBoolean } from './validation.js';
import { createVault, type Vault } from './vault.js';

/** The rotating database drivers an adapter can open by name. */
export type DatabaseDriver = 'pg' | 'knex' | 'prisma';

/**
 * One rotating database of an adapter: the driver, the Vault role, and every other option of the driver's factory
 * (for `pg`: `pg.PoolConfig` without user/password — `host`, `port`, `database`, `max`, …). The host obtains the
 * credentials lease itself and hands it to the factory as `lease`.
 */
export interface HostedDatabaseOptions {
  /** `pg` → `createRotatingPool` (`@leasehold/pg`), `knex` → `createRotatingKnex` (`@leasehold/knex`),
   * `prisma` → `createRotatingPrismaAdapter` (`@leasehold/prisma`). */
  driver: DatabaseDriver;
  /** Database role: `<mount>/creds/<role>` (dynamic) or `<mount>/static-creds/<role>` (`credentials: 'static'`). */
  role: string;
  /** `dynamic` (default) or `static` (a Vault-rotated static role). */
  credentials?: 'dynamic' | 'static';
  /** Database secrets engine mount (default `database`). */
  mount?: string;
  /** Lease options of this database's credentials (rotation margin, drain timeout, …). */
  leaseOptions?: LeaseOptions;
  /** Any other option of the driver's factory. */
  [option: string]: unknown;
}

/** Options an adapter accepts on top of the client options. */
export interface VaultHostCommonOptions {
  /**
   * How long `start()` waits for Vault: login, then every database's first credentials, ms (default 30 000).
   * When it passes, `start()` rejects with `VAULT_TIMEOUT` naming the address and the last error.
   */
  readyTimeoutMs?: number;
  /** Rotating databases by name. */
  databases?: Record<string, HostedDatabaseOptions>;
  /**
   * Close the Vault client in `close()` (revokes leases and the login token, stops timers). Default: `true` when
   * the host created the client, `false` when you passed `vault`.
   */
  closeClient?: boolean;
}

/** Options of a {@link VaultHost}: `createVault()` options, or an existing client as `vault`. */
export type VaultHostOptions =
  | (VaultOptions & VaultHostCommonOptions & { vault?: undefined })
  | (VaultHostCommonOptions & {
      /** A client created with `createVault()`. */
      vault: Vault;
    });

/** Loads a driver module from the adapter package (`(id) => import(id)`). */
export type ModuleLoader = (id: string) => Promise<unknown>;

/** Default ready timeout of adapters, ms. */
export const DEFAULT_READY_TIMEOUT_MS = 30_000;

interface Driver {
  module: string;
  factory: string;
  /** The driver's peer packages, for the install hint. */
  install: string;
}

const DRIVERS: Record<DatabaseDriver, Driver> = {
  pg: { module: '@leasehold/pg', factory: 'createRotatingPool', install: '@leasehold/pg pg' },
  knex: { module: '@leasehold/knex', factory: 'createRotatingKnex', install: '@leasehold/knex knex pg' },
  prisma: {
    module: '@leasehold/prisma',
    factory: 'createRotatingPrismaAdapter',
    install: '@leasehold/prisma @prisma/client @prisma/adapter-pg pg',
  },
};

const HOST_KEYS = new Set(['readyTimeoutMs', 'databases', 'closeClient', 'vault']);

const hostOptionsSchema = z.object({
  readyTimeoutMs: positiveInt.optional(),
  closeClient: strictBoolean.optional(),
});

interface OpenDatabase {
  client: unknown;
  lease: Lease<DatabaseCredentials>;
}

/** True for a `Vault` instance from any copy of the core (ESM or CommonJS build). */
export function isVault(value: unknown): value is Vault {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v.ready === 'function' &&
    typeof v.close === 'function' &&
    typeof v.health === 'function' &&
    typeof v.request === 'function'
  );
}

/** The lifecycle an adapter maps onto its framework. See the module documentation. */
export class VaultHost {
  /** The client (created from the options, or the one passed as `vault`). */
  readonly vault: Vault;
  /** Whether `close()` closes the client. */
  readonly closesClient: boolean;
  readonly #readyTimeoutMs: number;
  readonly #databases: Record<string, HostedDatabaseOptions>;
  readonly #load: ModuleLoader;
  readonly #open = new Map<string, OpenDatabase>();
  #starting: Promise<void> | undefined;
  #closing: Promise<void> | undefined;

  /** Throws `VAULT_CONFIG` for invalid options (naming the option and the fix). */
  constructor(options: VaultHostOptions | Vault | undefined, load: ModuleLoader) {
    const opts: VaultHostOptions = isVault(options) ? { vault: options } : (options ?? {});
    // The host's own options; every other key is a client option, checked by createVault().
    const own = parseOptions(hostOptionsSchema, opts, '', 'readyTimeoutMs is in ms, e.g. 10000.');
    this.#readyTimeoutMs = own.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS;
    this.#databases = checkDatabases(opts.databases);
    this.#load = load;
    if (opts.vault !== undefined) {
      if (!isVault(opts.vault)) {
        throw new VaultError(
          VaultErrorCode.CONFIG,
          'Invalid option "vault": must be a client created with createVault() from @leasehold/core.',
        );
      }
      this.vault = opts.vault;
      this.closesClient = own.closeClient ?? false;
    } else {
      const clientOptions: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(opts)) if (!HOST_KEYS.has(key)) clientOptions[key] = value;
      this.vault = createVault(clientOptions as VaultOptions);
      this.closesClient = own.closeClient ?? true;
    }
  }

  /** The names of the configured databases. */
  get databaseNames(): string[] {
    return Object.keys(this.#databases);
  }

  /**
   * Logs in, then opens every database (first credentials issued), within `readyTimeoutMs`. Single flight. On
   * failure everything opened is closed again (and the client too when the host owns it) and the error says what
   * was not ready, where, and how long was waited.
   */
  start(): Promise<void> {
    this.#starting ??= this.#start();
    return this.#starting;
  }

  async #start(): Promise<void> {
    const deadline = Date.now() + this.#readyTimeoutMs;
    try {
      try {
        await this.vault.ready({ timeoutMs: this.#readyTimeoutMs });
      } catch (error) {
        throw startupError(error, `Vault at ${this.vault.address} was not ready`, this.#readyTimeoutMs);
      }
      await Promise.all(
        Object.entries(this.#databases).map(([name, spec]) =>
          this.#openDatabase(name, spec, Math.max(1, deadline - Date.now())),
        ),
      );
    } catch (error) {
      await this.close().catch(() => undefined);
      throw error;
    }
  }

  async #openDatabase(name: string, spec: HostedDatabaseOptions, timeoutMs: number): Promise<void> {
    const { driver: driverName, role, credentials, mount, leaseOptions, ...factoryOptions } = spec;
    const driver = DRIVERS[driverName];
    const factory = await this.#factory(name, driver);
    const leaseOpts: DatabaseCredentialsOptions = { ...leaseOptions, ...(mount ? { mount } : {}) };
    const lease =
      credentials === 'static'
        ? (this.vault.database.staticCredentials(role, leaseOpts) as unknown as Lease<DatabaseCredentials>)
        : this.vault.database.credentials(role, leaseOpts);
    try {
      await lease.ready({ timeoutMs });
    } catch (error) {
      await lease.revoke().catch(() => undefined);
      throw startupError(error, `database "${name}" (role "${role}") got no credentials`, timeoutMs);
    }
    let client: unknown;
    try {
      client = factory({ ...factoryOptions, lease });
    } catch (error) {
      await lease.revoke().catch(() => undefined);
      throw error;
    }
    watchPoolErrors(client, this.vault.logger('database'), name);
    this.#open.set(name, { client, lease });
  }

  async #factory(name: string, driver: Driver): Promise<(options: Record<string, unknown>) => unknown> {
    let mod: unknown;
    try {
      mod = await this.#load(driver.module);
    } catch (cause) {
      throw new VaultError(
        VaultErrorCode.CONFIG,
        `Database "${name}" uses ${driver.module}, which could not be loaded: install it (pnpm add ${driver.install}).`,
        { cause },
      );
    }
    const factory = (mod as Record<string, unknown> | undefined)?.[driver.factory];
    if (typeof factory !== 'function') {
      throw new VaultError(
        VaultErrorCode.CONFIG,
        `Database "${name}": ${driver.module} does not export ${driver.factory}(); update it to a version that does.`,
      );
    }
    return factory as (options: Record<string, unknown>) => unknown;
  }

  /** The opened client of database `name` (a `pg.Pool`, a Knex instance, a Prisma adapter). Throws before `start()`. */
  database<T = unknown>(name: string): T {
    const open = this.#open.get(name);
    if (!open) {
      const known = this.databaseNames;
      throw new VaultError(
        VaultErrorCode.CONFIG,
        known.includes(name)
          ? `Database "${name}" is not open yet: wait for startup to finish.`
          : `Unknown database "${name}": configured databases are ${known.length ? known.map((n) => `"${n}"`).join(', ') : 'none'}.`,
      );
    }
    return open.client as T;
  }

  /**
   * Closes every database client (it drains in-flight queries) and revokes its lease, then closes the client when
   * the host owns it. Idempotent; never rejects.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      const open = [...this.#open.values()];
      this.#open.clear();
      await Promise.all(
        open.map(async ({ client, lease }) => {
          await closeDatabaseClient(client).catch(() => undefined);
          await lease.revoke().catch(() => undefined);
        }),
      );
      if (this.closesClient) await this.vault.close().catch(() => undefined);
    })();
    return this.#closing;
  }
}

/**
 * A `pg.Pool` emits `error` when an idle connection fails (database restart, a revoked role's session terminated):
 * with no listener that crashes the process. The host owns the pool, so it listens and logs (no secrets: the
 * error's message and SQLSTATE only). The pool is the client itself, a Knex instance's `rotatingPool`, or an
 * adapter's `pool`.
 */
function watchPoolErrors(client: unknown, log: Logger, name: string): void {
  const c = client as Record<string, unknown> | undefined;
  const pool = (c?.rotatingPool ?? c?.pool ?? c) as { on?: unknown } | undefined;
  if (typeof pool?.on !== 'function') return;
  (pool.on as (event: string, listener: (error: Error & { code?: string }) => void) => void).call(
    pool,
    'error',
    (error) =>
      log.warn({ database: name, code: error.code, err: error.message }, 'idle database connection failed'),
  );
}

/**
 * Closes a database client the way its kind wants: a `pg.Pool` (`end`), a Knex instance (`destroy`), a driver
 * adapter carrying a `pool` (the Prisma adapter), or anything with `close`/`dispose`. Resolves when it finished (a rotating pool has drained by then).
 */
export async function closeDatabaseClient(client: unknown): Promise<void> {
  if (typeof client !== 'object' || client === null) return;
  const c = client as Record<string, unknown>;
  // A driver adapter over a pool (the Prisma adapter): end the pool it carries.
  if (typeof c.end !== 'function' && typeof c.destroy !== 'function' && typeof c.pool === 'object') {
    await closeDatabaseClient(c.pool);
    return;
  }
  for (const method of ['end', 'destroy', 'close', 'dispose']) {
    const fn = c[method];
    if (typeof fn === 'function') {
      await (fn as () => unknown).call(client);
      return;
    }
  }
}

function startupError(error: unknown, what: string, timeoutMs: number): VaultError {
  const code = VaultError.is(error) ? error.code : VaultErrorCode.UNAVAILABLE;
  const detail = error instanceof Error ? error.message : 'unknown error';
  const hint =
    code === VaultErrorCode.TIMEOUT
      ? ` Check that Vault is reachable and unsealed, or raise "readyTimeoutMs" (${timeoutMs} ms).`
      : '';
  return new VaultError(code, `${what}: ${detail}.${hint}`, { cause: error });
}

function checkDatabases(value: unknown): Record<string, HostedDatabaseOptions> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new VaultError(
      VaultErrorCode.CONFIG,
      "Invalid option \"databases\": must be an object of named databases, e.g. { main: { driver: 'pg', role: 'app' } }.",
    );
  }
  for (const [name, spec] of Object.entries(value)) {
    const s = spec as Partial<HostedDatabaseOptions> | undefined;
    if (!s || typeof s !== 'object' || !(s.driver && s.driver in DRIVERS)) {
      throw new VaultError(
        VaultErrorCode.CONFIG,
        `Invalid option "databases.${name}.driver": must be one of 'pg', 'knex', 'prisma'.`,
      );
    }
    if (typeof s.role !== 'string' || s.role.length === 0) {
      throw new VaultError(
        VaultErrorCode.CONFIG,
        `Invalid option "databases.${name}.role": must be the name of a database role (database/roles/<role>).`,
      );
    }
    if (s.credentials !== undefined && s.credentials !== 'dynamic' && s.credentials !== 'static') {
      throw new VaultError(
        VaultErrorCode.CONFIG,
        `Invalid option "databases.${name}.credentials": must be 'dynamic' (default) or 'static'.`,
      );
    }
    if ('user' in s || 'password' in s) {
      throw new VaultError(
        VaultErrorCode.CONFIG,
        `Invalid option "databases.${name}": remove "user"/"password" — credentials come from Vault.`,
      );
    }
  }
  return value as Record<string, HostedDatabaseOptions>;
}
