import { randomBytes } from 'node:crypto';
import http from 'node:http';
import net, { type AddressInfo, type Socket } from 'node:net';
import tls, { type TLSSocket } from 'node:tls';
import type { DropRule, FailRule, LatencyRule, RequestLogEntry, RequestLogFilter } from './core/control.js';
import { Core, type RawRequest } from './core/core.js';
import { type LeaseRevocationOptions, VAULT_LEASE_REVOCATION } from './core/leases.js';
import type { DevServerLogger } from './core/types.js';
import { VaultMethodStream } from './listener.js';
import { authMethods as registryAuth, secretEngines as registrySecret } from './registry.js';
import {
  type BackendFactory,
  errorReply,
  jsonReply,
  parseDurationSeconds,
  type RawReply,
} from './sdk/index.js';
import { type Clock, isClock, systemClock } from './util/clock.js';
import { randomBase62 } from './util/random.js';
import { sleep } from './util/timer.js';

/** Maximum request body (Vault's default listener limit): larger bodies get 413. */
export const MAX_REQUEST_BYTES = 32 * 1024 * 1024;

/** TLS material for the listener (PEM). */
export interface DevServerTlsMaterial {
  /** Server certificate chain (PEM). */
  cert: string;
  /** Server private key (PEM). */
  key: string;
  /** CA certificate(s) that signed `cert` and that client certificates must chain to (PEM). */
  ca: string;
}

/** Options of {@link startDevServer}. */
export interface DevServerOptions {
  /** TCP port; `0` (default) picks a free port. */
  port?: number;
  /** Interface to listen on (default `127.0.0.1`). */
  host?: string;
  /** The root token's ID (default: random `hvs.…`). */
  rootToken?: string;
  /**
   * Serve HTTPS. `true` generates a CA and a server certificate for `127.0.0.1`/`localhost` (the CA is written to a
   * temporary file, see {@link DevServer.caCertPath}); or pass your own PEM material.
   */
  tls?: boolean | DevServerTlsMaterial;
  /** With `tls`: require clients to present a certificate signed by the CA (mTLS). */
  requireClientCert?: boolean;
  /** Diagnostics sink (never receives tokens or secret values). Default: silent. */
  logger?: DevServerLogger;
  /** Extra secrets engines by type (merged over the built-in registry), e.g. a test backend. */
  secretEngines?: Record<string, BackendFactory>;
  /** Extra auth methods by type (merged over the built-in registry). */
  authMethods?: Record<string, BackendFactory>;
  /** Mount KV v2 at `secret/` as `vault server -dev` does (default true). */
  devMounts?: boolean;
  /**
   * How an expired lease whose revocation fails is retried. Default: Vault's — after 10 s × 2^attempt (±50 %), and
   * marked irrevocable after 6 failed attempts. Tests may shorten `retryBaseMs` (ms) or change `maxAttempts`.
   */
  leaseRevocation?: Partial<LeaseRevocationOptions>;
  /**
   * The source of time for everything the server times or stamps: token, lease, response-wrapping and AppRole
   * secret-ID expiry, TTL arithmetic, static-role rotation, the lease revocation retry backoff, and every reported
   * instant (`creation_time`, `expire_time`, `issue_time`, PKI `not_before`/`not_after`, the request log's `time`).
   * Pass a {@link ManualClock} to move time in tests instead of sleeping. Default: the real clock.
   *
   * Not driven by it: injected latency ({@link DevServer.addLatency}) and network or database I/O, which stay real.
   */
  clock?: Clock;
}

/** A running dev server and its test-control surface. */
export interface DevServer {
  /** Base URL, e.g. `http://127.0.0.1:54321` (use as `VAULT_ADDR`). */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** The root token (use as `VAULT_TOKEN`). */
  readonly rootToken: string;
  /** The single unseal key (`sys/unseal`). */
  readonly unsealKey: string;
  /** With TLS: the CA certificate (PEM) that signed the server certificate. */
  readonly caCert: string | undefined;
  /** With generated TLS: the path of a temporary file holding {@link caCert}. */
  readonly caCertPath: string | undefined;
  /** With generated TLS: issues a client certificate signed by the CA (for mTLS tests). */
  issueClientCertificate?(commonName: string): Promise<{ cert: string; key: string }>;
  /** Stops listening, drops open connections, stops every timer and closes every backend. */
  close(): Promise<void>;

