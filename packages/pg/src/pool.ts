/**
 * `RotatingPool`: a real `pg.Pool` (from the application's own `pg`) whose connections follow one Vault database
 * lease.
 *
 * - Every physical connection is opened with the lease's current credentials and tagged with their generation. The
 *   password is never a plain property of a client: it is read through a hidden accessor while the connection logs
 *   in and forgotten afterwards, so inspecting a client, the pool or a Knex/Prisma object shows no secret.
 * - On `rotate`, the old connections keep serving while the new generation is warmed: one new connection per old
 *   one, opened in the background, paced over the rotation window ({@link RotatingPoolOptions.rotationWindowMs}; at
 *   most the time until the previous lease's `drainBy` less {@link RETIRE_RESERVE_MS}) and
 *   {@link WARM_CONNECTS_IN_FLIGHT} at a time (so at most that many above `max`); each ready one goes to a waiting
 *   query and retires one old connection (an idle one at once, a busy one when released). When the window ends,
 *   idle old connections close and busy ones close when released (pg-pool's own "expired" path, the one
 *   `maxLifetimeSeconds` uses). Without a window — the old credentials may no longer work (a re-issue after a
 *   rejected login, a lost lease, a new token), or the margin is too short — every old connection is marked at once
 *   and the warm ones replace them. When none is left, the pool tells the lease it drained, so the old Vault lease
 *   is revoked.
 * - A connect rejected with SQLSTATE 28P01/28000 logs in again with newer credentials: at once when the lease already
 *   moved on, after a single-flight re-issue otherwise (at most three logins per connect). Every wait
 *   for credentials (first issue, re-issue) ends within the pool's `connectionTimeoutMillis` (30 s when it is 0)
 *   with a `POOL_CREDENTIALS_UNAVAILABLE` {@link RotatingPoolError}.
 * - A statement refused with 42501 is checked with fresh logins using its connection's credentials: if they are
 *   rejected, the role was dropped (lease or token revoked out of band), the lease is re-issued and the statement
 *   fails with `POOL_ROLE_DROPPED`. `pool.query()` (and {@link RotatingPool.retryDropped} for Knex) runs such a
 *   statement once more on a connection of the new generation; inside an explicit transaction it reaches the caller.
 *
 * All lease logic (renewal, re-issue, single flight, revocation) lives in `@leasehold/core`; this file only maps
 * connections to generations.
 */
import {
  type DatabaseCredentials,
  type DatabaseLeaseSource,
  type Lease,
  type LeaseError,
  type LeaseOptions,
  type LeaseRotateEvent,
  type LeaseSnapshot,
  type RotateReason,
  systemClock,
  type TimerHandle,
  type Vault,
  VaultError,
  VaultErrorCode,
} from '@leasehold/core';
import { databaseCredentialsProblem, resolveDatabaseLease, sleep, within } from '@leasehold/core/host';
import pg from 'pg';
import { RotatingPoolError, RotatingPoolErrorCode } from './errors.js';
import { validateRotatingPoolOptions } from './options.js';

/** SQLSTATEs of a login the server rejected (`invalid_password`, `invalid_authorization_specification`). */
export const AUTH_FAILURE_CODES: ReadonlySet<string> = new Set(['28P01', '28000']);
/** SQLSTATE `insufficient_privilege`: what every statement of a session whose role was dropped fails with. */
export const PERMISSION_DENIED_CODE = '42501';

/**
 * Where the pool gets its credentials: a Vault client and a role (`vault`, `role`, `credentials`, `mount`,
 * `leaseOptions`), or a lease handle you already hold (`lease`). The core's `DatabaseLeaseSource`.
 */
export type RotatingPoolSource = DatabaseLeaseSource;

/** Options of `createRotatingPool()`: every `pg.PoolConfig` option except the credentials, plus the source. */
export type RotatingPoolOptions = Omit<pg.PoolConfig, 'user' | 'password'> &
  RotatingPoolSource & {
    /**
     * Revoke the lease when `pool.end()` finishes (default: `true` when the pool obtained the lease from
     * `vault` + `role`, `false` when you passed `lease`). Pools on the same Vault client, role and options share
     * one handle: give each its own `leaseOptions`, or pass `false`, if several pools use one role.
     */
    revokeOnEnd?: boolean;
    /**
     * On SQLSTATE 42501, check with fresh logins (with the connection's own credentials, for up to ~750 ms) whether
     * its role still exists; when it does not, re-issue the lease, fail the statement with `POOL_ROLE_DROPPED` and let
     * `pool.query()` run it again on the new generation (default `true`). A role found alive is not checked again
     * for a while (100 ms, doubling up to 5 s per generation): a real permission error then fails at once.
     */
    detectDroppedRole?: boolean;
    /**
     * Longest time a rotation spreads the replacement of the old connections over, ms (default
     * `DEFAULT_ROTATION_WINDOW_MS`, 30 s; 0 = replace them at once). While it lasts the old connections keep
     * serving: the pool opens one new connection per old one, paced evenly over the first 80 % of the window (each
     * in the middle of its slot, at most 2 at a time), and closes an old one as each new one is ready, so the cost
     * of the new logins (a PostgreSQL backend each) is spread instead of landing at once. Whatever is left when the
     * window ends closes once released.
     *
     * The window is never longer than the time until the previous lease is revoked (the rotation event's `drainBy`)
     * less 10 s kept for the old connections' last work — so a lease whose rotation margin is under ~10.5 s gets
     * none — and is 0 when the previous credentials may no longer work: a re-issue after a rejected login or a
     * dropped role, a lost lease, a new Vault token, an expired value.
     */
    rotationWindowMs?: number;
  };

