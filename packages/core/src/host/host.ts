/**
 * `VaultHost`: the framework-neutral part of every framework adapter (`@leasehold/nestjs`, `@leasehold/fastify`,
 * `@leasehold/express`). An adapter maps these calls onto its framework's lifecycle and does nothing else:
 *
 * - `new VaultHost(options)`: takes the core options (or an existing client as `vault`) plus named rotating
 *   databases, each with the factory that opens it (`driver: createRotatingPool`); creates nothing that runs until
 *   `start()`.
 * - `start()`: logs in (`vault.ready()`), then issues each database's first credentials and opens its rotating
 *   client, all within `readyTimeoutMs`; a failure closes what was opened and rejects with one clear `VaultError`.
 * - `db`: the opened clients by name, typed from each factory's return type.
 * - `close()`: closes the database clients (they drain), revokes their leases, then closes the Vault client when
 *   the host owns it. Idempotent.
 */

import { z } from 'zod';
import type { VaultOptions } from '../config.js';
import { VaultError, VaultErrorCode } from '../errors.js';
import type { DatabaseCredentials, Lease } from '../lease/types.js';
import type { Logger } from '../logger.js';
import { describeValue, isVault, optionError } from '../option-checks.js';
import { CredentialSourceError } from '../source/errors.js';
import type { CredentialSourceErrorCode } from '../source/types.js';
import { parseOptions, positiveInt, strictBoolean } from '../validation.js';
import {
  type CloseOptions,
  createVault,
  isServing,
  type ReadyOptions,
  type ServingOptions,
  type Vault,
} from '../vault.js';
import {
  checkDatabaseLeaseOptions,
  type DatabaseLeaseOptions,
  resolveDatabaseLease,
} from './database-lease.js';

/**
 * A database driver: a factory that takes its options plus the credentials lease as `lease` and returns the client
 * (`createRotatingPool` from `@leasehold/pg`, `createRotatingKnex` from `@leasehold/knex`,
 * `createRotatingPrismaAdapter` from `@leasehold/prisma`, or your own).
 */
// biome-ignore lint/suspicious/noExplicitAny: any one-argument function; the options are checked by HostedDatabaseOptions
export type DatabaseFactory = (options: any) => unknown;

/** The option keys of a driver the host fills in itself (the lease and where it comes from). */
export type LeaseSourceKey = 'lease' | 'vault' | 'role' | 'credentials' | 'mount' | 'leaseOptions';

/** The options parameter of database factory `F` (e.g. `RotatingPoolOptions` for `createRotatingPool`). */
export type FactoryParameter<F> = F extends (options: infer O) => unknown ? O : never;

/** `true` when factory `F` accepts a `Lease<DatabaseCredentials>` as its `lease` option, else `false`. */
export type AcceptsLease<F> = 'lease' extends keyof FactoryParameter<F>
  ? [Lease<DatabaseCredentials>] extends [FactoryParameter<F> extends { lease?: infer L } ? L : never]
    ? true
    : false
  : false;

/** The message a compile error shows for a driver that does not take `{ lease }`. */
export interface DriverMustAcceptLease {
  'a driver is a factory taking { lease: Lease<DatabaseCredentials> }, e.g. createRotatingPool from @leasehold/pg': never;
}

/**
 * One rotating database of an adapter: `driver` (the factory), the Vault role and where its lease comes from, and
 * every other option of the factory (for `createRotatingPool`: `pg.PoolConfig` without user/password — `host`,
 * `port`, `database`, `max`, …). The host obtains the credentials lease itself and passes it to the factory as
 * `lease`. A factory that does not accept `{ lease }` is a compile error.
 */
export type HostedDatabaseOptions<F extends DatabaseFactory = DatabaseFactory> = HostedLeaseSource &
  (AcceptsLease<F> extends true
    ? { /** The factory that opens the client, e.g. `createRotatingPool`. */ driver: F } & Omit<
        FactoryParameter<F>,
        LeaseSourceKey | 'driver'
      >
    : { driver: DriverMustAcceptLease });

