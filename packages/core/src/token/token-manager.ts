/**
 * The TokenManager owns the client token: one login at a time (single flight), `renew-self` on the
 * {@link LifetimeSchedule}, re-login before the token ends (max TTL, not renewable, renewals failing), re-login
 * once when Vault says the token is invalid, login backoff with jitter, and revocation on close.
 *
 * While Vault is unreachable the current token keeps being used as long as it is valid; when renewals ended only
 * because Vault did not answer, the background attempts renew that token first once Vault answers (its leases stay).
 */
import { readFile } from 'node:fs/promises';
import type { AuthMethod, LoginContext, LoginResult } from '../auth/types.js';
import { type Clock, type RandomSource, TimerSet } from '../clock.js';
import { VaultError, VaultErrorCode } from '../errors.js';
import type { LoginReason, TypedEmitter, VaultEvents } from '../events.js';
import {
  type BackoffOptions,
  ExponentialBackoff,
  hasCappedWarning,
  LifetimeSchedule,
  lifetimeStart,
  spreadWake,
  untilNextAttempt,
  type WakeStep,
} from '../lifetime.js';
import { type LifetimeClient, LifetimeWatcher, type RenewOutcome } from '../lifetime-watcher.js';
import type { Logger } from '../logger.js';
import { Redacted } from '../redacted.js';
import type { Transport } from '../transport/types.js';
import { parseResponse, renewedAuthEnvelope } from '../validation.js';

/** Token lifecycle options (`createVault({ token })`). */
export interface TokenLifecycleOptions {
  /** Revoke a token obtained by login on `close()` (default true). User-supplied tokens are never revoked. */
  revokeOnClose: boolean;
  /** Renew the token with `renew-self` (default true). When false, the token is replaced before it expires. */
  renew: boolean;
  /** Increment asked on renewals in seconds (default: the TTL granted at login). */
  incrementSeconds: number | undefined;
  /** Backoff of failed logins (default 1 s, ×2, ±50 %, up to 30 s). */
  loginBackoff: BackoffOptions;
  /** Backoff of failed renewals (default Vault's: 10 s, ×2, ±50 %, up to 5 min). */
  renewBackoff: Partial<BackoffOptions> | undefined;
}

/** Default login backoff. */
export const LOGIN_BACKOFF: Readonly<BackoffOptions> = Object.freeze({
  initialMs: 1000,
  multiplier: 2,
  randomizationFactor: 0.5,
  maxIntervalMs: 30_000,
  maxElapsedMs: 0,
});

/** The current token as the manager knows it. */
interface TokenState {
  readonly token: Redacted<string>;
  readonly accessor: string;
  readonly userProvided: boolean;
  readonly policies: readonly string[];
  readonly incrementSeconds: number;
  /** Absolute expiry (ms), undefined for tokens without expiry. */
  expiresAt: number | undefined;
  renewable: boolean;
  /** The renewal loop (none for a token without expiry). */
  watcher: LifetimeWatcher | undefined;
  /** Set once the schedule ended and a re-login is under way or failing. */
  expiring: boolean;
  renewFailing: boolean;
  /** `token:expired` was emitted for this token. */
  expiredNotified: boolean;
  /** The token is treated as expired this long before `expiresAt` (ms). */
  marginMs: number;
}

/** A token snapshot for health. */
export interface TokenInfo {
  accessor: string;
  /** Remaining seconds (0 = no expiry). */
  ttl: number;
  renewable: boolean;
  expiring: boolean;
  renewFailing: boolean;
}

export interface TokenManagerDeps {
  auth: AuthMethod;
  transport: Transport;
  clock: Clock;
  random: RandomSource;
  events: TypedEmitter<VaultEvents>;
  logger: Logger;
  options: TokenLifecycleOptions;
  /**
   * While Vault is seen as down (circuit open), probes it now; resolves when done, `true` when Vault just came back
   * (the circuit closed), never rejects.
   */
  probe?: () => Promise<boolean>;
}

