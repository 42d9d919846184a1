/**
 * @packageDocumentation
 * Express 4 and 5 middleware for Leasehold, on the core's `VaultHost` like the NestJS and Fastify adapters:
 * `createVaultExpress()` (the client plus rotating databases typed from their factories), `req.vault`, a readiness
 * gate that answers 503 until the host is started (and while Vault is down), a health handler, and a graceful
 * shutdown that stops accepting, lets in-flight requests finish, closes the pools and revokes the leases.
 *
 * ```ts
 * import express from 'express';
 * import { createRotatingPool } from '@leasehold/pg';
 * import { createVaultExpress, gracefulShutdown, vaultHealthHandler, vaultMiddleware, vaultReadiness } from '@leasehold/express';
 *
 * const vx = createVaultExpress({ databases: { main: { driver: createRotatingPool, role: 'app', host: 'db' } } });
 * const app = express();
 * app.get('/health/vault', vaultHealthHandler(vx));
 * app.use(vaultReadiness(vx), vaultMiddleware(vx));
 * app.get('/users', async (_req, res) => res.json((await vx.db.main.query('select * from users')).rows));
 * await vx.start(); // logs in and opens the pool (or rejects with a clear VaultError within readyTimeoutMs)
 * const server = app.listen(3000);
 * gracefulShutdown(server, vx, { signals: ['SIGTERM', 'SIGINT'] });
 * ```
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { CloseOptions, DatabaseClients, DatabasesOptions, Vault } from '@leasehold/core';
import {
  checkOption,
  checkOptionsObject,
  describeValue,
  isServing,
  isVault,
  optionError,
  VaultHost,
  type VaultHostOptions,
} from '@leasehold/core/host';

declare global {
  namespace Express {
    interface Request {
      /** The Vault client attached by `vaultMiddleware()` (`@leasehold/express`). */
      vault: Vault;
    }
  }
}

/** A request handler (structurally an Express `RequestHandler`; also usable with plain `node:http`). */
export type Middleware = (
  req: IncomingMessage & { vault?: Vault },
  res: ServerResponse,
  next: (error?: unknown) => void,
) => void;

/** A terminal handler (structurally an Express `RequestHandler`). */
export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * The Vault side of an Express app: the client, and its rotating databases as `db` (typed from each driver's
 * factory: `db.main` is a `RotatingPool` for `driver: createRotatingPool`). Pass it to the middleware below.
 */
export interface VaultExpress<D extends DatabasesOptions = DatabasesOptions> {
  /** The Vault client (created from the options, or the one passed). */
  readonly vault: Vault;
  /** The opened database clients by name. Reading one before `start()` finished throws `VAULT_CONFIG`. */
  readonly db: DatabaseClients<D>;
  /**
   * Logs in and opens every database within `readyTimeoutMs` (single flight); rejects with a clear `VaultError`.
   * The readiness gate calls it too, so awaiting it before `listen()` is optional.
   */
  start(): Promise<void>;
  /** Closes the databases (they drain), revokes their leases and closes the client when it is owned. */
  close(options?: CloseOptions): Promise<void>;
}

/** Options of {@link createVaultExpress}: the core's `createVault()` options (or `vault`), `databases`, `readyTimeoutMs`, `closeClient`. */
export type VaultExpressOptions<D extends DatabasesOptions = DatabasesOptions> = VaultHostOptions<D>;

const hosts = new WeakMap<object, VaultHost>();

/**
 * Creates the {@link VaultExpress} of an app: a `VaultHost` over the client (created from the options, from
 * `VAULT_*` variables by default, or the one passed as `vault`) and the rotating `databases`, each opened by its
 * driver factory. Throws `VAULT_CONFIG` for invalid options.
 */
export function createVaultExpress<const D extends DatabasesOptions = Record<never, never>>(
  options?: VaultExpressOptions<D> | Vault,
): VaultExpress<D> {
  const host = new VaultHost<D>(options);
  const vx: VaultExpress<D> = {
    vault: host.vault,
    db: host.db,
    start: () => host.start(),
    close: (closeOptions) => host.close(closeOptions),
  };
  hosts.set(vx, host);
  return vx;
}

