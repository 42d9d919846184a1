/**
 * The HTTP {@link Transport}: undici connection pool (keep-alive) over TCP/TLS or a unix socket, Vault's request
 * headers, per-attempt timeouts, retries with jittered exponential backoff (412, 429, 5xx except 501, network
 * errors; `Retry-After` honoured; bounded by attempts and total time), the circuit breaker, and error mapping.
 */
import { setMaxListeners } from 'node:events';
import { Agent } from 'undici';
import { type Clock, type RandomSource, sleep } from '../clock.js';
import { errorFromResponse, VaultError, VaultErrorCode } from '../errors.js';
import type { TypedEmitter, VaultEvents } from '../events.js';
import { type BackoffOptions, ExponentialBackoff } from '../lifetime.js';
import type { Logger } from '../logger.js';
import type { CircuitBreaker } from './circuit.js';
import type { Transport, TransportRequestOptions, VaultMethod, VaultResponse } from './types.js';

/** One HTTP exchange as the sender sees it. */
export interface RawRequest {
  method: string;
  /** Absolute path including `/v1/` and query string. */
  path: string;
  headers: Record<string, string>;
  body: string | undefined;
  signal: AbortSignal;
  timeoutMs: number;
}

/** The raw answer. */
export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Sends one HTTP request; throws on network errors. */
export interface Sender {
  send(request: RawRequest): Promise<RawResponse>;
  close(): Promise<void>;
}

/** TLS material, already loaded. */
export interface TlsMaterial {
  ca?: string[] | undefined;
  cert?: string | undefined;
  key?: string | undefined;
  serverName?: string | undefined;
  skipVerify?: boolean | undefined;
}

/** Where Vault is: an HTTP(S) origin (with optional path prefix) or a unix socket. */
export interface ParsedAddress {
  origin: string;
  pathPrefix: string;
  socketPath: string | undefined;
  tls: boolean;
}

/** Parses `https://host:port[/prefix]`, `http://…` or `unix:///path/to/socket`. Throws on anything else. */
export function parseAddress(address: string): ParsedAddress {
  if (address.startsWith('unix://')) {
    const socketPath = address.slice('unix://'.length);
    if (!socketPath.startsWith('/')) throw new Error('unix:// addresses need an absolute socket path');
    return { origin: 'http://localhost', pathPrefix: '', socketPath, tls: false };
  }
  const url = new URL(address);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`unsupported scheme "${url.protocol}"`);
  }
  if (url.username || url.password) throw new Error('credentials in the address are not supported');
  return {
    origin: url.origin,
    pathPrefix: url.pathname.replace(/\/+$/, ''),
    socketPath: undefined,
    tls: url.protocol === 'https:',
  };
}

/** A {@link Sender} on an undici `Agent` (connection pooling, keep-alive, TLS/mTLS, unix sockets). */
export function createUndiciSender(address: ParsedAddress, tls: TlsMaterial): Sender {
  const agent = new Agent({
    keepAliveTimeout: 30_000,
    connections: 64,
    connect: {
      ...(address.socketPath ? { socketPath: address.socketPath } : {}),
      ...(tls.ca ? { ca: tls.ca } : {}),
      ...(tls.cert ? { cert: tls.cert } : {}),
      ...(tls.key ? { key: tls.key } : {}),
      ...(tls.serverName ? { servername: tls.serverName } : {}),
      rejectUnauthorized: !tls.skipVerify,
      minVersion: 'TLSv1.2',
    },
  });
  return {
    async send(request) {
      const res = await agent.request({
        origin: address.origin,
        path: address.pathPrefix + request.path,
        method: request.method as 'GET',
        headers: request.headers,
        body: request.body,
        signal: request.signal,
        headersTimeout: request.timeoutMs,
        bodyTimeout: request.timeoutMs,
      });
      const body = await res.body.text();
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(res.headers)) {
        if (value !== undefined)
          headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
      }
      return { status: res.statusCode, headers, body };
    },
    async close() {
      await agent.close();
    },
  };
}

/** Retry policy of the transport. */
export interface RetryOptions {
  /** Retries after the first attempt (default 2, `VAULT_MAX_RETRIES`; 0 disables). */
  maxRetries: number;
  /** First backoff in ms (default 1000). */
  initialDelayMs: number;
  /** Cap of one backoff in ms (default 10000). */
  maxDelayMs: number;
  /** Total time budget for all attempts and waits in ms (default 60000). */
  maxElapsedMs: number;
}