export class TokenManager {
  readonly #d: TokenManagerDeps;
  readonly #timers: TimerSet;
  readonly #abort = new AbortController();
  readonly #loginBackoff: ExponentialBackoff;
  #current: TokenState | undefined;
  /** The token dropped as invalid, remembered so the next `login` event can name it as `previousAccessor`. */
  #retired: TokenState | undefined;
  #flight: Promise<TokenState> | undefined;
  #lastLoginError: VaultError | undefined;
  #loginBlockedUntil = 0;
  #reloginTimer: ReturnType<TimerSet['set']> | undefined;
  #pendingRelogin: (() => void) | undefined;
  /** What the pending background attempt does first when Vault answers again (see {@link spreadWake}). */
  #pendingStep: WakeStep = 'replace';
  #closed = false;
  #loginCount = 0;

  constructor(deps: TokenManagerDeps) {
    this.#d = deps;
    this.#timers = new TimerSet(deps.clock);
    this.#loginBackoff = new ExponentialBackoff(deps.options.loginBackoff, deps.clock.now(), deps.random);
  }

  /** True in Vault Agent mode: no token is sent. */
  get agentMode(): boolean {
    return this.#d.auth.agent === true;
  }

  /** Number of successful logins so far. */
  get loginCount(): number {
    return this.#loginCount;
  }

  /** The last login failure, if the last attempt failed. */
  get lastLoginError(): VaultError | undefined {
    return this.#lastLoginError;
  }

  /** A snapshot of the current token (no secret), or undefined. */
  info(): TokenInfo | undefined {
    const cur = this.#current;
    if (!cur) return undefined;
    const now = this.#d.clock.now();
    return {
      accessor: cur.accessor,
      ttl: cur.expiresAt === undefined ? 0 : Math.max(0, Math.floor((cur.expiresAt - now) / 1000)),
      renewable: cur.renewable,
      expiring: cur.expiring,
      renewFailing: cur.renewFailing,
    };
  }

  /** When the current token ends (ms on the clock); `undefined` without a token or for a token without expiry. */
  get expiresAt(): number | undefined {
    return this.#current?.expiresAt;
  }

  /** Whether a usable token is held now. */
  hasValidToken(): boolean {
    return this.#current !== undefined && this.#isValid(this.#current);
  }