/** The host behind a `VaultExpress`, or one over a plain client (shared by every middleware given that client). */
function hostOf(fn: string, target: VaultExpress | Vault): VaultHost {
  const known = typeof target === 'object' && target !== null ? hosts.get(target) : undefined;
  if (known) return known;
  if (!isVault(target)) {
    throw optionError(
      fn,
      'vault',
      `must be a Vault client from createVault() or what createVaultExpress() returned, got ${describeValue(target)}`,
      'Pass createVaultExpress(options) (or a Vault client).',
    );
  }
  const host = new VaultHost({ vault: target });
  hosts.set(target, host);
  return host;
}

function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  res.end(text);
}

/** Attaches the client as `req.vault` (typed through Express's `Request` interface). */
export function vaultMiddleware(target: VaultExpress | Vault): Middleware {
  const { vault } = hostOf('vaultMiddleware', target);
  return (req, _res, next) => {
    req.vault = vault;
    next();
  };
}

/** Options of {@link vaultReadiness}. */
export interface VaultReadinessOptions {
  /**
   * How long one background start attempt of the gate may keep retrying the login (and opening the databases), ms
   * (default: the host's `readyTimeoutMs`, 30 000).
   */
  readyTimeoutMs?: number;
  /** Answer 503 while the client is `degraded` too (Vault unreachable but the token still valid). Default false. */
  degradedIsDown?: boolean;
  /** `Retry-After` seconds on the 503 (default 1). */
  retryAfterSeconds?: number;
}

/**
 * A readiness gate: requests pass once the host is started (logged in, databases open) and while the client is
 * serving (`degraded` counts as up unless `degradedIsDown`); otherwise they get
 * `503 {"error":"vault_unavailable","status":…,"reasons":[…]}` with `Retry-After`. Creating the gate starts the
 * host in the background; a request that finds it not serving nudges it again (the core's login backoff, bounded
 * by `readyTimeoutMs`).
 */
export function vaultReadiness(
  target: VaultExpress | Vault,
  options: VaultReadinessOptions = {},
): Middleware {
  const fn = 'vaultReadiness';
  checkOptionsObject(fn, options);
  checkOption(fn, 'readyTimeoutMs', options.readyTimeoutMs, 'positiveMs');
  checkOption(fn, 'degradedIsDown', options.degradedIsDown, 'boolean');
  checkOption(fn, 'retryAfterSeconds', options.retryAfterSeconds, 'nonNegativeInteger', {
    fix: 'Pass the Retry-After seconds of the 503 (default 1).',
  });
  const host = hostOf(fn, target);
  const ready = { timeoutMs: options.readyTimeoutMs };
  const serving = { degradedIsDown: options.degradedIsDown };
  const retryAfter = String(options.retryAfterSeconds ?? 1);
  host.retryReady(ready);
  return (_req, res, next) => {
    if (host.isServing(serving)) {
      next();
      return;
    }
    host.retryReady(ready);
    const health = host.vault.health();
    sendJson(
      res,
      503,
      { error: 'vault_unavailable', status: health.status, reasons: health.reasons },
      { 'Retry-After': retryAfter },
    );
  };
}

/** Options of {@link vaultHealthHandler}. */
export interface VaultHealthHandlerOptions {
  /** Answer 503 when the client is `degraded` too (default false: only `down` is 503). */
  degradedIsDown?: boolean;
}

/**
 * Answers `vault.health()` as JSON (no request to Vault): 200 while the client is serving (`ready`, or `degraded`
 * unless `degradedIsDown`), 503 otherwise.
 */
export function vaultHealthHandler(
  target: VaultExpress | Vault,
  options: VaultHealthHandlerOptions = {},
): Handler {
  const { vault } = hostOf('vaultHealthHandler', target);
  checkOptionsObject('vaultHealthHandler', options);
  checkOption('vaultHealthHandler', 'degradedIsDown', options.degradedIsDown, 'boolean');
  return (_req, res) => {
    const health = vault.health();
    sendJson(res, isServing(health, options) ? 200 : 503, health);
  };
}

