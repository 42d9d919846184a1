/**
 * `RotatingPool`: a real `pg.Pool` (from the application's own `pg`) whose connections follow one Vault
 * database lease.
 *
 * - Every physical connection is opened with the lease's current credentials and tagged with their generation.
 * - On `rotate`: idle connections of older generations close at once, busy ones when they are released (pg-pool's
 *   own "expired" path, the one `maxLifetimeSeconds` uses). When none is left, the pool tells the lease it drained,
 *   so the old Vault lease is revoked.
 * - A connect rejected with SQLSTATE 28P01/28000 triggers a single-flight re-issue and is retried once. A 42501 on a
 *   connection of the current generation is checked with one fresh login: if that login is rejected too, the role
 *   was dropped (lease revoked out of band) and the lease is re-issued.
 *
 * All lease logic (renewal, re-issue, single flight, revocation) lives in `@leasehold/core`; this file only maps
 * connections to generations.
 */
import {
  type DatabaseCredentials,
  type DatabaseCredentialsOptions,
  type Lease,
  type LeaseOptions,
  type LeaseRotateEvent,
  type LeaseSnapshot,
  type RotateReason,
  type Vault,
  VaultError,
  VaultErrorCode,
} from '@leasehold/core';
import pg from 'pg';

/** SQLSTATEs of a login the server rejected (`invalid_password`, `invalid_authorization_specification`). */
export const AUTH_FAILURE_CODES: ReadonlySet<string> = new Set(['28P01', '28000']);
/** SQLSTATE `insufficient_privilege`: what every statement of a session whose role was dropped fails with. */
export const PERMISSION_DENIED_CODE = '42501';

/** Where the pool gets its credentials: a Vault client and a role, or a lease handle you already hold. */
export type RotatingPoolSource =
  | {
      /** The Vault client (`createVault()` from `@leasehold/core`). */
      vault: Vault;
      /** Database role: `database/creds/<role>` (dynamic) or `database/static-creds/<role>` (static). */
      role: string;
      /** `dynamic` (default): a lease per pool, rotated before its max TTL. `static`: Vault-rotated password. */
      credentials?: 'dynamic' | 'static';
      /** Mount of the database engine (default `database`). */
      mount?: string;
      /** Lease lifecycle options (rotation margin, drain timeout, …) for the handle. */
      leaseOptions?: LeaseOptions;
      lease?: never;
    }
  | {
      /** A credentials lease you obtained yourself (`vault.database.credentials(role)`). */
      lease: Lease<DatabaseCredentials>;
      vault?: never;
      role?: never;
      credentials?: never;
      mount?: never;
      leaseOptions?: never;
    };

/** Options of {@link createRotatingPool}: every `pg.PoolConfig` option except the credentials, plus the source. */
export type RotatingPoolOptions = Omit<pg.PoolConfig, 'user' | 'password'> &
  RotatingPoolSource & {
    /**
     * Revoke the lease when `pool.end()` finishes (default: `true` when the pool obtained the lease from
     * `vault` + `role`, `false` when you passed `lease`). Pools on the same Vault client, role and options share
     * one handle: give each its own `leaseOptions`, or pass `false`, if several pools use one role.
     */
    revokeOnEnd?: boolean;
    /**
     * On SQLSTATE 42501 from a connection of the current generation, check with one fresh login whether the role
     * still exists, and re-issue when it does not (default `true`). Checks back off from 100 ms to 5 s per generation.
     */
    detectDroppedRole?: boolean;
  };

/** Payload of the pool's `rotate` event. */
export interface PoolRotateEvent {
  readonly previousGeneration: number;
  readonly generation: number;
  readonly reason: RotateReason;
}

/** Payload of the pool's `drained` event: no connection of `generation` (or older) is left. */
export interface PoolDrainedEvent {
  readonly generation: number;
}

/** {@link RotatingPool.stats}. */
export interface RotatingPoolStats {
  /** Generation of the credentials new connections use (0 before the first issue). */
  readonly generation: number;
  /** Open (or opening) connections by credential generation. */
  readonly connections: Readonly<Record<number, number>>;
  /** pg.Pool counters. */
  readonly total: number;
  readonly idle: number;
  readonly waiting: number;
  /** Rotations seen since the pool was created. */
  readonly rotations: number;
  /** When the last rotation happened (ms since epoch), if any. */
  readonly lastRotationAt: number | undefined;
  /** Re-issues this pool asked for (rejected logins, dropped role). */
  readonly reissues: number;
  /** Connections opened since the pool was created. */
  readonly connects: number;
  /** Previous generations still waiting for their connections to close. */
  readonly draining: readonly number[];
}