/** Payload of the pool's `rotate` event. */
export interface PoolRotateEvent {
  readonly previousGeneration: number;
  readonly generation: number;
  readonly reason: RotateReason;
  /**
   * Whether the connections of the previous generations are being retired (replaced by warm ones over the rotation
   * window, then closed once released). `false` when the lease says the old value stays valid for open connections (a credential source with
   * `login` binding, e.g. RDS IAM tokens): they stay; only new connections use the new value.
   */
  readonly retirePrevious: boolean;
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
  /** Dropped-role checks run (fresh logins after a statement was refused with 42501). */
  readonly roleChecks: number;
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
  /** Opens a pooled client and hands it to `pendingItem.callback` (pg-pool's connect path, also for warming). */
  newClient(pendingItem: {
    callback: (
      err: Error | undefined,
      client: pg.PoolClient | undefined,
      release: (err?: Error) => void,
    ) => void;
    timedOut: boolean;
  }): void;
}

/**
 * Connections a rotation opens at the same time to warm the new generation: the pool holds at most this many
 * connections above `max` while it rotates (each ready one retires an old one).
 */
export const WARM_CONNECTS_IN_FLIGHT = 2;

/** Default of the `rotationWindowMs` option of {@link RotatingPoolOptions}, ms. */
export const DEFAULT_ROTATION_WINDOW_MS = 30_000;

/** Share of the rotation window the replacement connects are paced over (the rest is slack for slow connects). */
const WARM_PACE_SHARE = 0.8;

/** A window shorter than this replaces the old connections at once (pacing would not spread anything). */
const MIN_ROTATION_WINDOW_MS = 100;

/**
 * Time kept, after the rotation window, for the old connections' last statements and transactions before the
 * previous lease is revoked: the window ends this long before `drainBy` at the latest. A transaction can begin on an
 * old connection until the window ends, and on a busy machine one took over 2 s between its checkout and its first
 * statement; a lease whose rotation margin is shorter than this gets no window (its old connections are replaced at
 * once, with the whole margin to finish their work). The replacements themselves are paced over the first 80 % of
 * the window, so the last of them is due a fifth of the window plus these 10 s before `drainBy`.
 */
const RETIRE_RESERVE_MS = 10_000;

/**
 * Rotation reasons after which the previous credentials may no longer work (or must not be used): their connections
 * are retired at once instead of over the rotation window.
 */
const RETIRE_AT_ONCE: ReadonlySet<RotateReason> = new Set<RotateReason>([
  'requested',
  'lease-lost',
  'expired',
  'token-changed',
]);

/** The replacement of old connections after one rotation. */
interface Rotation {
  /** The generation new connections use. */
  readonly target: number;
  /** Replacement connects still to start. */
  toWarm: number;
  /** Replacement connects under way. */
  warming: number;
  /** Earliest start of the next replacement connect (ms since epoch); pacing ends with the window. */
  nextStartAt: number;
  /** Pause between replacement starts, ms (0 once the window ended). */
  intervalMs: number;
  /** The next paced start, while one waits. */
  pace: TimerHandle | undefined;
  /** The end of the window, while it lasts: the old connections still serve. */
  windowEnd: TimerHandle | undefined;
}

/** Cancels the pacing and window timers of `rotation` (the window has ended afterwards). */
function clearRotationTimers(rotation: Rotation): void {
  for (const handle of [rotation.pace, rotation.windowEnd]) {
    if (handle !== undefined) systemClock.clearTimeout(handle);
  }
  rotation.pace = rotation.windowEnd = undefined;
}

/** The parts of pg.Client the credential hand-off sets (pg reads `connectionParameters` for the startup message). */
interface ClientInternals {
  connectionParameters: {
    user?: string;
    password?: unknown;
    host?: string;
    port?: number;
    database?: string;
  };
  connection: {
    on(event: 'errorMessage', listener: (msg: { code?: string }) => void): unknown;
    on(event: 'readyForQuery', listener: (msg: { status?: string }) => void): unknown;
  };
}

/** The callback form of {@link RotatingPool.connect}, as `pg.Pool#connect(callback)` takes it. */
export type ConnectCallback = (
  err: Error | undefined,
  client: pg.PoolClient | undefined,
  done: (release?: Error | boolean) => void,
) => void;

type QueryCallback = (err: Error | undefined, result?: unknown) => void;
type AnyQuery = (...args: unknown[]) => unknown;

interface Hooks {
  pool: RotatingPool | undefined;
}

interface RoleCheck {
  dropped: boolean;
  running: Promise<boolean> | undefined;
  next: number;
  intervalMs: number;
}

const DROPPED_ROLE_CHECK_MIN_MS = 100;
const DROPPED_ROLE_CHECK_MAX_MS = 5000;
/**
 * Pauses between the fresh logins that decide whether a role was dropped. A revocation revokes the privileges
 * first and drops the role a moment later; a login accepted within this window does not prove the role survives.
 */
const ROLE_PROBE_PAUSES_MS = [0, 50, 100, 200, 400];
/** How long `end()` waits, at most, for the sockets pg-pool asked to end before it revokes the lease. */
const END_CLOSE_TIMEOUT_MS = 10_000;
/** Bound of every wait for credentials when `connectionTimeoutMillis` is 0 (pg's "no timeout"). */
export const DEFAULT_CREDENTIALS_WAIT_MS = 30_000;