  /** Seals the server: every API call but health/seal-status/unseal answers 503 `Vault is sealed`. */
  seal(): void;
  /** Unseals the server. */
  unseal(): void;
  readonly sealed: boolean;
  /** Delays matching requests by `ms`. */
  addLatency(rule: LatencyRule): void;
  /** Fails the next `count` (default 1) matching requests with `status` and `error`. */
  failNext(rule: FailRule): void;
  /** Destroys the socket of the next `count` (default 1) matching requests without answering. */
  dropConnections(rule?: DropRule): void;
  /** Removes every latency/failure/drop rule. */
  clearFaults(): void;
  /** Revokes a lease out of band (calls the backend's revoke). */
  revokeLease(leaseId: string): Promise<void>;
  /** Revokes a token (by ID or accessor) out of band, with its children and leases. */
  revokeToken(tokenOrAccessor: string): Promise<boolean>;
  /** The request log (method, path, status, time — never bodies or tokens), optionally filtered. */
  requests(filter?: RequestLogFilter): RequestLogEntry[];
  /** Empties the request log. */
  clearRequests(): void;
  /** Enables a secrets engine (`kv-v2`, `database`, …) as `sys/mounts/:path` does. */
  mount(
    path: string,
    type: string,
    options?: { options?: Record<string, string>; config?: Record<string, unknown> },
  ): Promise<void>;
  /** Enables an auth method as `sys/auth/:path` does. */
  enableAuth(path: string, type: string): Promise<void>;
  /** Writes an ACL policy (HCL or JSON). */
  writePolicy(name: string, policy: string): void;
  /** The clock the server runs on ({@link DevServerOptions.clock}; the real clock by default). */
  readonly clock: Clock;
  /** @internal The server core (advanced: token/lease registries). Not a stable API. */
  readonly core: Core;
}