/** Everything the HTTP transport needs. */
export interface HttpTransportOptions {
  sender: Sender;
  namespace: string | undefined;
  timeoutMs: number;
  retry: RetryOptions;
  circuit: CircuitBreaker | undefined;
  clock: Clock;
  random: RandomSource;
  events: TypedEmitter<VaultEvents>;
  logger: Logger;
}

const RETRY_STATUSES = (status: number): boolean =>
  status === 412 || status === 429 || (status >= 500 && status !== 501);

/** Parses `Retry-After` (seconds or HTTP date) into ms, or `undefined`. */
export function parseRetryAfter(value: string | undefined, now: number): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

/** Builds `/v1/<path>?<query>`; `LIST` becomes `GET ?list=true`. */
export function buildPath(
  method: VaultMethod,
  path: string,
  query: TransportRequestOptions['query'],
): { wireMethod: string; wirePath: string; logicalPath: string } {
  const q = path.indexOf('?');
  const logicalPath = (q === -1 ? path : path.slice(0, q)).replace(/^\/+/, '').replace(/^v1\//, '');
  const params = new URLSearchParams(q === -1 ? '' : path.slice(q + 1));
  for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) params.set(k, String(v));
  let wireMethod: string = method;
  if (method === 'LIST') {
    wireMethod = 'GET';
    params.set('list', 'true');
  }
  const qs = params.toString();
  const encoded = logicalPath
    .split('/')
    .map((segment) => encodeURIComponent(segment))
    .join('/');
  return { wireMethod, wirePath: `/v1/${encoded}${qs ? `?${qs}` : ''}`, logicalPath };
}

function isAbortError(error: unknown): boolean {
  return (
    typeof error === 'object' &&
    error !== null &&
    ((error as { name?: string }).name === 'AbortError' || (error as { code?: string }).code === 'ABORT_ERR')
  );
}

/** The production {@link Transport}. */
export class HttpTransport implements Transport {
  readonly #o: HttpTransportOptions;
  /** Aborted by close(): interrupts retry waits so no timer outlives the client. */
  readonly #closing = new AbortController();
  #closed = false;