/**
 * Logins one connect may make when PostgreSQL refuses them (28P01/28000): the first, one with the re-issued
 * credentials, and one more when a rotation landed while that second login was under way (its generation is already
 * old when the refusal arrives). A login refused for the newest generation after that is the caller's error.
 */
const MAX_LOGIN_TRIES = 3;

const authFailures = new WeakMap<object, number>();
/** Errors of a connect that waited for the lease's first value (not a database answer). */
const leaseFailures = new WeakSet<object>();

function noop(): void {}

function sqlState(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function isSubmittable(value: unknown): boolean {
  return typeof (value as { submit?: unknown } | null)?.submit === 'function';
}

/**
 * Gives `client` the user and password of `snap` for its login. The password is a non-enumerable accessor (util.inspect
 * shows `[Getter/Setter]`, never the value) on the client and on its connection parameters, and is forgotten by
 * the returned function once the login is over (pg does not read it again).
 */
function applyCredentials(client: pg.Client, snap: LeaseSnapshot<DatabaseCredentials>): () => void {
  const problem = databaseCredentialsProblem(snap.value);
  if (problem) {
    throw new RotatingPoolError(
      RotatingPoolErrorCode.CREDENTIALS_UNAVAILABLE,
      `The credentials of generation ${snap.generation} cannot be used: ${problem}. Fix the value at its source.`,
      { generation: snap.generation },
    );
  }
  const internals = client as unknown as ClientInternals;
  const user = snap.value.username;
  client.user = user;
  internals.connectionParameters.user = user;
  // Where to connect, when the credentials say (an RDS secret carries host, port and dbname); the pool's options
  // are the fallback for what they leave out.
  const { host, port, database } = snap.value;
  const target = client as unknown as { host: string; port: number; database: string | undefined };
  if (host !== undefined) target.host = internals.connectionParameters.host = host;
  if (port !== undefined) target.port = internals.connectionParameters.port = port;
  if (database !== undefined) target.database = internals.connectionParameters.database = database;
  let secret: { reveal(): string } | undefined = snap.value.password;
  const accessor: PropertyDescriptor = {
    configurable: true,
    enumerable: false,
    get: () => secret?.reveal() ?? null,
    set: (value: unknown) => {
      // pg writes the value a password function resolved to; keep it behind the accessor as well.
      secret = typeof value === 'string' ? { reveal: () => value } : undefined;
    },
  };
  Object.defineProperty(client, 'password', accessor);
  Object.defineProperty(internals.connectionParameters, 'password', accessor);
  return () => {
    secret = undefined;
  };
}

/**
 * A `pg.Pool` whose connections follow a Vault database lease. Create it with `createRotatingPool()`.
 *
 * Events (besides pg.Pool's `connect`, `acquire`, `release`, `remove`, `error`): `rotate` (`PoolRotateEvent`)
 * and `drained` (`PoolDrainedEvent`).
 */
export class RotatingPool extends pg.Pool {
  /** The credentials lease this pool follows. */
  readonly lease: Lease<DatabaseCredentials>;
  readonly #generationOf = new Map<pg.Client, number>();
  readonly #draining = new Map<number, () => void>();
  readonly #revokeOnEnd: boolean;
  readonly #detectDroppedRole: boolean;
  readonly #BaseClient: typeof pg.Client;
  readonly #unsubscribe: Array<() => void>;
  readonly #roleChecks = new Map<number, RoleCheck>();
  /** Bound of every wait for credentials, ms. */
  readonly #waitMs: number;
  #rotations = 0;
  #lastRotationAt: number | undefined;
  #reissues = 0;
  #reissueCounted = 0;
  #connects = 0;
  #roleCheckCount = 0;
  #lastIssueError: LeaseError | undefined;
  /** Generations replaced by a rotation that kept their connections (`login` binding): their values may have expired. */
  readonly #kept = new Set<number>();
  /** The replacement of old connections under way, if any. */
  #rotation: Rotation | undefined;
  /** {@link RotatingPoolOptions.rotationWindowMs}. */
  readonly #rotationWindowMs: number;
  #endPromise: Promise<void> | undefined;
  readonly #closedWaiters: Array<() => void> = [];

  constructor(options: RotatingPoolOptions) {
    validateRotatingPoolOptions(options);
    const {
      vault,
      role,
      credentials,
      mount,
      leaseOptions,
      lease: givenLease,
      revokeOnEnd,
      detectDroppedRole,
      rotationWindowMs,
      ...poolConfig
    } = options as RotatingPoolOptions & {
      vault?: Vault;
      role?: string;
      credentials?: 'dynamic' | 'static';
      mount?: string;
      leaseOptions?: LeaseOptions;
      lease?: Lease<DatabaseCredentials>;
    };
    const lease = resolveDatabaseLease(
      (givenLease
        ? { lease: givenLease, vault, role }
        : { vault, role, credentials, mount, leaseOptions }) as DatabaseLeaseSource,
      { fn: CREATE },
    );
    const hooks: Hooks = { pool: undefined };
    const BaseClient = (poolConfig.Client ?? pg.Client) as typeof pg.Client;
    super({ ...poolConfig, Client: rotatingClientClass(BaseClient, lease, hooks) });
    hooks.pool = this;
    assertPoolInternals(this);
    this.lease = lease;
    this.#BaseClient = BaseClient;
    this.#revokeOnEnd = revokeOnEnd ?? givenLease === undefined;
    this.#detectDroppedRole = detectDroppedRole ?? true;
    this.#rotationWindowMs = rotationWindowMs ?? DEFAULT_ROTATION_WINDOW_MS;
    const timeout = poolConfig.connectionTimeoutMillis ?? 0;
    this.#waitMs = timeout > 0 ? timeout : DEFAULT_CREDENTIALS_WAIT_MS;
    this.#unsubscribe = [
      lease.on('rotated', (e) => this.#onRotate(e)),
      lease.on('error', (e) => {
        if (e.operation === 'issue') this.#lastIssueError = e.error;
      }),
    ];
    // Surface a first issue that fails permanently (unknown role, permission denied) without an unhandled rejection;
    // connects report it to their callers.
    lease.ready().catch(noop);
  }

  /** `rotate`: the pool switched to new credentials (old connections are being replaced). */
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
      roleChecks: this.#roleCheckCount,
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
      this.#connect(callback);
      return undefined;
    }
    return new Promise<pg.PoolClient>((resolve, reject) =>
      this.#connect((err, client) => (err || !client ? reject(err) : resolve(client))),
    );
  }

  /**
   * What `pool.query()` does with a failed statement: a `POOL_ROLE_DROPPED` error from outside an explicit
   * transaction (the statement did not run) waits for the generation after the dropped one
   * ({@link RotatingPool.awaitReplacement}), then `run`s once on a client of it; any other error is rethrown.
   */
  async retryDropped<T>(error: unknown, run: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    await this.awaitReplacement(error);
    return this.#withClient(run);
  }

  /**
   * Resolves once the pool has credentials newer than the generation whose role was dropped, if `error` is a
   * `POOL_ROLE_DROPPED` error from outside an explicit transaction (a statement that did not run and may run again
   * on a new connection). Rejects with `error` itself for any other error, and with `POOL_CREDENTIALS_UNAVAILABLE`
   * when no new credentials arrive within the pool's bound (`connectionTimeoutMillis`, or 30 s when it is 0).
   */
  async awaitReplacement(error: unknown): Promise<void> {
    if (
      !RotatingPoolError.is(error, RotatingPoolErrorCode.ROLE_DROPPED) ||
      error.inTransaction ||
      this.ending
    ) {
      throw error;
    }
    const dropped = error.generation ?? 0;
    if ((this.lease.peek()?.generation ?? 0) > dropped) return;
    const started = Date.now();
    await within(
      systemClock,
      this.#reissue(dropped, 'the role of the current credentials was dropped'),
      this.#waitMs,
      () => this.#credentialsUnavailable(Date.now() - started, error),
    );
  }

  override end(): Promise<void>;
  override end(callback: () => void): void;
  override end(callback?: () => void): Promise<void> | undefined {
    if (!this.#endPromise) {
      this.#endPromise = (async () => {
        for (const unsubscribe of this.#unsubscribe) unsubscribe();
        this.#stopRotation();
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

  static {
    // pool.query(): pg-pool's own, but a statement refused because its connection's role was dropped runs once more
    // on the new generation. Assigned here (not declared as a method) so that pg's typings of query() stay.
    RotatingPool.prototype.query = function query(this: RotatingPool, ...args: unknown[]): unknown {
      const [text, second, third] = args;
      if (
        typeof text === 'function' ||
        isSubmittable(text) ||
        typeof (text as { callback?: unknown } | null)?.callback === 'function'
      ) {
        return (pg.Pool.prototype.query as AnyQuery).apply(this, args);
      }
      const callback = (
        typeof third === 'function' ? third : typeof second === 'function' ? second : undefined
      ) as QueryCallback | undefined;
      const values = typeof second === 'function' ? undefined : second;
      const run = (client: pg.PoolClient): Promise<pg.QueryResult> =>
        (client.query as AnyQuery).call(client, text, values) as Promise<pg.QueryResult>;
      // pg-pool's own query() (checkout, query, release: its callbacks cost less than a promise chain per statement);
      // only a failed statement goes through retryDropped().
      const first = (pg.Pool.prototype.query as AnyQuery).call(this, text, values) as Promise<pg.QueryResult>;
      const result = first.catch((error: unknown) => this.retryDropped(error, run));
      if (!callback) return result;
      result.then(
        (res) => callback(undefined, res),
        (error: Error) => callback(error),
      );
      return undefined;
    } as pg.Pool['query'];
  }

  /** Checks out a client, runs `run`, releases it (destroying it when `run` failed), like pg-pool's query(). */
  async #withClient<T>(run: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.connect();
    let broken: Error | undefined;
    const onError = (error: Error): void => {
      broken = error;
    };
    client.on('error', onError);
    try {
      const result = await run(client);
      client.removeListener('error', onError);
      client.release(broken);
      return result;
    } catch (error) {
      client.removeListener('error', onError);
      client.release(error instanceof Error ? error : new Error(String(error)));
      throw error;
    }
  }

  /**
   * pg-pool's connect, bounded: a login rejected for generation g logs in again with a newer generation — at once
   * when the lease already moved on, after a single-flight re-issue otherwise (or, when a credential source still
   * answers g, after its next rotation) — at most {@link MAX_LOGIN_TRIES} logins in all, and every wait for credentials ends within {@link RotatingPool.#waitMs} with `POOL_CREDENTIALS_UNAVAILABLE`. A
   * wait for a free connection is pg-pool's own (its `connectionTimeoutMillis`).
   */
  #connect(callback: ConnectCallback): void {
    const started = Date.now();
    let settled = false;
    let refused: Error | undefined;
    let stopWaiting: (() => void) | undefined;
    // Armed only once the connect has to wait for credentials (most checkouts never do: a timer per checkout cost
    // measurable CPU under load).
    let timer: TimerHandle | undefined;
    const finish: ConnectCallback = (err, client, done) => {
      if (settled) {
        if (client) done(); // a connect that finished after the caller was told it failed: back to the pool
        return;
      }
      settled = true;
      if (timer) systemClock.clearTimeout(timer);
      stopWaiting?.();
      callback(err, client, done);
    };
    const unavailable = (cause?: unknown): void =>
      finish(this.#credentialsUnavailable(Date.now() - started, cause ?? refused), undefined, noop);
    /** Bounds the wait for credentials from `started`; false when the bound has passed already (reported). */
    const waitForCredentials = (): boolean => {
      const leftMs = this.#waitMs - (Date.now() - started);
      if (leftMs <= 0) {
        unavailable();
        return false;
      }
      timer ??= systemClock.setTimeout(unavailable, leftMs);
      return true;
    };
    if (this.lease.peek() === undefined && !waitForCredentials()) return;
    const attempt = (tries: number): void => {
      super.connect((err, client, done) => {
        if (!err) {
          finish(undefined, client, done);
          return;
        }
        if (leaseFailures.has(err)) {
          unavailable(err);
          return;
        }
        const gen = authFailures.get(err);
        if (gen === undefined || tries >= MAX_LOGIN_TRIES || this.ending || settled) {
          finish(err, undefined, noop);
          return;
        }
        refused = err;
        if (!waitForCredentials()) return;
        // The lease already moved past the refused generation (a rotation landed while this login was under way):
        // log in again with the newest credentials, no re-issue needed.
        if ((this.lease.peek()?.generation ?? 0) > gen) {
          attempt(tries + 1);
          return;
        }
        this.#reissue(gen, `database rejected the login (${sqlState(err)})`).then(
          (snap) => {
            if (settled) return;
            if (snap.generation > gen) {
              attempt(tries + 1);
              return;
            }
            // The source still answers the refused generation (a credential source in the middle of a rotation: the
            // database changed first, the new version is not published yet): wait for the next rotation, within the
            // same bound as every wait for credentials (the timer reports POOL_CREDENTIALS_UNAVAILABLE).
            stopWaiting = this.lease.on('rotated', () => {
              stopWaiting?.();
              stopWaiting = undefined;
              if (!settled) attempt(tries + 1);
            });
          },
          () => finish(err, undefined, noop),
        );
      });
    };
    attempt(1);
  }

  #credentialsUnavailable(elapsedMs: number, cause: unknown): RotatingPoolError {
    const vaultError = this.#lastIssueError;
    const snap = this.lease.peek();
    const bound =
      this.#waitMs === DEFAULT_CREDENTIALS_WAIT_MS && !this.options.connectionTimeoutMillis
        ? `${this.#waitMs} ms (the bound when connectionTimeoutMillis is 0)`
        : `connectionTimeoutMillis (${this.#waitMs} ms)`;
    let what: string;
    if (RotatingPoolError.is(cause, RotatingPoolErrorCode.ROLE_DROPPED)) {
      what = `the database role of generation ${cause.generation} was dropped (lease or token revoked out of band)`;
    } else if (authFailures.has(cause as object)) {
      what = `PostgreSQL rejected the login of generation ${authFailures.get(cause as object)} (${sqlState(cause)})`;
    } else if (!snap) {
      what = 'no credentials have been issued yet';
    } else {
      what = 'the credentials are being re-issued';
    }
    const issuer = isSourceLease(this.lease) ? 'the credential source' : 'Vault';
    const vault = vaultError
      ? `${issuer} has not issued new credentials (last error ${vaultError.code}: ${vaultError.message})`
      : `${issuer} has not issued new credentials yet`;
    return new RotatingPoolError(
      RotatingPoolErrorCode.CREDENTIALS_UNAVAILABLE,
      `No usable database credentials after ${elapsedMs} ms, the pool's bound is ${bound}: ${what} and ${vault}. ` +
        'The pool keeps re-issuing in the background; retry the query later.',
      { generation: snap?.generation, sqlState: sqlState(cause), cause: vaultError ?? cause },
    );
  }

  /** Asks the lease for the generation after `generation` (single flight); resolves with the value in use. */
  #reissue(generation: number, reason: string): Promise<LeaseSnapshot<DatabaseCredentials>> {
    const current = this.lease.peek()?.generation;
    if (current === generation && this.#reissueCounted !== generation) {
      this.#reissueCounted = generation;
      this.#reissues++;
    }
    return this.lease.reissue({ reason, ifGeneration: generation });
  }

  /**
   * @internal Whether connections of `generation` are being retired: it is older than the current generation and
   * was not kept by a rotation that leaves connections open (`login` binding).
   */
  _retired(generation: number): boolean {
    return generation < (this.lease.peek()?.generation ?? 0) && !this.#kept.has(generation);
  }

  /** @internal The pool's bound of every wait for credentials, ms. */
  get _waitMs(): number {
    return this.#waitMs;
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
    if (this.#rotation) this.#warmNext();
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

  /**
   * @internal SQLSTATE 42501 on a connection opened with `snap`: resolves true when the role of `snap` was dropped
   * (fresh logins with its credentials are rejected), and then re-issues the lease if `snap` is still current.
   * One check at a time per generation; a role found alive is not checked again for a growing pause.
   */
  _roleDropped(snap: LeaseSnapshot<DatabaseCredentials>): Promise<boolean> {
    if (!this.#detectDroppedRole || this.ending) return Promise.resolve(false);
    const generation = snap.generation;
    // A generation kept open past its rotation (`login` binding): its value may have expired by design, so a fresh
    // login with it proves nothing about the role; a 42501 there is a real permission error.
    if (this.#kept.has(generation)) return Promise.resolve(false);
    let check = this.#roleChecks.get(generation);
    if (check?.dropped) return Promise.resolve(true);
    if (check?.running) return check.running;
    if (check && Date.now() < check.next) return Promise.resolve(false);
    if (!check) {
      check = { dropped: false, running: undefined, next: 0, intervalMs: DROPPED_ROLE_CHECK_MIN_MS };
      this.#roleChecks.set(generation, check);
    }
    const c = check;
    this.#roleCheckCount++;
    c.running = this.#probeRole(snap)
      .catch(() => false)
      .then((dropped) => {
        c.running = undefined;
        if (dropped) {
          c.dropped = true;
          this.#retire(generation); // no checkout gets a connection whose role is gone
          if (this.lease.peek()?.generation === generation) {
            this.#reissue(generation, 'the role of the current credentials was dropped').catch(noop);
          }
        } else {
          c.next = Date.now() + c.intervalMs;
          c.intervalMs = Math.min(c.intervalMs * 2, DROPPED_ROLE_CHECK_MAX_MS);
        }
        return dropped;
      });
    return c.running;
  }

  /** Fresh logins with `snap`'s credentials: true as soon as one is rejected (28P01/28000). */
  async #probeRole(snap: LeaseSnapshot<DatabaseCredentials>): Promise<boolean> {
    for (const pauseMs of ROLE_PROBE_PAUSES_MS) {
      if (pauseMs > 0) await sleep(systemClock, pauseMs);
      if (this.ending) return false;
      const probe = new this.#BaseClient({ ...this.options, connectionTimeoutMillis: this.#waitMs });
      const forget = applyCredentials(probe, snap);
      probe.on('error', noop);
      try {
        await probe.connect();
        probe.end().catch(noop);
      } catch (err) {
        if (AUTH_FAILURE_CODES.has(sqlState(err) ?? '')) return true;
      } finally {
        forget();
      }
    }
    return false;
  }

  #onRotate(e: LeaseRotateEvent<DatabaseCredentials>): void {
    const previous = e.previous.generation;
    const current = e.current.generation;
    this.#rotations++;
    this.#lastRotationAt = Date.now();
    this.#lastIssueError = undefined;
    // `false` only from a credential source with `login` binding; a lease without the field retires, as before.
    const retirePrevious = e.retirePrevious !== false;
    const event: PoolRotateEvent = {
      previousGeneration: previous,
      generation: current,
      reason: e.reason,
      retirePrevious,
    };
    if (!retirePrevious) {
      // The value only mattered at login: open and idle connections stay, new ones log in with the new value.
      // Nothing to drain (the event's drain completes when this listener returns).
      this.#kept.add(previous);
      this.emit('rotate', event);
      return;
    }
    const drained = e.drained; // reading it defers the drain until we call it
    this.#draining.set(previous, drained);
    // A replacement still under way for an earlier rotation: what it left of the older generations closes now.
    if (this.#rotation) this.#retire(this.#rotation.target - 1);
    this.#stopRotation();
    const now = Date.now();
    const untilRevoked = Math.min(e.drainBy, e.previous.expiresAt) - now;
    const windowMs = RETIRE_AT_ONCE.has(e.reason)
      ? 0
      : Math.min(this.#rotationWindowMs, untilRevoked - RETIRE_RESERVE_MS);
    const old = this.#oldConnections(current).length;
    const rotation: Rotation = {
      target: current,
      toWarm: old,
      warming: 0,
      nextStartAt: now,
      intervalMs: 0,
      pace: undefined,
      windowEnd: undefined,
    };
    this.#rotation = rotation;
    if (windowMs >= MIN_ROTATION_WINDOW_MS && old > 0) {
      // The old connections keep serving; replacements are paced over the window, each retiring one old connection.
      rotation.intervalMs = (windowMs * WARM_PACE_SHARE) / old;
      // Each replacement starts in the middle of its slot: the first half a slot after the rotation, not in the
      // instant that already carried the new lease's issue (and, under load, its first waiting queries).
      rotation.nextStartAt = now + rotation.intervalMs / 2;
      rotation.windowEnd = systemClock.setTimeout(() => this.#endWindow(rotation), windowMs);
    } else {
      this.#endWindow(rotation);
    }
    this.#warmNext();
    this.emit('rotate', event);
    this.#checkDrained();
  }

  /** The most connections the pool holds while it rotates: `max` (pg-pool's default 10) + the warm connects. */
  #maxOpen(): number {
    return (this.options.max ?? 10) + WARM_CONNECTS_IN_FLIGHT;
  }

  /** Open connections older than `current`. */
  #oldConnections(current: number): pg.Client[] {
    const internals = this as unknown as PoolInternals;
    return internals._clients.filter((client) => {
      const gen = this.#generationOf.get(client);
      return gen !== undefined && gen < current;
    });
  }

  /**
   * The rotation window of `rotation` ended (or it had none): every old connection still open closes when next
   * released (pg-pool's own "expired" path, the one `maxLifetimeSeconds` uses), and the remaining replacements start
   * without pacing. At the end of a window the idle old connections close at once: the previous lease is revoked
   * soon, and a transaction begun on one of them now could still be running then. Without a window (the rotation
   * just happened, the whole margin is left) an idle one serves until its replacement is ready.
   */
  #endWindow(rotation: Rotation): void {
    const windowEnded = rotation.windowEnd !== undefined;
    const paced = rotation.pace !== undefined;
    clearRotationTimers(rotation);
    rotation.intervalMs = 0;
    if (this.#rotation !== rotation) return;
    const internals = this as unknown as PoolInternals;
    if (windowEnded) this.#retire(rotation.target - 1);
    else for (const client of this.#oldConnections(rotation.target)) internals._expired.add(client);
    if (paced) this.#warmNext();
  }

  /** Stops the pacing and window timers of the replacement under way (a new rotation, or `end()`). */
  #stopRotation(): void {
    const rotation = this.#rotation;
    if (!rotation) return;
    clearRotationTimers(rotation);
    rotation.toWarm = 0;
    this.#rotation = undefined;
  }

  /**
   * Opens replacement connections for the rotation under way through pg-pool's own connect path: one per old
   * connection still open, at most {@link WARM_CONNECTS_IN_FLIGHT} at a time, paced while its window lasts. A ready one
   * goes to a waiting query (or the idle list) and retires one old connection ({@link RotatingPool.#retireOne}). A
   * replacement connect that fails ends the replacement and retires every old connection at once (new connections
   * are then opened on demand, with the pool's re-issue of rejected logins).
   */
  #warmNext(): void {
    const rotation = this.#rotation;
    if (!rotation || rotation.pace) return;
    while (
      !this.ending &&
      rotation.warming < WARM_CONNECTS_IN_FLIGHT &&
      rotation.toWarm > 0 &&
      // At most WARM_CONNECTS_IN_FLIGHT above max: an old connection marked to close when released still counts
      // until it is gone (then `_closed` warms the next).
      (this as unknown as PoolInternals)._clients.length < this.#maxOpen() &&
      // Old connections that closed meanwhile (idle timeout, errors) need no replacement.
      this.#oldConnections(rotation.target).length > rotation.warming
    ) {
      const now = Date.now();
      if (rotation.nextStartAt > now) {
        rotation.pace = systemClock.setTimeout(() => {
          rotation.pace = undefined;
          if (this.#rotation === rotation) this.#warmNext();
        }, rotation.nextStartAt - now);
        return;
      }
      rotation.nextStartAt = now + rotation.intervalMs;
      rotation.toWarm--;
      rotation.warming++;
      (this as unknown as PoolInternals).newClient({
        timedOut: false,
        callback: (err, client, release) => {
          rotation.warming--;
          if (err || !client) {
            if (this.#rotation === rotation) this.#stopRotation();
            this.#retire(rotation.target - 1);
            return;
          }
          release(); // to a waiting query, or idle
          if (this.#rotation === rotation) {
            this.#retireOne(rotation);
            this.#warmNext();
          }
        },
      });
    }
  }

  /**
   * A replacement is ready: one old connection goes — an idle one at once; during the window, when none is idle, a
   * busy one when it is next released.
   */
  #retireOne(rotation: Rotation): void {
    const internals = this as unknown as PoolInternals;
    const target = rotation.target;
    const item = internals._idle.find((i) => (this.#generationOf.get(i.client) ?? target) < target);
    if (item) {
      internals._remove(item.client, () => internals._pulseQueue());
      return;
    }
    if (rotation.windowEnd === undefined) return; // after the window every old connection is marked already
    const busy = this.#oldConnections(target).find((client) => !internals._expired.has(client));
    if (busy) internals._expired.add(busy);
  }

  /** Closes idle connections of `generation` and older at once, busy ones when they are released. */
  #retire(generation: number): void {
    const internals = this as unknown as PoolInternals;
    const idle = new Set(internals._idle.map((item) => item.client));
    for (const client of [...internals._clients]) {
      const gen = this.#generationOf.get(client);
      if (gen === undefined || gen > generation) continue;
      if (idle.has(client)) internals._remove(client, () => internals._pulseQueue());
      else internals._expired.add(client); // closed by pg-pool when released
    }
  }

  #checkDrained(): void {
    if (this.#draining.size === 0) return;
    let oldest = Number.POSITIVE_INFINITY;
    for (const gen of this.#generationOf.values()) oldest = Math.min(oldest, gen);
    for (const [gen, drained] of [...this.#draining]) {
      if (gen >= oldest) continue;
      this.#draining.delete(gen);
      this.#roleChecks.delete(gen);
      drained();
      this.emit('drained', { generation: gen } satisfies PoolDrainedEvent);
    }
  }
}

const CREATE = 'createRotatingPool';

/** Whether `lease` was built on a credential source (`createSourceLease()`), for messages. */
function isSourceLease(lease: Lease<DatabaseCredentials>): boolean {
  const source = (lease as { source?: unknown }).source;
  return typeof source === 'object' && source !== null && 'kind' in source;
}

function assertPoolInternals(pool: pg.Pool): void {
  const p = pool as unknown as Partial<PoolInternals>;
  if (
    !Array.isArray(p._clients) ||
    !Array.isArray(p._idle) ||
    !(p._expired instanceof WeakSet) ||
    typeof p._remove !== 'function' ||
    typeof p._pulseQueue !== 'function' ||
    typeof p.newClient !== 'function'
  ) {
    throw new VaultError(
      VaultErrorCode.CONFIG,
      'This version of pg / pg-pool is not supported by @leasehold/pg (it needs pg >= 8.11). Upgrade pg.',
    );
  }
}

function roleDroppedError(cause: unknown, generation: number, inTransaction: boolean): RotatingPoolError {
  const what = inTransaction
    ? 'The transaction is aborted: roll it back, release this client and run the whole transaction again ' +
      '(a new client uses the new credentials).'
    : 'It can be run again on a new connection (pool.query() does so by itself).';
  return new RotatingPoolError(
    RotatingPoolErrorCode.ROLE_DROPPED,
    `The statement was refused (42501) because the database role of this connection (credential generation ` +
      `${generation}) was dropped: its lease, or the Vault token that owns it, was revoked out of band. The ` +
      `statement did not run. ${what}`,
    { generation, sqlState: PERMISSION_DENIED_CODE, inTransaction, cause },
  );
}

/** A subclass of the application's Client class that connects with the lease's current credentials. */
function rotatingClientClass(
  Base: typeof pg.Client,
  lease: Lease<DatabaseCredentials>,
  hooks: Hooks,
): typeof pg.Client {
  class RotatingClient extends Base {
    #snap: LeaseSnapshot<DatabaseCredentials> | undefined;
    /** Transaction status of the last ReadyForQuery: `I` idle, `T` in a transaction block, `E` in a failed one. */
    #txStatus = 'I';

    override connect(): Promise<pg.Client>;
    override connect(callback: (err: Error) => void): void;
    override connect(callback?: (err: Error) => void): Promise<pg.Client> | undefined {
      const done = new Promise<pg.Client>((resolve, reject) => {
        const start = (snap: LeaseSnapshot<DatabaseCredentials>): void => {
          let forget: () => void;
          try {
            forget = this.#use(snap);
          } catch (err) {
            hooks.pool?._closed(this);
            reject(err);
            return;
          }
          super.connect((err?: Error | null) => {
            forget();
            if (err) {
              if (AUTH_FAILURE_CODES.has(sqlState(err) ?? '')) authFailures.set(err, snap.generation);
              hooks.pool?._closed(this);
              reject(err);
            } else {
              resolve(this);
            }
          });
        };
        const snap = lease.peek();
        if (snap) start(snap);
        else
          lease
            .ready({ timeoutMs: hooks.pool?._waitMs ?? DEFAULT_CREDENTIALS_WAIT_MS })
            .then(start, (err: Error) => {
              leaseFailures.add(err);
              reject(err);
            });
      });
      if (!callback) return done;
      done.then(() => callback(undefined as unknown as Error), callback);
      return undefined;
    }

    /**
     * pg's query(); a statement refused with 42501 because this connection's role was dropped fails with a
     * `POOL_ROLE_DROPPED` {@link RotatingPoolError} instead (checked with fresh logins first).
     */
    override query(...args: unknown[]): never {
      const superQuery = super.query as AnyQuery;
      const [first] = args;
      const pool = hooks.pool;
      if (
        !pool ||
        typeof first === 'function' ||
        isSubmittable(first) ||
        typeof (first as { callback?: unknown } | null)?.callback === 'function'
      ) {
        return superQuery.apply(this, args) as never;
      }
      const last = args[args.length - 1];
      if (typeof last === 'function') {
        // Callback form (pg-pool's own query() uses it): the callback is wrapped, no promise is made per statement.
        const callback = last as QueryCallback;
        args[args.length - 1] = (error: Error | undefined, res?: unknown) => {
          if (error && sqlState(error) === PERMISSION_DENIED_CODE) {
            this.#explain(pool, error).catch((explained: Error) => callback(explained));
          } else {
            callback(error, res);
          }
        };
        return superQuery.apply(this, args) as never;
      }
      return (superQuery.apply(this, args) as Promise<unknown>).catch((error: unknown) =>
        this.#explain(pool, error),
      ) as never;
    }

    async #explain(pool: RotatingPool, error: unknown): Promise<never> {
      const snap = this.#snap;
      if (sqlState(error) !== PERMISSION_DENIED_CODE || !snap) throw error;
      const inTransaction = this.#txStatus !== 'I';
      if (!(await pool._roleDropped(snap))) throw error;
      throw roleDroppedError(error, snap.generation, inTransaction);
    }

    #use(snap: LeaseSnapshot<DatabaseCredentials>): () => void {
      const forget = applyCredentials(this, snap);
      this.#snap = snap;
      hooks.pool?._opened(this, snap.generation);
      const internals = this as unknown as ClientInternals;
      internals.connection.on('readyForQuery', (msg) => {
        if (typeof msg.status === 'string') this.#txStatus = msg.status;
      });
      internals.connection.on('errorMessage', (msg) => {
        // Starts the check (and the re-issue) for every 42501, also those of cursors and streams.
        if (msg.code === PERMISSION_DENIED_CODE) hooks.pool?._roleDropped(snap).catch(noop);
      });
      return forget;
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