function readBody(req: http.IncomingMessage): Promise<Buffer | 'too-large'> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > MAX_REQUEST_BYTES) tooLarge = true;
    req.on('data', (chunk: Buffer) => {
      if (tooLarge) return;
      size += chunk.length;
      if (size > MAX_REQUEST_BYTES) {
        tooLarge = true;
        chunks.length = 0;
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(tooLarge ? 'too-large' : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** Validates `leaseRevocation` and fills in Vault's values for what is not given. */
function leaseRevocationOption(value: unknown): LeaseRevocationOptions {
  if (value === undefined) return VAULT_LEASE_REVOCATION;
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new TypeError(
      'startDevServer: `leaseRevocation` must be an object like { retryBaseMs: 10000, maxAttempts: 6 }',
    );
  const {
    retryBaseMs = VAULT_LEASE_REVOCATION.retryBaseMs,
    maxAttempts = VAULT_LEASE_REVOCATION.maxAttempts,
  } = value as Partial<LeaseRevocationOptions>;
  if (typeof retryBaseMs !== 'number' || !Number.isFinite(retryBaseMs) || retryBaseMs <= 0)
    throw new TypeError(
      'startDevServer: `leaseRevocation.retryBaseMs` must be a positive number of milliseconds (Vault: 10000)',
    );
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1)
    throw new TypeError(
      'startDevServer: `leaseRevocation.maxAttempts` must be a positive integer (Vault: 6)',
    );
  return { retryBaseMs, maxAttempts };
}

/** Starts an in-memory Vault-compatible server. */
export async function startDevServer(options: DevServerOptions = {}): Promise<DevServer> {
  const host = options.host ?? '127.0.0.1';
  const rootToken = options.rootToken ?? `hvs.${randomBase62(24)}`;
  if (!rootToken || (rootToken.includes('.') && !rootToken.startsWith('hvs.')))
    throw new TypeError(
      'startDevServer: `rootToken` must be a non-empty string without "." (or an "hvs." token)',
    );
  const unsealKey = randomBytes(32).toString('base64');
  const logger = options.logger;
  const leaseRevocation = leaseRevocationOption(options.leaseRevocation);
  const clock = options.clock ?? systemClock;
  if (!isClock(clock))
    throw new TypeError(
      'startDevServer: `clock` must have now(), setTimeout(fn, ms) and clearTimeout(handle) (e.g. a ManualClock)',
    );
  const core = new Core({
    rootToken,
    unsealKey,
    logger,
    secretEngines: { ...registrySecret, ...(options.secretEngines ?? {}) },
    authMethods: { ...registryAuth, ...(options.authMethods ?? {}) },
    leaseRevocation,
    clock,
  });
  if (options.devMounts !== false) {
    await core.enableMount({
      path: 'secret',
      type: 'kv',
      kind: 'secret',
      options: { version: '2' },
      description: 'key/value secret storage',
    });
  }

  let caCert: string | undefined;
  let caCertPath: string | undefined;
  let tlsMaterial: DevServerTlsMaterial | undefined;
  let issueClientCertificate: DevServer['issueClientCertificate'];
  if (options.tls) {
    if (options.tls === true) {
      const { generateDevTls } = await import('./tls.js');
      const generated = await generateDevTls(host);
      tlsMaterial = generated.material;
      caCertPath = generated.caCertPath;
      issueClientCertificate = generated.issueClientCertificate;
    } else {
      tlsMaterial = options.tls;
    }
    caCert = tlsMaterial.ca;
  } else if (options.requireClientCert) {
    throw new TypeError('startDevServer: `requireClientCert` needs `tls`');
  }

  const sockets = new Set<Socket>();

  const handler = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const started = Date.now();
    const startedAt = clock.now();
    const rawMethod = (req.method ?? 'GET').toUpperCase();
    // LIST arrives rewritten to LOCK (see VaultMethodStream).
    const method = rawMethod === 'LOCK' ? 'LIST' : rawMethod;
    const socket = req.socket instanceof VaultMethodStream ? req.socket.inner : (req.socket as Socket);
    const url = new URL(req.url ?? '/', 'http://dev-server');
    const send = (reply: RawReply): void => {
      if (res.headersSent || res.destroyed) return;
      const headers: Record<string, string> = { 'cache-control': 'no-store', ...reply.headers };
      res.writeHead(reply.status, headers);
      res.end(method === 'HEAD' ? undefined : reply.body);
    };
    const body = await readBody(req).catch(() => Buffer.alloc(0));

    // Test-control surface.
    if (url.pathname.startsWith('/_leasehold/')) {
      send(await controlRequest(method, url, req.headers, body === 'too-large' ? Buffer.alloc(0) : body));
      return;
    }

    let path: string;
    try {
      path = decodeURIComponent(url.pathname.startsWith('/v1/') ? url.pathname.slice(4) : '');
    } catch {
      send(errorReply(400, ['invalid URL path encoding']));
      return;
    }
    const record = (status: number): void => {
      const entry = {
        time: new Date(startedAt).toISOString(),
        method,
        path,
        status,
        durationMs: Date.now() - started,
      };
      core.control.record(entry);
      logger?.('debug', 'request', { method, path, status, duration_ms: entry.durationMs });
    };
    if (!url.pathname.startsWith('/v1/')) {
      send(errorReply(404, []));
      record(404);
      return;
    }
    const latency = core.control.latencyFor(method, path);
    if (latency > 0) await sleep(latency);
    if (core.control.takeDrop(method, path)) {
      record(0);
      socket.destroy();
      return;
    }
    const failure = core.control.takeFailure(method, path);
    if (failure) {
      const extra: Record<string, string> =
        failure.retryAfter !== undefined ? { 'retry-after': String(failure.retryAfter) } : {};
      send(errorReply(failure.status, [failure.error ?? 'injected failure'], extra));
      record(failure.status);
      return;
    }
    if (body === 'too-large') {
      send({
        ...errorReply(413, ['http: request body too large']),
        headers: { 'content-type': 'application/json', connection: 'close' },
      });
      record(413);
      return;
    }
    const tlsSocket = socket as TLSSocket;
    let clientCertificate: Buffer | undefined;
    if (typeof tlsSocket.getPeerCertificate === 'function') {
      const peer = tlsSocket.getPeerCertificate();
      if (peer?.raw && peer.raw.length > 0) clientCertificate = peer.raw;
    }
    const raw: RawRequest = {
      method,
      url: req.url ?? '/',
      headers: req.headers,
      body,
      remoteAddress: (socket.remoteAddress ?? '').replace(/^::ffff:/, ''),
      clientCertificate,
    };
    let reply: RawReply;
    try {
      reply = await core.handleVault(raw, path, url.searchParams);
    } catch (error) {
      logger?.('error', 'unhandled error', {
        path,
        error: error instanceof Error ? error.message : 'unknown',
      });
      reply = errorReply(500, ['internal error']);
    }
    send(reply);
    record(reply.status);
  };

  const controlRequest = async (
    method: string,
    url: URL,
    headers: http.IncomingHttpHeaders,
    body: Buffer,
  ): Promise<RawReply> => {
    const headerToken = headers['x-vault-token'];
    const token =
      (Array.isArray(headerToken) ? headerToken[0] : headerToken) ??
      /^Bearer\s+(.+)$/i.exec(headers.authorization ?? '')?.[1];
    const te = core.tokens.lookup(token);
    if (!te?.policies.includes('root'))
      return errorReply(403, ['permission denied: the control surface needs the root token']);
    let data: Record<string, unknown> = {};
    if (body.length > 0) {
      try {
        const parsed: unknown = JSON.parse(body.toString('utf8'));
        if (parsed && typeof parsed === 'object' && !Array.isArray(parsed))
          data = parsed as Record<string, unknown>;
        else return errorReply(400, ['error parsing JSON']);
      } catch {
        return errorReply(400, ['error parsing JSON']);
      }
    }
    const route = url.pathname.slice('/_leasehold/'.length).replace(/\/+$/, '');
    const noContent: RawReply = { status: 204, headers: {}, body: '' };
    const num = (v: unknown): number | undefined => (v === undefined || v === null ? undefined : Number(v));
    const str = (v: unknown): string | undefined => (typeof v === 'string' && v ? v : undefined);
    try {
      switch (`${method} ${route}`) {
        case 'POST seal':
          core.seal();
          return noContent;
        case 'POST unseal':
          core.unseal(unsealKey);
          return noContent;
        case 'GET requests': {
          const q = url.searchParams;
          const list = core.control.requests({
            method: q.get('method') ?? undefined,
            path: q.get('path') ?? undefined,
            status: q.get('status') ? Number(q.get('status')) : undefined,
          });
          return jsonReply(200, { count: list.length, requests: list });
        }
        case 'DELETE requests':
          core.control.clearRequests();
          return noContent;
        case 'POST faults/latency':
          core.control.addLatency({
            method: str(data.method),
            path: str(data.path),
            ms: num(data.ms) ?? Number.NaN,
            count: num(data.count),
          });
          return noContent;
        case 'POST faults/fail':
          core.control.failNext({
            method: str(data.method),
            path: str(data.path),
            status: num(data.status) ?? Number.NaN,
            error: str(data.error),
            count: num(data.count),
            retryAfter: num(data.retryAfter ?? data.retry_after),
          });
          return noContent;
        case 'POST faults/drop':
          core.control.dropNext({ method: str(data.method), path: str(data.path), count: num(data.count) });
          return noContent;
        case 'DELETE faults':
          core.control.clearFaults();
          return noContent;
        case 'POST revoke-lease': {
          const leaseId = str(data.leaseId ?? data.lease_id);
          if (!leaseId) return errorReply(400, ['leaseId is required']);
          await core.leases.revoke(leaseId, { force: true });
          return noContent;
        }
        case 'POST revoke-token': {
          const target = str(data.token ?? data.accessor);
          if (!target) return errorReply(400, ['token or accessor is required']);
          const entry = core.tokens.lookup(target) ?? core.tokens.lookupAccessor(target);
          if (!entry) return errorReply(404, []);
          await core.tokens.revoke(entry);
          return noContent;
        }
        default:
          return errorReply(404, [`unknown control route "${method} /_leasehold/${route}"`]);
      }
    } catch (error) {
      return errorReply(400, [error instanceof Error ? error.message : 'bad request']);
    }
  };

  const listener = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    handler(req, res).catch((error: unknown) => {
      logger?.('error', 'request failed', { error: error instanceof Error ? error.message : 'unknown' });
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ errors: ['internal error'] }));
      }
    });
  };

  const httpServer = http.createServer(listener);
  const accept = (socket: Socket): void => {
    // No Nagle: a response written in pieces (headers, body) must not wait for the client's delayed ACK (~40 ms per
    // request on a kept-alive connection). `noDelay` below sets it on the TCP socket under TLS as well.
    socket.setNoDelay(true);
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    httpServer.emit('connection', new VaultMethodStream(socket));
  };
  const server: net.Server = tlsMaterial
    ? tls.createServer(
        {
          cert: tlsMaterial.cert,
          key: tlsMaterial.key,
          ca: tlsMaterial.ca,
          requestCert: true,
          rejectUnauthorized: options.requireClientCert ?? false,
          noDelay: true,
        },
        accept,
      )
    : net.createServer({ noDelay: true }, accept);
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const urlHost = address.family === 'IPv6' || host.includes(':') ? `[${address.address}]` : host;
  const url = `${tlsMaterial ? 'https' : 'http'}://${urlHost}:${address.port}`;
  logger?.('info', 'dev server listening', { url });

  let closed: Promise<void> | undefined;
  const devServer: DevServer = {
    url,
    host,
    port: address.port,
    rootToken,
    unsealKey,
    caCert,
    caCertPath,
    issueClientCertificate,
    clock,
    core,
    get sealed() {
      return core.sealed;
    },
    close() {
      closed ??= (async () => {
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          for (const socket of sockets) socket.destroy();
        });
        await core.close();
        if (caCertPath) {
          const { rm } = await import('node:fs/promises');
          const { dirname } = await import('node:path');
          await rm(dirname(caCertPath), { recursive: true, force: true }).catch(() => undefined);
        }
      })();
      return closed;
    },
    seal: () => core.seal(),
    unseal: () => core.unseal(unsealKey),
    addLatency: (rule) => core.control.addLatency(rule),
    failNext: (rule) => core.control.failNext(rule),
    dropConnections: (rule) => core.control.dropNext(rule),
    clearFaults: () => core.control.clearFaults(),
    revokeLease: (leaseId) => core.leases.revoke(leaseId, { force: true }),
    async revokeToken(tokenOrAccessor) {
      const entry = core.tokens.lookup(tokenOrAccessor) ?? core.tokens.lookupAccessor(tokenOrAccessor);
      if (!entry) return false;
      await core.tokens.revoke(entry);
      return true;
    },
    requests: (filter) => core.control.requests(filter),
    clearRequests: () => core.control.clearRequests(),
    async mount(path, type, opts = {}) {
      const config = opts.config ?? {};
      await core.enableMount({
        path,
        type,
        kind: 'secret',
        options: opts.options,
        defaultLeaseTtl: parseDurationSeconds(config.default_lease_ttl, 'default_lease_ttl'),
        maxLeaseTtl: parseDurationSeconds(config.max_lease_ttl, 'max_lease_ttl'),
      });
    },
    async enableAuth(path, type) {
      await core.enableMount({ path, type, kind: 'auth' });
    },
    writePolicy(name, policy) {
      core.writePolicy(name, policy);
    },
  };
  return devServer;
}
