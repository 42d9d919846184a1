/**
 * The `Vault` client: `createVault(options)` wires the transport, the circuit breaker, the TokenManager and the
 * events together. Lease, cache and engine modules hang off this class and issue their requests through
 * {@link Vault.request}, which adds the token and handles the invalid-token re-login.
 */
import { z } from 'zod';
import { type Clock, defaultRandom, type RandomSource, sleep, systemClock, within } from './clock.js';
import { type ResolvedConfig, resolveConfig, type VaultOptions } from './config.js';
import { DatabaseEngine } from './engines/database.js';
import { KvEngine } from './engines/kv.js';
import { PkiEngine } from './engines/pki.js';
import { SysEngine } from './engines/sys.js';
import { TransitEngine } from './engines/transit.js';
import { VaultError, VaultErrorCode } from './errors.js';
import { type Listener, TypedEmitter, type VaultEvents } from './events.js';
import type { LeaseSource } from './lease/lease.js';
import { LeaseManager, type LeaseSummary } from './lease/manager.js';
import type { Lease, LeaseOptions } from './lease/types.js';
import { componentLogger, type Logger, silentLogger } from './logger.js';
import type { Redacted } from './redacted.js';
import { LOGIN_BACKOFF, TokenManager } from './token/token-manager.js';
import { CircuitBreaker } from './transport/circuit.js';
import { createUndiciSender, HttpTransport } from './transport/http.js';
import { ObservedTransport, type RequestTelemetry } from './transport/observed.js';
import type {
  Transport,
  TransportRequestOptions,
  VaultEnvelope,
  VaultMethod,
  VaultResponse,
} from './transport/types.js';
import { abortSignal, parseOptions, positiveInt, strictBoolean } from './validation.js';

/** Options of {@link Vault.request}. */
export interface VaultRequestOptions
  extends Omit<TransportRequestOptions, 'token' | 'circuitBreaker' | 'onRetry' | 'template'> {
  /** `false` sends no token (unauthenticated endpoints such as `sys/health`). Default true. */
  authenticated?: boolean;
  /** Use this token instead of the client's (no re-login on `invalid token`). */
  token?: Redacted<string>;
  /** Path template for the `request` event and metrics (`database/creds/:role`); default derived from the path. */
  template?: string;
}

/** Options of {@link Vault.ready}. */
export interface ReadyOptions {
  /** Gives up with `VAULT_TIMEOUT` after this many ms (default 30000), even while a login attempt hangs. */
  timeoutMs?: number;
  /** Stops waiting with `VAULT_ABORTED`; a login under way goes on for the other callers. */
  signal?: AbortSignal;
}

/** Options of {@link Vault.close}. */
export interface CloseOptions {
  /** Revoke the token obtained by login (default: the `token.revokeOnClose` option, true). */
  revokeToken?: boolean;
  /** Bound of each revocation (leases, token) in ms (default 2000). */
  timeoutMs?: number;
}

const readyOptionsSchema = z.strictObject({
  timeoutMs: positiveInt.optional(),
  signal: abortSignal.optional(),
});
const closeOptionsSchema = z.strictObject({
  revokeToken: strictBoolean.optional(),
  timeoutMs: positiveInt.optional(),
});

/** `vault.health()`. */
export interface VaultHealth {
  /** `ready`: token valid and Vault reachable; `degraded`: working on borrowed time; `down`: requests fail. */
  status: 'ready' | 'degraded' | 'down';
  /** Human-readable reasons for anything but `ready`. Never contains a secret. */
  reasons: string[];
  /** The current token (no secret), or null in agent mode / before login. */
  token: { accessor: string; ttl: number; renewable: boolean } | null;
  /** Circuit breaker state. */
  circuit: { open: boolean; reason: 'unavailable' | 'sealed' | undefined };
}

/** Options of {@link isServing}. */
export interface ServingOptions {
  /** Count `degraded` (Vault unreachable, the token still valid) as not serving too. Default `false`. */
  degradedIsDown?: boolean;
}

/**
 * The one rule for "is the app serving": `ready` is up, `down` is down, and `degraded` (working on borrowed time)
 * is up unless `degradedIsDown`. Health routes, readiness gates and health indicators of every adapter answer by it.
 */
export function isServing(health: Pick<VaultHealth, 'status'>, options: ServingOptions = {}): boolean {
  return health.status === 'ready' || (health.status === 'degraded' && options.degradedIsDown !== true);
}