/**
 * Where a hosted database's credentials come from: a Vault role the host leases with its own client
 * ({@link DatabaseLeaseOptions}), or a lease you built yourself as `lease` — e.g. `createSourceLease()` over AWS
 * Secrets Manager, RDS IAM tokens or Doppler. The host waits for a given lease in `start()` but does not close it
 * (you own it: close it after `host.close()`).
 */
export type HostedLeaseSource =
  | (DatabaseLeaseOptions & { lease?: never })
  | {
      /** A credentials lease you hold (`createSourceLease(source)`, `vault.database.credentials(role)`). */
      lease: Lease<DatabaseCredentials>;
      role?: never;
      credentials?: never;
      mount?: never;
      leaseOptions?: never;
    };

/** Named rotating databases, as the `databases` option accepts them before their drivers are checked. */
export type DatabasesOptions = Record<string, HostedLeaseSource & { driver: DatabaseFactory }>;

/** `databases` with each entry checked against its driver's options. */
export type CheckedDatabases<D> = {
  [K in keyof D]: D[K] extends { driver: infer F extends DatabaseFactory }
    ? HostedDatabaseOptions<F>
    : HostedDatabaseOptions;
};

/** The opened clients of `databases` by name, each typed from its factory's return type. */
export type DatabaseClients<D> = {
  readonly [K in keyof D]: D[K] extends { driver: (options: never) => infer T } ? T : unknown;
};

/** Options an adapter accepts on top of the client options. */
export interface VaultHostCommonOptions<D extends DatabasesOptions = DatabasesOptions> {
  /**
   * How long `start()` waits for Vault: login, then every database's first credentials, ms (default 30 000).
   * When it passes, `start()` rejects with `VAULT_TIMEOUT` naming the address and the last error.
   */
  readyTimeoutMs?: number;
  /**
   * Rotating databases by name, each with its driver factory:
   * `{ main: { driver: createRotatingPool, role: 'app', host, database, max: 10 } }`.
   */
  databases?: D & CheckedDatabases<D>;
  /**
   * Close the Vault client in `close()` (revokes leases and the login token, stops timers). Default: `true` when
   * the host created the client, `false` when you passed `vault`.
   */
  closeClient?: boolean;
}

/** Options of a {@link VaultHost}: `createVault()` options, or an existing client as `vault`. */
export type VaultHostOptions<D extends DatabasesOptions = DatabasesOptions> =
  | (VaultOptions & VaultHostCommonOptions<D> & { vault?: undefined })
  | (VaultHostCommonOptions<D> & {
      /** A client created with `createVault()`. */
      vault: Vault;
    });

/** Default ready timeout of adapters, ms. */
export const DEFAULT_READY_TIMEOUT_MS = 30_000;

const HOST_KEYS = new Set(['readyTimeoutMs', 'databases', 'closeClient', 'vault']);

const hostOptionsSchema = z.object({
  readyTimeoutMs: positiveInt.optional(),
  closeClient: strictBoolean.optional(),
});

interface HostedDatabase extends Partial<DatabaseLeaseOptions> {
  driver: DatabaseFactory;
  lease?: Lease<DatabaseCredentials>;
  [option: string]: unknown;
}

interface OpenDatabase {
  client: unknown;
  lease: Lease<DatabaseCredentials>;
  /** The lease was given as `lease`: the application owns it (not revoked by the host). */
  given: boolean;
}

/** The lifecycle an adapter maps onto its framework. See the module documentation. */
export class VaultHost<D extends DatabasesOptions = DatabasesOptions> {
  /** The client (created from the options, or the one passed as `vault`). */
  readonly vault: Vault;
  /** Whether `close()` closes the client. */
  readonly closesClient: boolean;
  /**
   * The opened database clients by name, typed from each driver's return type (`db.main` is a `RotatingPool` for
   * `driver: createRotatingPool`). Reading one before `start()` finished throws `VAULT_CONFIG`.
   */
  readonly db: DatabaseClients<D>;
  readonly #readyTimeoutMs: number;
  readonly #databases: Record<string, HostedDatabase>;
  readonly #open = new Map<string, OpenDatabase>();
  #starting: Promise<void> | undefined;
  #started = false;
  #retrying: Promise<void> | undefined;
  #closing: Promise<void> | undefined;