/** Options of {@link gracefulShutdown}. */
export interface GracefulShutdownOptions {
  /** Signals that start the shutdown (default `['SIGTERM', 'SIGINT']`; `[]` = call `shutdown()` yourself). */
  signals?: NodeJS.Signals[];
  /** Bound of the lease and token revocations in `vault.close()`, ms (default 2000). */
  revokeTimeoutMs?: number;
  /** Called once everything is closed (or with the error of a step that failed; the others still run). */
  onShutdown?: (error?: unknown) => void;
  /**
   * After a signal-triggered shutdown, re-raise the signal so the process ends as it would have without the
   * handler (default true). `false` leaves the process to end by itself.
   */
  exitOnSignal?: boolean;
}

/** What {@link gracefulShutdown} returns. */
export interface GracefulShutdown {
  /** Runs the shutdown (single flight; the signals call it). Resolves when everything is closed; never rejects. */
  shutdown(): Promise<void>;
  /** Removes the signal handlers without shutting down. */
  dispose(): void;
}

/**
 * Graceful shutdown: on a signal (or `shutdown()`), the server stops accepting connections and idle keep-alive
 * connections are closed; in-flight requests finish; then the host closes: the databases drain and their leases
 * are revoked, and the client (always, even one passed as `vault`) revokes its leases and login token and stops
 * every timer.
 */
export function gracefulShutdown(
  server: Server,
  target: VaultExpress | Vault,
  options: GracefulShutdownOptions = {},
): GracefulShutdown {
  const host = validateShutdownOptions(server, target, options);
  const signals = options.signals ?? ['SIGTERM', 'SIGINT'];
  const handlers = new Map<NodeJS.Signals, () => void>();
  let running: Promise<void> | undefined;
  // Keep-alive connections: once shutting down, a response ends its connection instead of leaving it idle.
  const onRequest = (_req: IncomingMessage, res: ServerResponse): void => {
    if (running) res.setHeader('Connection', 'close');
    res.once('finish', () => {
      if (running) server.closeIdleConnections();
    });
  };
  server.on('request', onRequest);

  const dispose = (): void => {
    for (const [signal, handler] of handlers) process.off(signal, handler);
    handlers.clear();
  };

  const shutdown = (): Promise<void> => {
    running ??= (async () => {
      dispose();
      let failure: unknown;
      const step = async (fn: () => Promise<void>): Promise<void> => {
        try {
          await fn();
        } catch (error) {
          failure ??= error;
        }
      };
      await step(
        () =>
          new Promise<void>((resolve, reject) => {
            if (!server.listening) {
              resolve();
              return;
            }
            server.close((error) => (error ? reject(error) : resolve()));
            server.closeIdleConnections();
          }),
      );
      server.off('request', onRequest);
      await step(() => host.close({ timeoutMs: options.revokeTimeoutMs, closeClient: true }));
      options.onShutdown?.(failure);
    })();
    return running;
  };

  for (const signal of signals) {
    const handler = (): void => {
      shutdown().then(() => {
        if (options.exitOnSignal ?? true) process.kill(process.pid, signal);
      });
    };
    handlers.set(signal, handler);
    process.on(signal, handler);
  }
  return { shutdown, dispose };
}

function validateShutdownOptions(
  server: unknown,
  target: VaultExpress | Vault,
  options: GracefulShutdownOptions,
): VaultHost {
  const fn = 'gracefulShutdown';
  if (typeof (server as { close?: unknown } | null)?.close !== 'function') {
    throw optionError(
      fn,
      'server',
      `must be an http.Server, got ${describeValue(server)}`,
      'Pass the server that app.listen() returned.',
    );
  }
  const host = hostOf(fn, target);
  checkOptionsObject(fn, options);
  checkOption(fn, 'signals', options.signals, 'array', {
    fix: "Pass e.g. ['SIGTERM', 'SIGINT'], or [] to call shutdown() yourself.",
  });
  for (const [i, signal] of (options.signals ?? []).entries()) {
    checkOption(fn, `signals[${i}]`, signal, 'string', { fix: "Pass signal names such as 'SIGTERM'." });
  }
  checkOption(fn, 'revokeTimeoutMs', options.revokeTimeoutMs, 'positiveMs');
  checkOption(fn, 'onShutdown', options.onShutdown, 'function');
  checkOption(fn, 'exitOnSignal', options.exitOnSignal, 'boolean');
  return host;
}