  /**
   * The token to use for a request: the current one while valid, else the result of a (shared) login.
   * `undefined` in agent mode. Fails fast with the last login error while login is backing off.
   */
  async token(): Promise<Redacted<string> | undefined> {
    if (this.agentMode) return undefined;
    this.#assertOpen();
    const cur = this.#current;
    if (cur && this.#isValid(cur)) return cur.token;
    if (cur && !this.#flight) this.#expired(cur);
    const reason: LoginReason = cur ? 'expired' : this.#retired ? 'invalid-token' : 'initial';
    return (await this.#login(reason, true)).token;
  }

  /**
   * Called when Vault answered `invalid token` for `used`. Drops that token (if still current) and returns a
   * fresh one from a single shared re-login.
   */
  async replaceInvalid(used: Redacted<string> | undefined): Promise<Redacted<string> | undefined> {
    if (this.agentMode) return undefined;
    this.#assertOpen();
    const cur = this.#current;
    if (cur && used && cur.token.reveal() === used.reveal()) {
      this.#d.events.emit('token:invalid', { accessor: cur.accessor });
      this.#d.logger.warn({ accessor: cur.accessor }, 'Vault says the token is invalid: logging in again');
      this.#retired = cur;
      this.#current = undefined;
      this.#cancelSchedule(cur);
      return (await this.#login('invalid-token', false)).token;
    }
    return this.token();
  }

  /** Logs in now unless a valid token is held (for `ready()`). */
  async ensure(): Promise<void> {
    await this.token();
  }

  /**
   * Vault answers again (the circuit closed): forget the login backoff so that the next caller tries at once. A
   * pending background attempt (a renewal of a token that is still usable, else a login) goes at once when the token
   * is no longer usable; while it still is, it goes after {@link spreadWake} of the time the token has left (`renew`
   * when the attempt renews first, `replace` when it logs in because the token cannot be extended) — sooner or later
   * than its backoff of a second or two — so that a fleet that sees Vault return together does not renew or
   * log in together. Without a pending attempt, a client whose token is no longer usable (ended, or dropped as
   * invalid) logs in at once.
   */
  vaultRecovered(): void {
    if (this.#closed) return;
    const now = this.#d.clock.now();
    this.#loginBlockedUntil = 0;
    this.#loginBackoff.reset(now);
    if (this.#reloginTimer !== undefined && this.#pendingRelogin) {
      this.#armRelogin(
        this.#pendingRelogin,
        spreadWake(this.#usableLeft(), this.#d.random, this.#pendingStep),
      );
    } else if (!this.agentMode && !this.#flight && this.#reloginTimer === undefined) {
      // A token was held and is no longer usable (ended, or dropped as invalid), and nothing is logging in: the client
      // is down until it has one, so it logs in now rather than when some request next asks for a token.
      const cur = this.#current;
      if (cur && !this.#isValid(cur)) this.#backgroundRelogin(cur, 'expired');
      else if (!cur && this.#retired) this.#backgroundRelogin(this.#retired, 'invalid-token');
    }
  }

  /** How long the current token is still used (ms; 0 when there is none or it is past its safety margin). */
  #usableLeft(): number {
    const cur = this.#current;
    return cur && cur.expiresAt !== undefined && this.#isValid(cur)
      ? cur.expiresAt - cur.marginMs - this.#d.clock.now()
      : 0;
  }

  /** Milliseconds until the next login attempt is allowed (0 = now). */
  loginRetryInMs(): number {
    return Math.max(0, this.#loginBlockedUntil - this.#d.clock.now());
  }

  /** Stops timers; revokes a token obtained by login when `revoke` is true (best effort, bounded). */
  async close(revoke: boolean, timeoutMs: number): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#timers.clearAll();
    this.#abort.abort(new VaultError(VaultErrorCode.CLOSED, 'The client is closed'));
    await this.#flight?.catch(() => undefined);
    const cur = this.#current;
    this.#current = undefined;
    if (revoke && cur && !cur.userProvided && this.#isValid(cur)) await this.#revoke(cur, timeoutMs);
  }

  async #revoke(state: TokenState, timeoutMs: number): Promise<void> {
    try {
      await this.#d.transport.request('POST', 'auth/token/revoke-self', {
        token: state.token,
        retry: false,
        timeoutMs,
      });
      this.#d.events.emit('token:revoked', { accessor: state.accessor });
      this.#d.logger.info({ accessor: state.accessor }, 'revoked the Vault token obtained by login');
    } catch (error) {
      this.#d.logger.warn(
        { accessor: state.accessor, code: VaultError.is(error) ? error.code : undefined },
        'could not revoke the Vault token on close; it will expire on its own',
      );
    }
  }

  #assertOpen(): void {
    if (this.#closed) throw new VaultError(VaultErrorCode.CLOSED, 'The client is closed');
  }

  /** Valid until a small safety margin before the expiry, so that no request races the server's clock. */
  #isValid(state: TokenState): boolean {
    return state.expiresAt === undefined || this.#d.clock.now() < state.expiresAt - state.marginMs;
  }

  #expired(state: TokenState): void {
    if (state.expiresAt === undefined || state.expiredNotified) return;
    state.expiredNotified = true;
    this.#d.events.emit('token:expired', { accessor: state.accessor });
    this.#d.logger.warn(
      { accessor: state.accessor },
      'the Vault token expired before a new one was obtained',
    );
    // Its renewals stop; a background re-login under way goes on (cancelling it would leave the client without a
    // token until some request asks for one).
    state.watcher?.stop();
  }

  /** Single flight: concurrent callers share one login. */
  #login(reason: LoginReason, respectBackoff: boolean): Promise<TokenState> {
    if (this.#flight) return this.#flight;
    if (respectBackoff && this.#lastLoginError && this.#d.clock.now() < this.#loginBlockedUntil) {
      return Promise.reject(this.#lastLoginError);
    }
    const flight = this.#doLogin(reason).finally(() => {
      if (this.#flight === flight) this.#flight = undefined;
    });
    this.#flight = flight;
    return flight;
  }