/** The Vault client. Create it with {@link createVault}. */
export class Vault {
  readonly #config: ResolvedConfig;
  readonly #events: TypedEmitter<VaultEvents>;
  readonly #logger: Logger;
  readonly #clock: Clock;
  readonly #random: RandomSource;
  readonly #transport: ObservedTransport;
  readonly #circuit: CircuitBreaker | undefined;
  readonly #tokens: TokenManager;
  #closed = false;
  #closing: Promise<void> | undefined;
  readonly #leases: LeaseManager;
  /** Dynamic and static database credentials. */
  readonly database: DatabaseEngine;
  /** PKI certificates as leases. */
  readonly pki: PkiEngine;
  /** KV v1/v2 with the static-secret cache and `watch()`. */
  readonly kv: KvEngine;
  /** Transit encryption as a service. */
  readonly transit: TransitEngine;
  /** `sys/*`: health, seal status, leases, unwrap. */
  readonly sys: SysEngine;
  /** Aborted by close(): interrupts waits in ready(). */
  readonly #closeSignal = new AbortController();
  /** True while close() revokes leases: their revocation requests may still be sent. */
  #revokingLeases = false;

  /** @internal Use {@link createVault}. */
  constructor(options: VaultOptions | undefined) {
    this.#config = resolveConfig(options);
    const baseLogger = options?.logger ?? silentLogger;
    this.#logger = componentLogger(baseLogger, 'vault');
    this.#clock = options?.clock ?? systemClock;
    this.#random = options?.random ?? defaultRandom;
    this.#events = new TypedEmitter<VaultEvents>((event, error) =>
      this.#logger.error({ event: String(event), err: describe(error) }, 'a Vault event listener threw'),
    );
    const cfg = this.#config;
    let transport: Transport;
    if (options?.transport) {
      transport = options.transport;
    } else {
      this.#circuit = cfg.circuitBreaker
        ? new CircuitBreaker(cfg.circuitBreaker, {
            clock: this.#clock,
            random: this.#random,
            events: this.#events,
            logger: componentLogger(baseLogger, 'circuit'),
          })
        : undefined;
      transport = new HttpTransport({
        sender: createUndiciSender(cfg.address, cfg.tls),
        namespace: cfg.namespace,
        timeoutMs: cfg.timeoutMs,
        retry: cfg.retry,
        circuit: this.#circuit,
        clock: this.#clock,
        random: this.#random,
        events: this.#events,
        logger: componentLogger(baseLogger, 'transport'),
      });
    }
    this.#transport = new ObservedTransport(transport);
    this.#tokens = new TokenManager({
      auth: cfg.auth,
      transport: this.#transport,
      clock: this.#clock,
      random: this.#random,
      events: this.#events,
      logger: componentLogger(baseLogger, 'token'),
      options: {
        revokeOnClose: cfg.token.revokeOnClose,
        renew: cfg.token.renew,
        incrementSeconds: cfg.token.incrementSeconds,
        loginBackoff: { ...LOGIN_BACKOFF, ...cfg.token.loginBackoff },
        renewBackoff: cfg.token.renewBackoff,
      },
      probe: () => this.probeIfOpen(),
    });
    this.#leases = new LeaseManager(this, options?.leases);
    const issuer = {
      vault: this,
      lease: <T>(key: string, source: () => LeaseSource<T>, opts: LeaseOptions): Lease<T> =>
        this.#leases.get(key, source, opts),
    };
    this.database = new DatabaseEngine(issuer);
    this.pki = new PkiEngine(issuer);
    this.kv = new KvEngine(this, options?.cache);
    this.transit = new TransitEngine(this);
    this.sys = new SysEngine(this);
    this.#wire();
  }

  /** The lease handles held by this client (no secrets). */
  get leases(): { list(): LeaseSummary[] } {
    return { list: () => this.#leases.list() };
  }

  /** @internal */
  #wire(): void {
    this.#events.on('circuit:close', () => this.#tokens.vaultRecovered());
    // The circuit's probes never wait past what the token and the leases can afford.
    this.#circuit?.setDeadlineSource(() => {
      // Without a valid token the client is down: probe at the first interval, not on a grown backoff.
      if (!this.#tokens.agentMode && !this.#tokens.hasValidToken()) return this.#clock.now();
      const token = this.#tokens.expiresAt;
      const lease = this.#leases.earliestEnd();
      if (token === undefined) return lease;
      return lease === undefined ? token : Math.min(token, lease);
    });
  }

  /**
   * @internal While the circuit is open, probes Vault now (at most every 250 ms, shared by all callers) so that a
   * lease or token about to end sees a Vault that is back without waiting for the next scheduled probe. Resolves
   * `true` when the circuit was open and is closed once the probe is done: Vault just came back, which every client
   * of a fleet sees within a probe interval of the others (the caller spreads what it does next). Never rejects;
   * `false` at once while the circuit is closed.
   */
  async probeIfOpen(): Promise<boolean> {
    const circuit = this.#circuit;
    if (!circuit?.state.open) return false;
    await circuit.probeNow();
    return !circuit.state.open;
  }

  /** The address in use (no credentials). */
  get address(): string {
    return this.#config.addressText;
  }

  /** The auth method type (`approle`, `token`, `agent`, …). */
  get authMethod(): string {
    return this.#config.auth.type;
  }

  /** The clock (shared with lease and cache modules). */
  get clock(): Clock {
    return this.#clock;
  }

  /** The random source for jitter (shared with lease and cache modules). */
  get random(): RandomSource {
    return this.#random;
  }

  /** The client's logger wrapped for `component` (for lease/cache/engine modules). */
  logger(component: string): Logger {
    return componentLogger(this.#logger, component);
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Logs in (unless a valid token is held) and resolves when the client can serve requests. Retries transient
   * failures (Vault unreachable, sealed) with the login backoff until `timeoutMs`; rejects at once on rejected
   * credentials (`VAULT_LOGIN_FAILED`) or configuration problems (`VAULT_CONFIG`), and with `VAULT_TIMEOUT`
   * (cause: the last error) when time runs out.
   */
  async ready(options: ReadyOptions = {}): Promise<void> {
    this.#assertOpen();
    const { timeoutMs = 30_000, signal } = parseOptions(readyOptionsSchema, options, 'ready');
    const deadline = this.#clock.now() + timeoutMs;
    const waitSignal = AbortSignal.any(
      signal ? [signal, this.#closeSignal.signal] : [this.#closeSignal.signal],
    );
    const timeout = (lastError: unknown, pending: boolean): VaultError => {
      const last = VaultError.is(lastError) ? `last error ${lastError.code}: ${lastError.message}` : '';
      const why = pending ? 'a login attempt was still waiting for Vault' : last || 'unknown error';
      return new VaultError(VaultErrorCode.TIMEOUT, `Vault was not ready within ${timeoutMs} ms (${why})`, {
        cause: lastError,
      });
    };
    let lastError: unknown;
    let gaveUp: VaultError | undefined;
    for (;;) {
      const remaining = Math.max(1, deadline - this.#clock.now());
      try {
        // The attempt may hang (Vault accepts the connection and never answers): the deadline still holds. A
        // login given up on stays shared with other callers and ends with its own request timeout or close().
        const attempt: Promise<unknown> = this.#tokens.agentMode
          ? this.#transport.request('GET', 'auth/token/lookup-self', {
              retry: false,
              signal,
              timeoutMs: remaining,
            })
          : this.#tokens.ensure();
        await within(this.#clock, attempt, remaining, () => (gaveUp = timeout(lastError, true)), waitSignal);
        return;
      } catch (error) {
        if (error === gaveUp) throw error;
        if (waitSignal.aborted) throw this.#readyAborted(waitSignal.reason);
        lastError = error;
        if (!VaultError.is(error) || !error.retryable || this.#closed) throw error;
      }
      const wait = Math.max(this.#tokens.loginRetryInMs(), 100);
      if (this.#clock.now() + wait >= deadline) throw timeout(lastError, false);
      try {
        await sleep(this.#clock, wait, waitSignal);
      } catch (cause) {
        throw this.#readyAborted(cause);
      }
    }
  }

  #readyAborted(cause: unknown): VaultError {
    if (this.#closed)
      return new VaultError(VaultErrorCode.CLOSED, 'The client was closed before it was ready');
    return new VaultError(VaultErrorCode.ABORTED, 'ready() was aborted by the caller', { cause });
  }

  /**
   * Sends a request to Vault with the client token (typed escape hatch; the full envelope is returned).
   * A 403 `invalid token` causes one re-login and one retry; a plain `permission denied` is thrown as is.
   *
   * @example
   * ```ts
   * const res = await vault.request<{ data: Record<string, string> }>('GET', 'secret/data/app');
   * ```
   */
  async request<TData = Record<string, unknown>>(
    method: VaultMethod,
    path: string,
    options: VaultRequestOptions = {},
  ): Promise<VaultResponse<VaultEnvelope<TData>>> {
    return this.requestRaw<VaultEnvelope<TData>>(method, path, options);
  }

  /** Like {@link request} for endpoints whose body is not Vault's envelope (e.g. `sys/health`, `sys/mounts`). */
  async requestRaw<TBody>(
    method: VaultMethod,
    path: string,
    options: VaultRequestOptions = {},
  ): Promise<VaultResponse<TBody>> {
    if (!this.#revokingLeases) this.#assertOpen();
    const template = options.template ?? pathTemplate(path);
    const started = this.#clock.now();
    try {
      const res = await this.#send<TBody>(method, path, { ...options, template });
      this.#events.emit('request', {
        method,
        template,
        status: res.status,
        durationMs: this.#clock.now() - started,
        code: undefined,
      });
      return res;
    } catch (error) {
      this.#events.emit('request', {
        method,
        template,
        status: VaultError.is(error) ? error.status : undefined,
        durationMs: this.#clock.now() - started,
        code: VaultError.is(error) ? error.code : VaultErrorCode.UNAVAILABLE,
      });
      throw error;
    }
  }

  async #send<TBody>(
    method: VaultMethod,
    path: string,
    options: VaultRequestOptions,
  ): Promise<VaultResponse<TBody>> {
    const { authenticated = true, token: explicit, ...rest } = options;
    if (!authenticated) return this.#transport.request<TBody>(method, path, rest);
    const token = explicit ?? (await this.#clientToken(method, path, rest));
    try {
      return await this.#transport.request<TBody>(method, path, { ...rest, token });
    } catch (error) {
      if (explicit || this.#tokens.agentMode || !VaultError.is(error, VaultErrorCode.INVALID_TOKEN))
        throw error;
      const fresh = await this.#tokens.replaceInvalid(token);
      return this.#transport.request<TBody>(method, path, { ...rest, token: fresh });
    }
  }

  /**
   * The client token for a request. While a login is under way, the request's own `signal` and `timeoutMs` still
   * hold: the caller stops waiting (`VAULT_ABORTED` / `VAULT_TIMEOUT`) and the login goes on for the others.
   */
  #clientToken(
    method: VaultMethod,
    path: string,
    options: TransportRequestOptions,
  ): Promise<Redacted<string> | undefined> {
    const pending = this.#tokens.token();
    if (options.timeoutMs === undefined && options.signal === undefined) return pending;
    const where = { method, path: path.replace(/^\/+/, '') };
    const timeoutMs = options.timeoutMs ?? this.#config.timeoutMs;
    return within(
      this.#clock,
      pending,
      timeoutMs,
      () =>
        new VaultError(
          VaultErrorCode.TIMEOUT,
          `${method} ${where.path} not sent: no token within ${timeoutMs} ms (a login attempt was still waiting for Vault)`,
          where,
        ),
      options.signal,
    ).catch((error: unknown) => {
      if (!options.signal?.aborted) throw error;
      throw new VaultError(VaultErrorCode.ABORTED, `${method} ${where.path} aborted by the caller`, {
        ...where,
        cause: options.signal.reason,
        retryable: false,
      });
    });
  }

  /** Subscribes to an event; returns an unsubscribe function. */
  on<K extends keyof VaultEvents>(event: K, listener: Listener<VaultEvents, K>): () => void {
    return this.#events.on(event, listener);
  }

  /** Subscribes for one emission. */
  once<K extends keyof VaultEvents>(event: K, listener: Listener<VaultEvents, K>): () => void {
    return this.#events.once(event, listener);
  }

  /** Unsubscribes. */
  off<K extends keyof VaultEvents>(event: K, listener: Listener<VaultEvents, K>): void {
    this.#events.off(event, listener);
  }

  /** @internal Emits an event (for lease/cache modules of this package). */
  emit<K extends keyof VaultEvents>(event: K, payload: VaultEvents[K]): void {
    this.#events.emit(event, payload);
  }

  /**
   * @internal Installs request telemetry (`@leasehold/core/otel`); `undefined` removes it. One at a time:
   * installing a second throws `VAULT_CONFIG`.
   */
  setRequestTelemetry(telemetry: RequestTelemetry | undefined): void {
    if (telemetry !== undefined && this.#transport.telemetry !== undefined) {
      throw new VaultError(
        VaultErrorCode.CONFIG,
        'This client already has request telemetry installed: call uninstall() on the first before installing another',
      );
    }
    this.#transport.telemetry = telemetry;
  }

  /** A synchronous health snapshot (no request is sent). */
  health(): VaultHealth {
    const reasons: string[] = [];
    let status: VaultHealth['status'] = 'ready';
    const degrade = (reason: string): void => {
      reasons.push(reason);
      if (status === 'ready') status = 'degraded';
    };
    const down = (reason: string): void => {
      reasons.push(reason);
      status = 'down';
    };
    const circuit = this.#circuit?.state ?? { open: false, reason: undefined, consecutiveFailures: 0 };
    const info = this.#tokens.info();
    if (this.#closed) down('client closed');
    // Sealed or unreachable, Vault only stops what needs it now: the token and the leases held stay valid until
    // they end, so the client keeps serving on them (degraded); it is down once the token is gone (below).
    if (circuit.open) {
      if (circuit.reason === 'sealed') degrade('Vault is sealed (circuit open)');
      else degrade('Vault is unreachable (circuit open)');
    }
    if (!this.#tokens.agentMode) {
      if (!this.#tokens.hasValidToken()) {
        const last = this.#tokens.lastLoginError;
        down(last ? `no valid token (last login error ${last.code})` : 'not logged in yet');
      } else if (info?.renewFailing)
        degrade('token renewal failing; using the current token while it is valid');
      else if (info?.expiring) degrade('token cannot be extended; logging in again');
    }
    for (const lease of this.#leases.list()) {
      if (lease.state === 'expired') degrade(`lease ${lease.path} expired; re-issuing`);
      else if (lease.reissueFailing) {
        degrade(`lease ${lease.path} cannot be re-issued (${lease.reissueFailing}); using the current value`);
      }
    }
    return {
      status,
      reasons,
      token:
        info && this.#tokens.hasValidToken()
          ? { accessor: info.accessor, ttl: info.ttl, renewable: info.renewable }
          : null,
      circuit: { open: circuit.open, reason: circuit.reason },
    };
  }

  /**
   * Stops every timer, revokes the token obtained by login (unless `token.revokeOnClose` is false or
   * `{ revokeToken: false }`), aborts requests still waiting for Vault (`VAULT_CLOSED`), and closes
   * connections. Idempotent. Invalid options reject with `VAULT_CONFIG` and leave the client open.
   */
  close(options: CloseOptions = {}): Promise<void> {
    try {
      parseOptions(closeOptionsSchema, options, 'close');
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.#closing) return this.#closing;
    this.#closed = true;
    this.#closeSignal.abort();
    this.#revokingLeases = true;
    this.#closing = (async () => {
      // Leases first, while the token can still revoke them (revoking the token would too, but explicit
      // revocation runs the database's revocation statements at once).
      await this.#leases.close(options.timeoutMs ?? 2000).catch(() => undefined);
      this.#revokingLeases = false;
      this.kv.close();
      const revoke = options.revokeToken ?? this.#config.token.revokeOnClose;
      await this.#tokens.close(revoke, options.timeoutMs ?? 2000);
      this.#circuit?.close();
      await this.#transport.close();
      this.#events.emit('closed', {});
      this.#events.removeAll();
    })();
    return this.#closing;
  }

  #assertOpen(): void {
    if (this.#closed) throw new VaultError(VaultErrorCode.CLOSED, 'The client is closed');
  }
}

/** A low-cardinality template of a request path for metrics: names after known prefixes become `:name`. */
export function pathTemplate(path: string): string {
  const clean = path.replace(/^\/+/, '').split('?')[0] ?? '';
  const parts = clean.split('/').filter(Boolean);
  if (parts[0] === 'sys' || (parts[0] === 'auth' && parts[2] !== 'login')) return parts.slice(0, 3).join('/');
  if (parts[0] === 'auth') return parts.slice(0, 3).join('/');
  if (parts.length <= 2) return parts.join('/');
  return `${parts.slice(0, 2).join('/')}/:name`;
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : 'non-error thrown';
}

/**
 * Creates a Vault client. With no options it is configured from the environment variables the Vault CLI reads.
 * Throws `VAULT_CONFIG` (naming the option and the fix) for invalid options; sends nothing until used or
 * `ready()` is awaited.
 */
export function createVault(options?: VaultOptions): Vault {
  return new Vault(options);
}