/** The parts of pg-pool this file relies on (stable since pg-pool 3.6 / pg 8.8). */
interface PoolInternals {
  _clients: pg.Client[];
  _idle: Array<{ client: pg.Client }>;
  _expired: WeakSet<pg.Client>;
  _remove(client: pg.Client, callback?: () => void): void;
  _pulseQueue(): void;
}

/** The parts of pg.Client the credential hand-off sets (pg reads `connectionParameters` for the startup message). */
interface ClientInternals {
  connectionParameters: { user?: string; password?: unknown };
  connection: { on(event: 'errorMessage', listener: (msg: { code?: string }) => void): unknown };
}

type ConnectCallback = (
  err: Error | undefined,
  client: pg.PoolClient | undefined,
  done: (release?: Error | boolean) => void,
) => void;

interface Hooks {
  pool: RotatingPool | undefined;
}

const DROPPED_ROLE_CHECK_MIN_MS = 100;
const DROPPED_ROLE_CHECK_MAX_MS = 5000;
/** How long `end()` waits, at most, for the sockets pg-pool asked to end before it revokes the lease. */
const END_CLOSE_TIMEOUT_MS = 10_000;

const authFailures = new WeakMap<object, number>();

function noop(): void {}

function sqlState(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * A `pg.Pool` whose connections follow a Vault database lease. Create it with {@link createRotatingPool}.
 *
 * Events (besides pg.Pool's `connect`, `acquire`, `release`, `remove`, `error`): `rotate` ({@link PoolRotateEvent})
 * and `drained` ({@link PoolDrainedEvent}).
 */
export class RotatingPool extends pg.Pool {
  /** The credentials lease this pool follows. */
  readonly lease: Lease<DatabaseCredentials>;
  readonly #generationOf = new Map<pg.Client, number>();
  readonly #draining = new Map<number, () => void>();
  readonly #revokeOnEnd: boolean;
  readonly #detectDroppedRole: boolean;
  readonly #BaseClient: typeof pg.Client;
  readonly #unsubscribe: () => void;
  readonly #checkedRole = new Map<number, { next: number; intervalMs: number }>();
  #rotations = 0;
  #lastRotationAt: number | undefined;
  #reissues = 0;
  #connects = 0;
  #endPromise: Promise<void> | undefined;
  readonly #closedWaiters: Array<() => void> = [];

  constructor(options: RotatingPoolOptions) {
    const {
      vault,
      role,
      credentials,
      mount,
      leaseOptions,
      lease: givenLease,
      revokeOnEnd,
      detectDroppedRole,
      ...poolConfig
    } = options as RotatingPoolOptions & {
      vault?: Vault;
      role?: string;
      credentials?: 'dynamic' | 'static';
      mount?: string;
      leaseOptions?: LeaseOptions;
      lease?: Lease<DatabaseCredentials>;
    };
    const lease = resolveLease({ vault, role, credentials, mount, leaseOptions, lease: givenLease });
    const hooks: Hooks = { pool: undefined };
    const BaseClient = (poolConfig.Client ?? pg.Client) as typeof pg.Client;
    super({ ...poolConfig, Client: rotatingClientClass(BaseClient, lease, hooks) });
    hooks.pool = this;
    assertPoolInternals(this);
    this.lease = lease;
    this.#BaseClient = BaseClient;
    this.#revokeOnEnd = revokeOnEnd ?? givenLease === undefined;
    this.#detectDroppedRole = detectDroppedRole ?? true;
    this.#unsubscribe = lease.on('rotate', (e) => this.#onRotate(e));
    // Surface a first issue that fails permanently (unknown role, permission denied) without an unhandled rejection;
    // connects report it to their callers.
    lease.ready().catch(noop);
  }

  /** `rotate`: the pool switched to new credentials (old connections are closing). */
  override on(event: 'rotate', listener: (event: PoolRotateEvent) => void): this;
  /** `drained`: no connection of `generation` (or older) is left; its lease may be revoked. */
  override on(event: 'drained', listener: (event: PoolDrainedEvent) => void): this;
  override on<K extends 'error' | 'release' | 'connect' | 'acquire' | 'remove'>(
    event: K,
    listener: K extends 'error' | 'release'
      ? (err: Error, client: pg.PoolClient) => void
      : (client: pg.PoolClient) => void,
  ): this;
  override on(event: string, listener: (...args: never[]) => void): this {
    return super.on(event as 'connect', listener as (client: pg.PoolClient) => void);
  }

  /** Generation, connections per generation, rotations and counters. */
  stats(): RotatingPoolStats {
    const connections: Record<number, number> = {};
    for (const gen of this.#generationOf.values()) connections[gen] = (connections[gen] ?? 0) + 1;
    return {
      generation: this.lease.peek()?.generation ?? 0,
      connections,
      total: this.totalCount,
      idle: this.idleCount,
      waiting: this.waitingCount,
      rotations: this.#rotations,
      lastRotationAt: this.#lastRotationAt,
      reissues: this.#reissues,
      connects: this.#connects,
      draining: [...this.#draining.keys()],
    };
  }

  /** The credential generation a client of this pool was opened with (`undefined` for a foreign client). */
  generationOf(client: pg.ClientBase): number | undefined {
    return this.#generationOf.get(client as pg.Client);
  }

  override connect(): Promise<pg.PoolClient>;
  override connect(callback: ConnectCallback): void;
  override connect(callback?: ConnectCallback): Promise<pg.PoolClient> | undefined {
    if (callback) {
      this.#connect(callback, false);
      return undefined;
    }
    return new Promise<pg.PoolClient>((resolve, reject) =>
      this.#connect((err, client) => (err || !client ? reject(err) : resolve(client)), false),
    );
  }

  override end(): Promise<void>;
  override end(callback: () => void): void;
  override end(callback?: () => void): Promise<void> | undefined {
    if (!this.#endPromise) {
      this.#endPromise = (async () => {
        this.#unsubscribe();
        try {
          await super.end();
          // pg-pool resolves end() once it has asked every client to end, not once their sockets have closed:
          // revoking the lease now could drop the role under sessions that are still closing.
          await this.#allClosed();
        } finally {
          for (const [gen, drained] of [...this.#draining]) {
            this.#draining.delete(gen);
            drained();
            this.emit('drained', { generation: gen } satisfies PoolDrainedEvent);
          }
          if (this.#revokeOnEnd) await this.lease.revoke().catch(noop);
        }
      })();
    }
    if (!callback) return this.#endPromise;
    this.#endPromise.then(callback, callback as (e: unknown) => void);
    return undefined;
  }

  // ── internals ────────────────────────────────────────────────────────────────────────────────────────────────

  /** pg-pool's connect; a login rejected for generation g re-issues once (single flight) and retries once. */
  #connect(callback: ConnectCallback, retried: boolean): void {
    super.connect((err, client, done) => {
      if (!err) {
        callback(undefined, client, done);
        return;
      }
      const gen = authFailures.get(err);
      if (gen === undefined || retried || this.ending) {
        callback(err, undefined, noop);
        return;
      }
      this.#reissue(gen, `database rejected the login (${sqlState(err)})`).then(
        () => this.#connect(callback, true),
        () => callback(err, undefined, noop),
      );
    });
  }

  #reissue(generation: number, reason: string): Promise<LeaseSnapshot<DatabaseCredentials>> {
    const current = this.lease.peek()?.generation;
    if (current === generation) this.#reissues++;
    return this.lease.reissue({ reason, ifGeneration: generation });
  }

  /** @internal Called by the client class when a connect starts with `generation`. */
  _opened(client: pg.Client, generation: number): void {
    this.#connects++;
    this.#generationOf.set(client, generation);
    client.once('end', () => this._closed(client));
  }

  /** @internal A client is gone (ended, or its connect failed). */
  _closed(client: pg.Client): void {
    if (!this.#generationOf.delete(client)) return;
    this.#checkDrained();
    if (this.#generationOf.size === 0) for (const resolve of this.#closedWaiters.splice(0)) resolve();
  }

  /**
   * Resolves when every connection this pool opened has ended (its socket closed), or after
   * {@link END_CLOSE_TIMEOUT_MS} at the latest (a socket that never reports its end must not hang `end()`).
   */
  #allClosed(): Promise<void> {
    if (this.#generationOf.size === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, END_CLOSE_TIMEOUT_MS);
      timer.unref();
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.#closedWaiters.push(done);
    });
  }

  /** @internal SQLSTATE 42501 on a connection of `generation`. */
  _permissionDenied(generation: number): void {
    if (!this.#detectDroppedRole || this.ending) return;
    const snap = this.lease.peek();
    if (!snap || snap.generation !== generation) return; // already rotated: the connection closes on release
    // One check at a time per generation, then a growing pause (a role being dropped is caught within ~100 ms; an
    // application that keeps hitting a real permission error costs a login every few seconds at most).
    const now = Date.now();
    const check = this.#checkedRole.get(generation) ?? { next: 0, intervalMs: DROPPED_ROLE_CHECK_MIN_MS };
    if (now < check.next) return;
    check.next = Number.POSITIVE_INFINITY; // while the check runs
    this.#checkedRole.clear();
    this.#checkedRole.set(generation, check);
    const again = (): void => {
      check.next = Date.now() + check.intervalMs;
      check.intervalMs = Math.min(check.intervalMs * 2, DROPPED_ROLE_CHECK_MAX_MS);
    };
    const probe = new this.#BaseClient({
      ...this.options,
      user: snap.value.username,
      password: snap.value.password.reveal(),
    });
    probe.on('error', noop);
    probe.connect().then(
      () => {
        again();
        probe.end().catch(noop);
      },
      (err: unknown) => {
        again();
        if (AUTH_FAILURE_CODES.has(sqlState(err) ?? '')) {
          this.#reissue(generation, 'the role of the current credentials was dropped').catch(noop);
        }
      },
    );
  }

  #onRotate(e: LeaseRotateEvent<DatabaseCredentials>): void {
    const drained = e.drained; // reading it defers the drain until we call it
    const previous = e.previous.generation;
    const current = e.current.generation;
    this.#rotations++;
    this.#lastRotationAt = Date.now();
    this.#draining.set(previous, drained);
    const internals = this as unknown as PoolInternals;
    const idle = new Set(internals._idle.map((item) => item.client));
    for (const client of [...internals._clients]) {
      const gen = this.#generationOf.get(client);
      if (gen === undefined || gen >= current) continue;
      if (idle.has(client)) internals._remove(client, () => internals._pulseQueue());
      else internals._expired.add(client); // closed by pg-pool when released
    }
    this.emit('rotate', {
      previousGeneration: previous,
      generation: current,
      reason: e.reason,
    } satisfies PoolRotateEvent);
    this.#checkDrained();
  }

  #checkDrained(): void {
    if (this.#draining.size === 0) return;
    let oldest = Number.POSITIVE_INFINITY;
    for (const gen of this.#generationOf.values()) oldest = Math.min(oldest, gen);
    for (const [gen, drained] of [...this.#draining]) {
      if (gen >= oldest) continue;
      this.#draining.delete(gen);
      drained();
      this.emit('drained', { generation: gen } satisfies PoolDrainedEvent);
    }
  }
}

function resolveLease(source: {
  vault: Vault | undefined;
  role: string | undefined;
  credentials: 'dynamic' | 'static' | undefined;
  mount: string | undefined;
  leaseOptions: LeaseOptions | undefined;
  lease: Lease<DatabaseCredentials> | undefined;
}): Lease<DatabaseCredentials> {
  if (source.lease) {
    if (source.vault || source.role) {
      throw configError('lease', 'pass either `lease` or `vault` + `role`, not both', 'Remove one of them.');
    }
    if (typeof source.lease.on !== 'function' || typeof source.lease.peek !== 'function') {
      throw configError('lease', 'is not a lease handle', 'Pass `vault.database.credentials(role)`.');
    }
    return source.lease;
  }
  if (!source.vault || typeof (source.vault as { database?: unknown }).database !== 'object') {
    throw configError(
      'vault',
      'is required (a Vault client from createVault())',
      'Pass `vault` and `role`, or a `lease`.',
    );
  }
  if (typeof source.role !== 'string' || source.role.length === 0) {
    throw configError(
      'role',
      'must be a non-empty database role name',
      'Pass the Vault database role, e.g. `app-rw`.',
    );
  }
  const kind = source.credentials ?? 'dynamic';
  if (kind !== 'dynamic' && kind !== 'static') {
    throw configError(
      'credentials',
      `must be "dynamic" or "static", got ${JSON.stringify(kind)}`,
      'Fix the value.',
    );
  }
  const opts: DatabaseCredentialsOptions = { ...source.leaseOptions };
  if (source.mount !== undefined) opts.mount = source.mount;
  return kind === 'static'
    ? source.vault.database.staticCredentials(source.role, opts)
    : source.vault.database.credentials(source.role, opts);
}

function configError(option: string, problem: string, fix: string): VaultError {
  return new VaultError(
    VaultErrorCode.CONFIG,
    `Invalid option "${option}" of createRotatingPool: ${problem}. ${fix}`,
  );
}

function assertPoolInternals(pool: pg.Pool): void {
  const p = pool as unknown as Partial<PoolInternals>;
  if (
    !Array.isArray(p._clients) ||
    !Array.isArray(p._idle) ||
    !(p._expired instanceof WeakSet) ||
    typeof p._remove !== 'function' ||
    typeof p._pulseQueue !== 'function'
  ) {
    throw new VaultError(
      VaultErrorCode.CONFIG,
      'This version of pg / pg-pool is not supported by @leasehold/pg (it needs pg >= 8.11). Upgrade pg.',
    );
  }
}

/** A subclass of the application's Client class that connects with the lease's current credentials. */
function rotatingClientClass(
  Base: typeof pg.Client,
  lease: Lease<DatabaseCredentials>,
  hooks: Hooks,
): typeof pg.Client {
  class RotatingClient extends Base {
    #generation = 0;

    override connect(): Promise<pg.Client>;
    override connect(callback: (err: Error) => void): void;
    override connect(callback?: (err: Error) => void): Promise<pg.Client> | undefined {
      const done = new Promise<pg.Client>((resolve, reject) => {
        const start = (snap: LeaseSnapshot<DatabaseCredentials>): void => {
          this.#use(snap);
          super.connect((err?: Error | null) => {
            if (err) {
              if (AUTH_FAILURE_CODES.has(sqlState(err) ?? '')) authFailures.set(err, this.#generation);
              hooks.pool?._closed(this);
              reject(err);
            } else {
              resolve(this);
            }
          });
        };
        const snap = lease.peek();
        if (snap) start(snap);
        else lease.ready().then(start, reject);
      });
      if (!callback) return done;
      done.then(() => callback(undefined as unknown as Error), callback);
      return undefined;
    }

    #use(snap: LeaseSnapshot<DatabaseCredentials>): void {
      this.#generation = snap.generation;
      const internals = this as unknown as ClientInternals;
      const user = snap.value.username;
      const password = snap.value.password.reveal();
      this.user = user;
      internals.connectionParameters.user = user;
      Object.defineProperty(this, 'password', {
        configurable: true,
        enumerable: false,
        writable: true,
        value: password,
      });
      Object.defineProperty(internals.connectionParameters, 'password', {
        configurable: true,
        enumerable: false,
        writable: true,
        value: password,
      });
      hooks.pool?._opened(this, snap.generation);
      internals.connection.on('errorMessage', (msg) => {
        if (msg.code === PERMISSION_DENIED_CODE) hooks.pool?._permissionDenied(this.#generation);
      });
    }
  }
  return RotatingClient;
}

/**
 * Creates a {@link RotatingPool}: a `pg.Pool` (instanceof your `pg.Pool`) whose connections use the Vault
 * database lease's current credentials and follow it through every renewal and rotation.
 *
 * @example
 * ```ts
 * import { createVault } from '@leasehold/core';
 * import { createRotatingPool } from '@leasehold/pg';
 *
 * const vault = createVault();
 * const pool = createRotatingPool({ vault, role: 'app-rw', host: 'db', database: 'app', max: 20 });
 * await pool.query('select 1');
 * await pool.end(); // drains and revokes the lease
 * ```
 */
export function createRotatingPool(options: RotatingPoolOptions): RotatingPool {
  return new RotatingPool(options);
}