  /** Throws `VAULT_CONFIG` for invalid options (naming the option and the fix). */
  constructor(options?: VaultHostOptions<D> | Vault) {
    const opts = (isVault(options) ? { vault: options } : (options ?? {})) as VaultHostOptions<D>;
    // The host's own options; every other key is a client option, checked by createVault().
    const own = parseOptions(hostOptionsSchema, opts, '', 'readyTimeoutMs is in ms, e.g. 10000.');
    this.#readyTimeoutMs = own.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS;
    this.#databases = checkDatabases(opts.databases);
    const db: Record<string, unknown> = {};
    for (const name of Object.keys(this.#databases)) {
      Object.defineProperty(db, name, { enumerable: true, get: () => this.database(name) });
    }
    this.db = db as DatabaseClients<D>;
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

  /** Whether `start()` has finished: logged in and every database open. */
  get started(): boolean {
    return this.#started;
  }

  /**
   * Logs in, then opens every database (first credentials issued), within `timeoutMs` (default the host's
   * `readyTimeoutMs`). Single flight. On failure everything opened is closed again and the error says what was
   * not ready, where, and how long was waited; a client the host owns is closed too, while a client it was given
   * stays open and `start()` may be called again.
   */
  start(options: Pick<ReadyOptions, 'timeoutMs'> = {}): Promise<void> {
    this.#starting ??= this.#start(options.timeoutMs ?? this.#readyTimeoutMs);
    return this.#starting;
  }

  /**
   * Whether the app should take requests: started, and the client serving by {@link isServing} (`degraded`
   * counts as up unless `degradedIsDown`).
   */
  isServing(options: ServingOptions = {}): boolean {
    if (!this.#started || !isServing(this.vault.health(), options)) return false;
    // Leases the application gave (credential sources) are not part of the client's health: a database whose
    // lease ended for good is down; one whose value expired while a new one is fetched counts as degraded.
    for (const { lease, given } of this.#open.values()) {
      if (!given) continue;
      if (lease.state === 'failed' || lease.state === 'revoked') return false;
      if (lease.state === 'expired' && options.degradedIsDown === true) return false;
    }
    return true;
  }

  /**
   * Nudges a host that is not serving, for readiness gates: the first call starts it; later ones (when the client
   * went down after startup) run one `vault.ready()` attempt, bounded by `timeoutMs` (default the host's
   * `readyTimeoutMs`). Single flight; never rejects (the state is read with {@link VaultHost.isServing}).
   */
  retryReady(options: Pick<ReadyOptions, 'timeoutMs'> = {}): Promise<void> {
    if (this.#closing || this.vault.closed) return Promise.resolve();
    const timeoutMs = options.timeoutMs ?? this.#readyTimeoutMs;
    this.#retrying ??= (this.#started ? this.vault.ready({ timeoutMs }) : this.start({ timeoutMs }))
      .catch(() => undefined)
      .finally(() => {
        this.#retrying = undefined;
      });
    return this.#retrying;
  }

  async #start(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    try {
      try {
        await this.vault.ready({ timeoutMs });
      } catch (error) {
        throw startupError(error, `Vault at ${this.vault.address} was not ready`, timeoutMs);
      }
      await Promise.all(
        Object.entries(this.#databases).map(([name, spec]) =>
          this.#openDatabase(name, spec, Math.max(1, deadline - Date.now())),
        ),
      );
      this.#started = true;
    } catch (error) {
      if (this.closesClient) {
        await this.close().catch(() => undefined);
      } else {
        // A client the host was given stays open: close what was opened, and let a later start() try again.
        await this.#closeDatabases();
        this.#starting = undefined;
      }
      throw error;
    }
  }

  async #openDatabase(name: string, spec: HostedDatabase, timeoutMs: number): Promise<void> {
    const { driver, role, credentials, mount, leaseOptions, lease: givenLease, ...factoryOptions } = spec;
    const caller = { fn: HOST, prefix: `databases.${name}.` };
    const given = givenLease !== undefined;
    const lease = given
      ? resolveDatabaseLease({ lease: givenLease }, caller)
      : resolveDatabaseLease(
          { vault: this.vault, role: role as string, credentials, mount, leaseOptions },
          caller,
        );
    // A lease the application gave stays its own: the host never revokes it.
    const release = async (): Promise<void> => {
      if (!given) await lease.revoke().catch(() => undefined);
    };
    try {
      await lease.ready({ timeoutMs });
    } catch (error) {
      await release();
      throw startupError(
        error,
        `database "${name}" (${describeLease(lease, role)}) got no credentials`,
        timeoutMs,
      );
    }
    let client: unknown;
    try {
      client = driver({ ...factoryOptions, lease });
    } catch (error) {
      await release();
      throw error;
    }
    watchPoolErrors(client, this.vault.logger('database'), name);
    this.#open.set(name, { client, lease, given });
  }

  async #closeDatabases(): Promise<void> {
    this.#started = false;
    const open = [...this.#open.values()];
    this.#open.clear();
    await Promise.all(
      open.map(async ({ client, lease, given }) => {
        await closeDatabaseClient(client).catch(() => undefined);
        if (!given) await lease.revoke().catch(() => undefined);
      }),
    );
  }

  /** The opened client of database `name` (prefer {@link VaultHost.db}, which is typed). Throws before `start()`. */
  database<K extends keyof D & string>(name: K): DatabaseClients<D>[K] {
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
    return open.client as DatabaseClients<D>[K];
  }

  /**
   * Closes every database client (it drains in-flight queries) and revokes its lease, then closes the client when
   * the host owns it or `closeClient` says so (`timeoutMs` bounds its revocations). Idempotent; never rejects.
   */
  close(options: CloseOptions & { closeClient?: boolean } = {}): Promise<void> {
    this.#closing ??= (async () => {
      await this.#closeDatabases();
      const { closeClient = this.closesClient, ...closeOptions } = options;
      if (closeClient) await this.vault.close(closeOptions).catch(() => undefined);
    })();
    return this.#closing;
  }
}