  #loginContext(): LoginContext {
    const { transport } = this.#d;
    return {
      request: (method, path, options) =>
        transport.request(method, path, { retry: false, signal: this.#abort.signal, ...options }),
      readFile: (path, option) => readCredentialFile(path, option),
      signal: this.#abort.signal,
    };
  }

  async #doLogin(reason: LoginReason): Promise<TokenState> {
    const { auth, clock, events, logger } = this.#d;
    const previous = this.#current ?? this.#retired;
    let result: LoginResult;
    // The token's TTL counts from here, not from the answer: Vault started it no earlier (see LifetimeSchedule).
    const requestedAt = clock.now();
    try {
      result = await auth.login(this.#loginContext());
    } catch (caught) {
      const error = VaultError.is(caught)
        ? caught
        : new VaultError(VaultErrorCode.LOGIN_FAILED, `${auth.type} login failed`, { cause: caught });
      this.#lastLoginError = error;
      const wait = this.#loginBackoff.next(clock.now()) ?? LOGIN_BACKOFF.maxIntervalMs;
      this.#loginBlockedUntil = clock.now() + wait;
      events.emit('login:failed', {
        method: auth.type,
        mount: auth.mount,
        code: error.code,
        message: error.message,
        attempt: this.#loginBackoff.attempt,
        retryInMs: wait,
      });
      logger.warn({ method: auth.type, mount: auth.mount, code: error.code, reason }, 'Vault login failed');
      throw error;
    }
    if (this.#closed) {
      const state = this.#stateFrom(result, requestedAt);
      if (!state.userProvided) await this.#revoke(state, 2000);
      throw new VaultError(VaultErrorCode.CLOSED, 'The client was closed during login');
    }
    this.#lastLoginError = undefined;
    this.#loginBlockedUntil = 0;
    this.#loginBackoff.reset(clock.now());
    this.#loginCount += 1;
    const state = this.#stateFrom(result, requestedAt);
    this.#cancelSchedule();
    this.#current = state;
    this.#retired = undefined;
    events.emit('login', {
      method: auth.type,
      mount: auth.mount,
      accessor: state.accessor,
      previousAccessor: previous?.accessor,
      previousExpiresAt: previous?.expiresAt,
      reason,
      ttl: result.ttl,
      renewable: result.renewable,
      policies: result.policies,
    });
    logger.info(
      { method: auth.type, mount: auth.mount, accessor: state.accessor, ttl: result.ttl, reason },
      'logged in to Vault',
    );
    const sameToken = previous !== undefined && previous.token.reveal() === state.token.reveal();
    this.#startSchedule(state, result.ttl, sameToken, requestedAt);
    return state;
  }

  /** The state of a token from `result`, whose login started at `requestedAt` (its TTL counts from there). */
  #stateFrom(result: LoginResult, requestedAt: number): TokenState {
    const from = lifetimeStart(requestedAt, this.#d.clock.now());
    return {
      token: Redacted.of(result.token),
      accessor: result.accessor,
      userProvided: result.userProvided,
      policies: result.policies,
      incrementSeconds: this.#d.options.incrementSeconds ?? result.renewIncrement ?? result.ttl,
      expiresAt: result.ttl > 0 ? from + result.ttl * 1000 : undefined,
      renewable: result.renewable,
      watcher: undefined,
      expiring: false,
      renewFailing: false,
      expiredNotified: false,
      marginMs: safetyMargin(result.ttl),
    };
  }

  #startSchedule(state: TokenState, ttlSeconds: number, sameToken: boolean, requestedAt: number): void {
    if (ttlSeconds <= 0) return; // never expires: nothing to schedule
    const schedule = new LifetimeSchedule({
      leaseDurationMs: ttlSeconds * 1000,
      incrementMs: state.incrementSeconds * 1000,
      renewable: state.renewable && this.#d.options.renew,
      now: this.#d.clock.now(),
      requestedAt,
      random: this.#d.random,
      ...(this.#d.options.renewBackoff ? { backoff: this.#d.options.renewBackoff } : {}),
    });
    if (sameToken && schedule.start().type === 'expiring') {
      // A user-supplied token that cannot be extended: re-reading it gave the same token. Keep using it.
      this.#d.logger.warn(
        { accessor: state.accessor },
        'the supplied Vault token cannot be extended and will expire',
      );
      return;
    }
    state.watcher = new LifetimeWatcher(schedule, this.#lifetimeClient(state), {
      timers: this.#timers,
      now: () => this.#d.clock.now(),
      random: this.#d.random,
    });
    state.watcher.start();
  }

  /** Stops the renewal loop of `state` (default: the current token) and any pending background re-login. */
  #cancelSchedule(state: TokenState | undefined = this.#current): void {
    state?.watcher?.stop();
    this.#timers.clear(this.#reloginTimer);
    this.#reloginTimer = undefined;
  }

  /** The token's side of its renewal loop: `renew-self`, its events, and re-login when it cannot be extended. */
  #lifetimeClient(state: TokenState): LifetimeClient {
    const { events, logger } = this.#d;
    return {
      live: () => !this.#closed && this.#current === state,
      renew: () => this.#renewSelf(state),
      renewed: (outcome, from) => {
        this.#renewed(state, outcome, from);
        logger.debug(
          { accessor: state.accessor, ttl: outcome.ttlMs / 1000, capped: outcome.capped },
          'renewed the Vault token',
        );
      },
      failed: (caught) => {
        if (VaultError.is(caught, VaultErrorCode.INVALID_TOKEN)) {
          this.replaceInvalid(state.token).catch(() => this.#backgroundRelogin(state, 'invalid-token'));
          return 'handled';
        }
        // 403 (cannot renew itself) or 400 (not renewable / past max TTL): stop renewing, watch until expiry.
        return VaultError.is(caught, VaultErrorCode.PERMISSION_DENIED) ||
          VaultError.is(caught, VaultErrorCode.BAD_REQUEST)
          ? 'cannot-renew'
          : 'retry';
      },
      renewFailed: (caught, failure, retryInMs) => {
        const error = VaultError.is(caught)
          ? caught
          : new VaultError(VaultErrorCode.UNAVAILABLE, 'token renewal failed', { cause: caught });
        state.renewFailing = failure === 'retry';
        events.emit('token:renew-failed', {
          accessor: state.accessor,
          code: error.code,
          message: error.message,
          retryInMs,
        });
        logger.warn({ accessor: state.accessor, code: error.code }, 'Vault token renewal failed');
      },
      ending: (reason, remainingMs) => {
        state.expiring = true;
        events.emit('token:expiring', { accessor: state.accessor, remainingMs, reason });
        logger.info(
          { accessor: state.accessor, remainingMs, reason },
          'the Vault token cannot be extended: logging in again before it expires',
        );
        this.#backgroundRelogin(state, reason === 'renew-failed' ? 'renew-failed' : 'expiring');
      },
    };
  }

  /** Logs in again in the background, backing off on failure, while the current token stays in use. */
  #backgroundRelogin(state: TokenState, reason: LoginReason): void {
    if (this.#closed || this.#reloginTimer !== undefined) return;
    const attempt = async (): Promise<void> => {
      this.#reloginTimer = undefined;
      if (this.#closed) return;
      if (this.#current !== undefined && this.#current !== state) return; // someone else already logged in
      // Vault seen as down: probe first, so that a Vault that is back is used now, not at the next scheduled probe.
      const back = (await this.#d.probe?.()) === true;
      if (this.#closed) return;
      if (back) {
        // This probe saw Vault return: while the token still serves, log in after a spread wait (as when the circuit
        // closes while this re-login waits for its backoff), not at the instant the whole fleet sees Vault back.
        const wait = spreadWake(this.#usableLeft(), this.#d.random, step);
        if (wait > 0) {
          this.#armRelogin(run, wait);
          return;
        }
      }
      // Renewals failed only because Vault could not be reached: a token that is still valid and renewable is
      // renewed now that Vault answers, not replaced — its leases stay valid (a new token would mean re-issuing them).
      if (reason === 'renew-failed' && (await this.#renewInstead(state))) return;
      if (this.#closed) return;
      try {
        await this.#login(reason, false);
      } catch {
        if (this.#closed) return;
        const delay = untilNextAttempt(
          this.loginRetryInMs() || LOGIN_BACKOFF.initialMs,
          state.expiresAt === undefined ? undefined : state.expiresAt - state.marginMs - this.#d.clock.now(),
        );
        if (this.#current === state && !this.#isValid(state)) this.#expired(state);
        this.#d.logger.warn(
          { accessor: state.accessor, retryInMs: delay },
          'retrying Vault login in the background',
        );
        this.#armRelogin(run, delay);
      }
    };
    const run = (): void => void attempt();
    // Renewed first when its renewals ended only because Vault could not be reached; else a login replaces it.
    const step: WakeStep = reason === 'renew-failed' ? 'renew' : 'replace';
    this.#pendingRelogin = run;
    this.#pendingStep = step;
    this.#armRelogin(run, 0);
  }

  /**
   * One `renew-self` of `state` in place of a re-login, when its renewals ended because Vault was unreachable or
   * sealed: `true` when Vault extended it (not capped) and its renewal schedule starts again. `false` — log in
   * instead — when it is no longer the current token, no longer usable or not renewable, when the renewal fails
   * (whatever the reason: the login that follows reports it), or when Vault capped it (its max TTL is near: a new
   * token is needed anyway).
   */
  async #renewInstead(state: TokenState): Promise<boolean> {
    const { clock, logger } = this.#d;
    if (this.#current !== state || !this.#isValid(state) || !state.renewable || !this.#d.options.renew) {
      return false;
    }
    const requestedAt = clock.now();
    let outcome: RenewOutcome;
    try {
      outcome = await this.#renewSelf(state, this.#abort.signal);
    } catch {
      return false;
    }
    if (outcome.capped || !outcome.renewable || outcome.ttlMs <= 0) return false;
    if (this.#closed || this.#current !== state) return false;
    const ttl = outcome.ttlMs / 1000;
    state.expiring = false;
    this.#pendingRelogin = undefined;
    this.#cancelSchedule(state);
    this.#renewed(state, outcome, lifetimeStart(requestedAt, clock.now()));
    logger.info(
      { accessor: state.accessor, ttl },
      'Vault answers again: renewed the Vault token instead of logging in again',
    );
    this.#startSchedule(state, ttl, false, requestedAt);
    return true;
  }

  /** One `renew-self` of `state`: what Vault granted, validated (`capped`: the capped-TTL warning, or less asked). */
  async #renewSelf(state: TokenState, signal?: AbortSignal): Promise<RenewOutcome> {
    const increment = state.incrementSeconds;
    const res = await this.#d.transport.request('POST', 'auth/token/renew-self', {
      token: state.token,
      body: increment > 0 ? { increment } : {},
      retry: false,
      ...(signal ? { signal } : {}),
    });
    const { auth, warnings } = parseResponse(renewedAuthEnvelope, res.body, {
      method: 'POST',
      path: 'auth/token/renew-self',
      status: res.status,
    });
    const ttl = auth.lease_duration;
    const capped = hasCappedWarning(warnings) || (increment > 0 && ttl < increment);
    return { ttlMs: ttl * 1000, capped, renewable: auth.renewable };
  }

  /** `state` was renewed by a request sent at `from`: its new end, margin and renewability, and `token:renewed`. */
  #renewed(state: TokenState, outcome: RenewOutcome, from: number): void {
    const ttl = outcome.ttlMs / 1000;
    // Vault answers whole seconds, rounded down: a capped renewal may say 0 (the token ends now).
    state.expiresAt = from + outcome.ttlMs;
    state.marginMs = safetyMargin(ttl);
    state.renewable = outcome.renewable;
    state.renewFailing = false;
    this.#d.events.emit('token:renewed', {
      accessor: state.accessor,
      ttl,
      renewable: state.renewable,
      capped: outcome.capped,
    });
  }

  /** (Re)schedules the background re-login `run` after `delayMs`. */
  #armRelogin(run: () => void, delayMs: number): void {
    this.#timers.clear(this.#reloginTimer);
    this.#reloginTimer = this.#timers.set(run, delayMs);
  }
}

/** 10 % of a TTL (seconds), at most 1 s: how long before its expiry a token is no longer used. */
function safetyMargin(ttlSeconds: number): number {
  return Math.min(1000, Math.max(0, ttlSeconds) * 100);
}

/** Reads a credential file fresh; `VAULT_CONFIG` naming the option when it cannot be read or is empty. */
export async function readCredentialFile(path: string, option: string): Promise<Redacted<string>> {
  let content: string;
  try {
    content = await readFile(path, 'utf8');
  } catch (cause) {
    const code = (cause as { code?: string }).code ?? 'error';
    throw new VaultError(
      VaultErrorCode.CONFIG,
      `Invalid option "${option}": cannot read ${path} (${code}). Check the path and the file permissions.`,
      { cause: new Error(code) },
    );
  }
  const value = content.trim();
  if (value === '') {
    throw new VaultError(
      VaultErrorCode.CONFIG,
      `Invalid option "${option}": ${path} is empty. Write the credential into the file.`,
    );
  }
  return Redacted.of(value);
}