  constructor(options: HttpTransportOptions) {
    this.#o = options;
    // Every request in flight listens on this signal until it settles (and removes its listener then): more than
    // ten at once is normal, not a leak, and must not print Node's MaxListenersExceededWarning into the app's logs.
    setMaxListeners(0, this.#closing.signal);
    // The probe asks sys/health with every "unusable but answering" state mapped to 299 (Go's trick): a 2xx
    // means Vault answers (sealed or not, per the body); any error status or network failure means still down.
    options.circuit?.setProbe(async () => {
      const res = await this.request<{ sealed?: boolean }>('GET', 'sys/health', {
        query: {
          standbyok: true,
          perfstandbyok: true,
          sealedcode: 299,
          uninitcode: 299,
          drsecondarycode: 299,
          performancestandbycode: 299,
        },
        retry: false,
        circuitBreaker: false,
      });
      return { sealed: res.body?.sealed === true };
    });
  }

  async request<TBody>(
    method: VaultMethod,
    path: string,
    options: TransportRequestOptions = {},
  ): Promise<VaultResponse<TBody>> {
    const { wireMethod, wirePath, logicalPath } = buildPath(method, path, options.query);
    if (this.#closed) throw this.#closedError(method, logicalPath);
    const circuit = options.circuitBreaker === false ? undefined : this.#o.circuit;
    const headers: Record<string, string> = { 'x-vault-request': 'true', ...lowerKeys(options.headers) };
    if (this.#o.namespace) headers['x-vault-namespace'] = this.#o.namespace;
    if (options.token) {
      const value = options.token.reveal();
      if (!/^[\x21-\x7e]+$/.test(value)) {
        throw new VaultError(
          VaultErrorCode.CONFIG,
          `${method} ${logicalPath} not sent: the token is empty or contains non-printable characters. Check the token value or file for stray bytes.`,
          { method, path: logicalPath },
        );
      }
      headers['x-vault-token'] = value;
    }
    let body: string | undefined;
    if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers['content-type'] ??= method === 'PATCH' ? 'application/merge-patch+json' : 'application/json';
    }
    const { retry, clock } = this.#o;
    const maxRetries = options.retry === false ? 0 : retry.maxRetries;
    const started = clock.now();
    const backoff = new ExponentialBackoff(
      backoffOptions(retry, Math.max(0, retry.maxElapsedMs)),
      started,
      this.#o.random,
    );
    for (let attempt = 1; ; attempt++) {
      const rejection = circuit?.rejection(method, logicalPath);
      if (rejection) throw rejection;
      const outcome = await this.#attempt<TBody>(
        wireMethod,
        wirePath,
        headers,
        body,
        options,
        method,
        logicalPath,
      );
      if ('response' in outcome) return outcome.response;
      const { error, retryAfterMs } = outcome;
      if (attempt > maxRetries || options.signal?.aborted) throw error;
      const delay = retryAfterMs ?? backoff.next(clock.now());
      if (delay === undefined || clock.now() - started + delay > retry.maxElapsedMs) throw error;
      options.onRetry?.(attempt);
      this.#o.events.emit('request:retry', {
        method,
        path: logicalPath,
        attempt,
        delayMs: delay,
        status: error.status,
        code: error.code,
      });
      this.#o.logger.debug(
        { method, path: logicalPath, attempt, delayMs: delay, status: error.status, code: error.code },
        'retrying Vault request',
      );
      const signals = options.signal ? [options.signal, this.#closing.signal] : [this.#closing.signal];
      try {
        await sleep(clock, delay, AbortSignal.any(signals));
      } catch (cause) {
        if (this.#closed) throw this.#closedError(method, logicalPath);
        throw new VaultError(VaultErrorCode.ABORTED, `${method} ${logicalPath} aborted by the caller`, {
          method,
          path: logicalPath,
          cause,
        });
      }
      if (this.#closed) throw this.#closedError(method, logicalPath);
    }
  }

  /** One attempt: the response, a retryable failure, or a thrown final error. */
  async #attempt<TBody>(
    wireMethod: string,
    wirePath: string,
    headers: Record<string, string>,
    body: string | undefined,
    options: TransportRequestOptions,
    method: string,
    logicalPath: string,
  ): Promise<{ response: VaultResponse<TBody> } | { error: VaultError; retryAfterMs: number | undefined }> {
    const circuit = options.circuitBreaker === false ? undefined : this.#o.circuit;
    let raw: RawResponse;
    try {
      raw = await this.#sendOnce(wireMethod, wirePath, headers, body, options, method, logicalPath);
    } catch (caught) {
      const sendError = caught as VaultError;
      if (sendError.code === VaultErrorCode.ABORTED || sendError.code === VaultErrorCode.CLOSED)
        throw sendError;
      circuit?.recordFailure();
      if (!sendError.retryable) throw sendError;
      return { error: sendError, retryAfterMs: undefined };
    }
    const accepted = options.acceptStatus?.includes(raw.status) ?? false;
    if ((raw.status >= 200 && raw.status < 300) || accepted) {
      circuit?.recordSuccess();
      return {
        response: {
          status: raw.status,
          headers: raw.headers,
          body: parseBody<TBody>(raw, method, logicalPath),
        },
      };
    }
    const error = errorFromResponse(raw.status, parseErrors(raw.body), method, logicalPath);
    if (error.code === VaultErrorCode.SEALED) {
      circuit?.recordSealed();
      throw error;
    }
    if (raw.status === 502 || raw.status === 503 || raw.status === 504) circuit?.recordFailure();
    else circuit?.recordSuccess();
    if (!RETRY_STATUSES(raw.status)) throw error;
    const retryAfterMs =
      raw.status === 429 || raw.status === 503
        ? parseRetryAfter(raw.headers['retry-after'], this.#o.clock.now())
        : undefined;
    return { error, retryAfterMs };
  }

  async #sendOnce(
    wireMethod: string,
    wirePath: string,
    headers: Record<string, string>,
    body: string | undefined,
    options: TransportRequestOptions,
    method: string,
    logicalPath: string,
  ): Promise<RawResponse> {
    const timeoutMs = options.timeoutMs ?? this.#o.timeoutMs;
    const controller = new AbortController();
    let timedOut = false;
    const timer = this.#o.clock.setTimeout(() => {
      timedOut = true;
      controller.abort(new Error('timeout'));
    }, timeoutMs);
    const onAbort = (): void => controller.abort(options.signal?.reason);
    if (options.signal?.aborted) onAbort();
    else options.signal?.addEventListener('abort', onAbort, { once: true });
    // close() does not wait for Vault to answer: requests still waiting end with VAULT_CLOSED.
    const onClose = (): void => controller.abort(new Error('closed'));
    this.#closing.signal.addEventListener('abort', onClose, { once: true });
    try {
      return await this.#o.sender.send({
        method: wireMethod,
        path: wirePath,
        headers,
        body,
        signal: controller.signal,
        timeoutMs,
      });
    } catch (cause) {
      if (this.#closed) throw this.#closedError(method, logicalPath);
      if (timedOut || isTimeoutError(cause)) {
        throw new VaultError(
          VaultErrorCode.TIMEOUT,
          `${method} ${logicalPath} timed out after ${timeoutMs} ms`,
          {
            method,
            path: logicalPath,
            cause: sanitizeCause(cause),
          },
        );
      }
      if (options.signal?.aborted || isAbortError(cause)) {
        throw new VaultError(VaultErrorCode.ABORTED, `${method} ${logicalPath} aborted by the caller`, {
          method,
          path: logicalPath,
          cause: sanitizeCause(cause),
          retryable: false,
        });
      }
      const reason = cause instanceof Error ? describeNetworkError(cause) : 'network error';
      throw new VaultError(
        VaultErrorCode.UNAVAILABLE,
        `${method} ${logicalPath} could not reach Vault: ${reason}`,
        {
          method,
          path: logicalPath,
          cause: sanitizeCause(cause),
          retryable: !isTlsVerificationError(cause),
        },
      );
    } finally {
      this.#o.clock.clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      this.#closing.signal.removeEventListener('abort', onClose);
    }
  }

  #closedError(method: string, path: string): VaultError {
    return new VaultError(VaultErrorCode.CLOSED, `${method} ${path} not sent: the client is closed`, {
      method,
      path,
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#closing.abort();
    this.#o.circuit?.close();
    await this.#o.sender.close();
  }
}

