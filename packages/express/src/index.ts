/**
 * @packageDocumentation
 * Express 5 middleware for Leasehold: `req.vault`, a readiness gate that answers 503 until the client is ready
 * (and while it is down), a health handler, and a graceful shutdown that stops accepting, lets in-flight requests
 * finish, closes the pools and revokes the leases.
 *
 * ```ts
 * import express from 'express';
 * import { createVault } from '@leasehold/core';
 * import { gracefulShutdown, vaultHealthHandler, vaultMiddleware, vaultReadiness } from '@leasehold/express';
 *
 * const vault = createVault();
 * const app = express();
 * app.get('/health/vault', vaultHealthHandler(vault));
 * app.use(vaultReadiness(vault), vaultMiddleware(vault));
 * app.get('/config', async (req, res) => res.json({ flag: (await req.vault.kv.get('app')).data.reveal().flag }));
 * const server = app.listen(3000);
 * gracefulShutdown(server, vault, { signals: ['SIGTERM', 'SIGINT'] });
 * ```
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import {
  checkOption,
  checkOptionsObject,
  closeDatabaseClient,
  DEFAULT_READY_TIMEOUT_MS,
  describeValue,
  optionError,
  type Vault,
  type VaultHealth,
} from '@leasehold/core';

declare global {
  namespace Express {
    interface Request {
      /** The Vault client attached by `vaultMiddleware(vault)` (`@leasehold/express`). */
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
export function vaultMiddleware(vault: Vault): Middleware {
  checkOption('vaultMiddleware', 'vault', vault, 'vault', { required: true });
  return (req, _res, next) => {
    req.vault = vault;
    next();
  };
}

/** Options of {@link vaultReadiness}. */
export interface VaultReadinessOptions {
  /** How long one background `vault.ready()` attempt may keep retrying the login, ms (default 30 000). */
  readyTimeoutMs?: number;
  /** Let requests through while the client is `degraded` (Vault unreachable but the token still valid). Default true. */
  allowDegraded?: boolean;
  /** `Retry-After` seconds on the 503 (default 1). */
  retryAfterSeconds?: number;
}

/**
 * A readiness gate: requests pass once the client is logged in; until then, and while it is `down` (sealed,
 * closed, no valid token), they get `503 {"error":"vault_unavailable","status":…,"reasons":[…]}` with
 * `Retry-After`. Creating the gate starts `vault.ready()` in the background (the core's login backoff, bounded by
 * `readyTimeoutMs`); a request that finds the client not ready while no attempt runs starts another one.
 */
export function vaultReadiness(vault: Vault, options: VaultReadinessOptions = {}): Middleware {
  const fn = 'vaultReadiness';
  checkOption(fn, 'vault', vault, 'vault', { required: true });
  checkOptionsObject(fn, options);
  checkOption(fn, 'readyTimeoutMs', options.readyTimeoutMs, 'positiveMs');
  checkOption(fn, 'allowDegraded', options.allowDegraded, 'boolean');
  checkOption(fn, 'retryAfterSeconds', options.retryAfterSeconds, 'nonNegativeInteger', {
    fix: 'Pass the Retry-After seconds of the 503 (default 1).',
  });
  const readyTimeoutMs = options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS;
  const allowDegraded = options.allowDegraded ?? true;
  const retryAfter = String(options.retryAfterSeconds ?? 1);
  let attempt: Promise<void> | undefined;
  const kick = (): void => {
    if (attempt || vault.closed) return;
    attempt = vault
      .ready({ timeoutMs: readyTimeoutMs })
      .catch(() => undefined)
      .finally(() => {
        attempt = undefined;
      });
  };
  kick();
  return (_req, res, next) => {
    const health = vault.health();
    if (health.status === 'ready' || (health.status === 'degraded' && allowDegraded)) {
      next();
      return;
    }
    kick();
    sendJson(
      res,
      503,
      { error: 'vault_unavailable', status: health.status, reasons: health.reasons },
      { 'Retry-After': retryAfter },
    );
  };
}

/**
 * Answers `vault.health()` as JSON (no request to Vault): 200 while `ready` or `degraded`, 503 when `down` (or
 * `degraded` with `degradedIsDown`).
 */
export function vaultHealthHandler(vault: Vault, options: { degradedIsDown?: boolean } = {}): Handler {
  checkOption('vaultHealthHandler', 'vault', vault, 'vault', { required: true });
  checkOptionsObject('vaultHealthHandler', options);
  checkOption('vaultHealthHandler', 'degradedIsDown', options.degradedIsDown, 'boolean');
  return (_req, res) => {
    const health: VaultHealth = vault.health();
    const down =
      health.status === 'down' || (health.status === 'degraded' && options.degradedIsDown === true);
    sendJson(res, down ? 503 : 200, health);
  };
}

/** Options of {@link gracefulShutdown}. */
export interface GracefulShutdownOptions {
  /** Signals that start the shutdown (default `['SIGTERM', 'SIGINT']`; `[]` = call `shutdown()` yourself). */
  signals?: NodeJS.Signals[];
  /**
   * Database clients to close after the server stopped, before the client: rotating pools (`end()`), Knex
   * (`destroy()`), or anything with `close()`/`dispose()`. Their leases are revoked by `vault.close()` (and by a
   * rotating pool's own `end()`).
   */
  pools?: unknown[];
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
 * connections are closed; in-flight requests finish; then the pools close (draining) and `vault.close()` revokes
 * the leases and the login token and stops every timer.
 */
export function gracefulShutdown(
  server: Server,
  vault: Vault,
  options: GracefulShutdownOptions = {},
): GracefulShutdown {
  validateShutdownOptions(server, vault, options);
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
      await step(async () => {
        await Promise.all((options.pools ?? []).map((pool) => closeDatabaseClient(pool)));
      });
      await step(() => vault.close({ timeoutMs: options.revokeTimeoutMs }));
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

function validateShutdownOptions(server: unknown, vault: unknown, options: GracefulShutdownOptions): void {
  const fn = 'gracefulShutdown';
  if (typeof (server as { close?: unknown } | null)?.close !== 'function') {
    throw optionError(
      fn,
      'server',
      `must be an http.Server, got ${describeValue(server)}`,
      'Pass the server that app.listen() returned.',
    );
  }
  checkOption(fn, 'vault', vault, 'vault', { required: true });
  checkOptionsObject(fn, options);
  checkOption(fn, 'signals', options.signals, 'array', {
    fix: "Pass e.g. ['SIGTERM', 'SIGINT'], or [] to call shutdown() yourself.",
  });
  for (const [i, signal] of (options.signals ?? []).entries()) {
    checkOption(fn, `signals[${i}]`, signal, 'string', { fix: "Pass signal names such as 'SIGTERM'." });
  }
  checkOption(fn, 'pools', options.pools, 'array');
  checkOption(fn, 'revokeTimeoutMs', options.revokeTimeoutMs, 'positiveMs');
  checkOption(fn, 'onShutdown', options.onShutdown, 'function');
  checkOption(fn, 'exitOnSignal', options.exitOnSignal, 'boolean');
}