/** An object or a function (a Knex instance is a function with methods). */
function isObjectLike(value: unknown): value is Record<string, unknown> {
  return (typeof value === 'object' && value !== null) || typeof value === 'function';
}

/**
 * The `pg.Pool` under a database client: the client itself, or the `rotatingPool` a rotating Knex instance or
 * Prisma adapter carries.
 */
function poolOf(client: unknown): Record<string, unknown> | undefined {
  if (!isObjectLike(client)) return undefined;
  const c = client as Record<string, unknown>;
  const pool = c.rotatingPool;
  return isObjectLike(pool) ? pool : c;
}

/**
 * A `pg.Pool` emits `error` when an idle connection fails (database restart, a revoked role's session terminated):
 * with no listener that crashes the process. The host owns the pool, so it listens and logs (no secrets: the
 * error's message and SQLSTATE only).
 */
function watchPoolErrors(client: unknown, log: Logger, name: string): void {
  const pool = poolOf(client);
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
 * adapter carrying a `rotatingPool` (the Prisma adapter), or anything with `close`/`dispose`. Resolves when it
 * finished (a rotating pool has drained by then).
 */
export async function closeDatabaseClient(client: unknown): Promise<void> {
  if (!isObjectLike(client)) return;
  const c = client as Record<string, unknown>;
  // A driver adapter over a pool (the Prisma adapter): end the pool it carries.
  if (typeof c.end !== 'function' && typeof c.destroy !== 'function' && typeof c.rotatingPool === 'object') {
    await closeDatabaseClient(c.rotatingPool);
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

/** A credential source's error code as the host's one `VaultError` code. */
const SOURCE_CODES: Record<CredentialSourceErrorCode, VaultErrorCode> = {
  SOURCE_CONFIG: VaultErrorCode.CONFIG,
  SOURCE_AUTH_FAILED: VaultErrorCode.PERMISSION_DENIED,
  SOURCE_NOT_FOUND: VaultErrorCode.NOT_FOUND,
  SOURCE_UNAVAILABLE: VaultErrorCode.UNAVAILABLE,
  SOURCE_INVALID_RESPONSE: VaultErrorCode.INVALID_RESPONSE,
  SOURCE_TIMEOUT: VaultErrorCode.TIMEOUT,
  SOURCE_CLOSED: VaultErrorCode.CLOSED,
};

/**
 * The one `VaultError` `start()` rejects with. A credential source's error keeps its message (which names the
 * source) and is the `cause`; its code maps to the nearest `VaultErrorCode` (`SOURCE_TIMEOUT` → `VAULT_TIMEOUT`, …).
 */
function startupError(error: unknown, what: string, timeoutMs: number): VaultError {
  const fromSource = CredentialSourceError.is(error);
  const code = VaultError.is(error)
    ? error.code
    : fromSource
      ? SOURCE_CODES[error.code]
      : VaultErrorCode.UNAVAILABLE;
  const detail = error instanceof Error ? error.message : 'unknown error';
  const hint =
    code === VaultErrorCode.TIMEOUT
      ? fromSource
        ? ` Check that the credential source is reachable, or raise "readyTimeoutMs" (${timeoutMs} ms).`
        : ` Check that Vault is reachable and unsealed, or raise "readyTimeoutMs" (${timeoutMs} ms).`
      : '';
  return new VaultError(code, `${what}: ${detail}.${hint}`, { cause: error });
}

/** How a database's lease is named in messages: the Vault role, or the source / path of a given lease. */
function describeLease(lease: Lease<DatabaseCredentials>, role: string | undefined): string {
  if (role !== undefined) return `role "${role}"`;
  const source = (lease as { source?: { kind?: unknown; name?: unknown } }).source;
  if (source && typeof source.kind === 'string' && typeof source.name === 'string') {
    return `source ${source.kind} "${source.name}"`;
  }
  return `lease ${lease.path}`;
}

const HOST = 'VaultHost';

const DRIVER_FIX =
  "Import the driver's factory and pass it: import { createRotatingPool } from '@leasehold/pg' " +
  '(or createRotatingKnex from @leasehold/knex, createRotatingPrismaAdapter from @leasehold/prisma).';

function checkDatabases(value: unknown): Record<string, HostedDatabase> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw optionError(
      HOST,
      'databases',
      `must be an object of named databases, got ${describeValue(value)}`,
      "Pass e.g. { main: { driver: createRotatingPool, role: 'app' } }.",
    );
  }
  for (const [name, spec] of Object.entries(value)) {
    const s = spec as Partial<HostedDatabase> | undefined;
    if (!s || typeof s !== 'object' || Array.isArray(s)) {
      throw optionError(
        HOST,
        `databases.${name}`,
        `must be an object, got ${describeValue(s)}`,
        "Pass e.g. { driver: createRotatingPool, role: 'app' }.",
      );
    }
    if (typeof s.driver !== 'function') {
      throw optionError(
        HOST,
        `databases.${name}.driver`,
        `must be a database factory function, got ${describeValue(s.driver)}`,
        DRIVER_FIX,
      );
    }
    if ('user' in s || 'password' in s) {
      throw optionError(
        HOST,
        `databases.${name}`,
        'has "user"/"password"',
        'Remove them: the credentials come from Vault.',
      );
    }
    if ('vault' in s) {
      throw optionError(
        HOST,
        `databases.${name}`,
        'has "vault"',
        'Remove it: the host leases "role" with its own client (or pass a lease you built as "lease").',
      );
    }
    if (s.lease !== undefined) {
      const mixed = (['role', 'credentials', 'mount', 'leaseOptions'] as const).filter(
        (k) => s[k] !== undefined,
      );
      if (mixed.length > 0) {
        throw optionError(
          HOST,
          `databases.${name}.lease`,
          `comes with ${mixed.map((k) => `"${k}"`).join(', ')}`,
          'Pass either "lease" (a lease you built, e.g. createSourceLease()) or "role", not both.',
        );
      }
      const l = s.lease as Partial<Lease<DatabaseCredentials>> | null;
      if (
        typeof l !== 'object' ||
        l === null ||
        typeof l.on !== 'function' ||
        typeof l.peek !== 'function' ||
        typeof l.ready !== 'function'
      ) {
        throw optionError(
          HOST,
          `databases.${name}.lease`,
          `must be a lease handle, got ${describeValue(l)}`,
          'Pass createSourceLease(source) or vault.database.credentials(role).',
        );
      }
      continue;
    }
    checkDatabaseLeaseOptions(s, { fn: HOST, prefix: `databases.${name}.` });
  }
  return value as Record<string, HostedDatabase>;
}