function backoffOptions(retry: RetryOptions, maxElapsedMs: number): BackoffOptions {
  return {
    initialMs: retry.initialDelayMs,
    multiplier: 2,
    randomizationFactor: 0.5,
    maxIntervalMs: retry.maxDelayMs,
    maxElapsedMs,
  };
}

function lowerKeys(headers: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers ?? {})) out[k.toLowerCase()] = v;
  return out;
}

function parseBody<T>(raw: RawResponse, method: string, path: string): T | undefined {
  if (raw.status === 204 || raw.body.trim() === '') return undefined;
  try {
    return JSON.parse(raw.body) as T;
  } catch (cause) {
    throw new VaultError(
      VaultErrorCode.INVALID_RESPONSE,
      `${method} ${path} answered ${raw.status} with a body that is not JSON`,
      { method, path, status: raw.status, cause: sanitizeCause(cause) },
    );
  }
}

function parseErrors(body: string): string[] {
  try {
    const parsed = JSON.parse(body) as { errors?: unknown };
    if (Array.isArray(parsed.errors)) return parsed.errors.filter((e): e is string => typeof e === 'string');
  } catch {
    // not JSON: no Vault errors to report (the body itself is never surfaced)
  }
  return [];
}

function isTimeoutError(error: unknown): boolean {
  const code = (error as { code?: string } | null)?.code;
  return (
    code === 'UND_ERR_HEADERS_TIMEOUT' ||
    code === 'UND_ERR_BODY_TIMEOUT' ||
    code === 'UND_ERR_CONNECT_TIMEOUT'
  );
}

function isTlsVerificationError(error: unknown): boolean {
  const code = (error as { code?: string } | null)?.code ?? '';
  return /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS_CERT_ALTNAME/.test(code);
}

function describeNetworkError(error: Error): string {
  const code = (error as { code?: string }).code;
  return code ? `${code} (${error.message})` : error.message;
}

/** Keeps a network cause's name/code/message but nothing that could hold request data. */
function sanitizeCause(cause: unknown): unknown {
  if (!(cause instanceof Error)) return cause;
  const clean = new Error(cause.message);
  clean.name = cause.name;
  const code = (cause as { code?: string }).code;
  if (code) Object.defineProperty(clean, 'code', { value: code, enumerable: true });
  return clean;
}
