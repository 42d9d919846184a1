/**
 * A local stand-in for Doppler's REST API (https://docs.doppler.com/reference/api), for `@leasehold/doppler`'s
 * tests. It serves one config's secrets the way the real API does:
 *
 * - `GET /v3/configs/config/secrets/download?format=json` — the computed secrets as a flat JSON object
 *   (https://docs.doppler.com/reference/secrets-download), with an `ETag`; a request whose `If-None-Match` names
 *   the current ETag gets `304 Not Modified` and no body (as the Doppler CLI's fallback logic relies on);
 * - `GET /v3/configs/config/secrets` — `{ secrets: { NAME: { raw, computed } }, success: true }`
 *   (https://docs.doppler.com/reference/secrets-list);
 * - authentication by `Authorization: Bearer <token>` or HTTP Basic with the token as the user name; a missing or
 *   unknown token is `401`, a token without access to the asked project/config `403`, an unknown project/config
 *   `404`, a personal token without `project`/`config` `400` — each with Doppler's error body
 *   `{ "messages": [...], "success": false }`.
 *
 * A test changes the config's secrets ({@link DopplerStandIn.setSecrets}), reads the requests it received, and can
 * make the next request(s) fail ({@link DopplerStandIn.failNext}): a status and body of its choice (429, 500,
 * malformed JSON, …), a reset connection, or a request that never gets an answer.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Options of {@link startDopplerStandIn}. */
export interface DopplerStandInOptions {
  /** Project slug (default `app`). */
  project?: string;
  /** Config name (default `prd`). */
  config?: string;
  /** The config's initial secrets (default none). */
  secrets?: Record<string, string>;
  /** Whether responses carry an `ETag` and honour `If-None-Match` (default `true`). */
  etag?: boolean;
}

/** One request the stand-in received. */
export interface DopplerStandInRequest {
  readonly method: string;
  /** Path without the query string. */
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
  /** How the request authenticated: `bearer`, `basic` or `none` (the token itself is not recorded). */
  readonly auth: 'bearer' | 'basic' | 'none';
  /** The `If-None-Match` header, if any. */
  readonly ifNoneMatch?: string;
  /** The status answered (`0` for a reset connection or a request left without answer). */
  readonly status: number;
}

/** What {@link DopplerStandIn.failNext} makes the next request(s) get instead of the normal answer. */
export type DopplerStandInFailure =
  /** This status, body (a string is sent as is, anything else as JSON) and headers. */
  | { status: number; body?: unknown; headers?: Record<string, string> }
  /** The connection is destroyed without an answer. */
  | { reset: true }
  /** No answer until the client gives up (or the stand-in closes). */
  | { hang: true };

/** A running stand-in. */
export interface DopplerStandIn {
  /** Base URL, e.g. `http://127.0.0.1:40123` (the API host: `DOPPLER_API_HOST`). */
  readonly url: string;
  readonly project: string;
  readonly config: string;
  /** A service token (`dp.st.<config>.…`) of the config: needs no `project`/`config` parameters. */
  readonly serviceToken: string;
  /** A personal token (`dp.pt.…`): needs `project` and `config` parameters. */
  readonly personalToken: string;
  /** A service token of another project: `403` for this config. */
  readonly foreignServiceToken: string;
  /** The config's current secrets. */
  readonly secrets: Readonly<Record<string, string>>;
  /** Replaces the config's secrets (the ETag changes when the content does). */
  setSecrets(secrets: Record<string, string>): void;
  /** Sets (string) or deletes (`null`) some secrets, keeping the others. */
  updateSecrets(changes: Record<string, string | null>): void;
  /** The current ETag of the download (quoted, as sent). */
  readonly etag: string;
  /** Revokes a token: later requests with it get `401`. */
  revokeToken(token: string): void;
  /** Makes the next `count` requests (default 1) get `failure` instead of their answer. */
  failNext(failure: DopplerStandInFailure, count?: number): void;
  /** Every request received so far, in order. */
  readonly requests: readonly DopplerStandInRequest[];
  /** Number of requests received so far. */
  readonly requestCount: number;
  /** Closes the server and every open connection (hanging requests included). */
  close(): Promise<void>;
}

function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
  res.end(typeof body === 'string' ? body : JSON.stringify(body));
}

function sendError(res: ServerResponse, status: number, message: string): void {
  sendJson(res, status, { messages: [message], success: false });
}

/** Starts the stand-in on 127.0.0.1 (a free port). */
export async function startDopplerStandIn(options: DopplerStandInOptions = {}): Promise<DopplerStandIn> {
  const project = options.project ?? 'app';
  const config = options.config ?? 'prd';
  const useEtag = options.etag ?? true;
  let secrets: Record<string, string> = { ...(options.secrets ?? {}) };
  const token = (kind: string) => `dp.${kind}.${randomBytes(20).toString('hex')}`;
  const serviceToken = `dp.st.${config}.${randomBytes(20).toString('hex')}`;
  const personalToken = token('pt');
  const foreignServiceToken = `dp.st.other.${randomBytes(20).toString('hex')}`;
  const revoked = new Set<string>();
  const failures: DopplerStandInFailure[] = [];
  const requests: DopplerStandInRequest[] = [];

  const etagOf = (): string =>
    `"${createHash('sha256')
      .update(JSON.stringify(Object.entries(secrets).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))))
      .digest('hex')
      .slice(0, 40)}"`;

  function authenticate(req: IncomingMessage): { scheme: 'bearer' | 'basic' | 'none'; token?: string } {
    const header = req.headers.authorization ?? '';
    const bearer = /^Bearer (.+)$/i.exec(header);
    if (bearer) return { scheme: 'bearer', token: bearer[1] };
    const basic = /^Basic (.+)$/i.exec(header);
    if (basic) {
      const decoded = Buffer.from(basic[1] ?? '', 'base64').toString('utf8');
      return { scheme: 'basic', token: decoded.split(':')[0] };
    }
    return { scheme: 'none' };
  }

  /** Answers a secrets request; returns the status sent. */
  function answer(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    query: Record<string, string>,
  ): number {
    const { token: presented } = authenticate(req);
    if (req.method !== 'GET') {
      sendError(res, 405, 'Method not allowed');
      return 405;
    }
    if (path !== '/v3/configs/config/secrets/download' && path !== '/v3/configs/config/secrets') {
      sendError(res, 404, 'Not found');
      return 404;
    }
    if (presented === undefined || presented === '') {
      sendError(res, 401, 'Missing authentication token');
      return 401;
    }
    const known = [serviceToken, personalToken, foreignServiceToken].includes(presented);
    if (!known || revoked.has(presented)) {
      sendError(res, 401, 'Invalid Auth token');
      return 401;
    }
    if (presented === foreignServiceToken) {
      sendError(res, 403, 'This token does not have access to requested project');
      return 403;
    }
    if (presented === personalToken) {
      if (!query.project) {
        sendError(res, 400, 'You must specify a project');
        return 400;
      }
      if (!query.config) {
        sendError(res, 400, 'You must specify a config');
        return 400;
      }
    }
    if (query.project !== undefined && query.project !== project) {
      sendError(res, 404, 'Could not find requested project');
      return 404;
    }
    if (query.config !== undefined && query.config !== config) {
      sendError(res, 404, 'Could not find requested config');
      return 404;
    }
    if (path === '/v3/configs/config/secrets') {
      const listed: Record<string, { raw: string; computed: string }> = {};
      for (const [name, value] of Object.entries(secrets)) listed[name] = { raw: value, computed: value };
      sendJson(res, 200, { secrets: listed, success: true });
      return 200;
    }
    const format = query.format ?? 'json';
    if (format !== 'json') {
      sendError(res, 400, `The stand-in serves only format=json, not ${format}`);
      return 400;
    }
    const etag = etagOf();
    if (useEtag && req.headers['if-none-match'] === etag) {
      res.writeHead(304, { etag });
      res.end();
      return 304;
    }
    sendJson(res, 200, secrets, useEtag ? { etag } : {});
    return 200;
  }

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://stand-in');
    const query: Record<string, string> = {};
    for (const [k, v] of url.searchParams) query[k] = v;
    const ifNoneMatch = req.headers['if-none-match'];
    const record = (status: number) =>
      requests.push({
        method: req.method ?? 'GET',
        path: url.pathname,
        query,
        auth: authenticate(req).scheme,
        ...(typeof ifNoneMatch === 'string' ? { ifNoneMatch } : {}),
        status,
      });
    req.resume();
    const failure = failures.shift();
    if (failure !== undefined) {
      if ('reset' in failure) {
        record(0);
        req.socket.destroy();
        return;
      }
      if ('hang' in failure) {
        record(0);
        return;
      }
      sendJson(res, failure.status, failure.body ?? '', failure.headers);
      record(failure.status);
      return;
    }
    record(answer(req, res, url.pathname, query));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    project,
    config,
    serviceToken,
    personalToken,
    foreignServiceToken,
    get secrets() {
      return { ...secrets };
    },
    setSecrets(next) {
      secrets = { ...next };
    },
    updateSecrets(changes) {
      const next = { ...secrets };
      for (const [name, value] of Object.entries(changes)) {
        if (value === null) delete next[name];
        else next[name] = value;
      }
      secrets = next;
    },
    get etag() {
      return etagOf();
    },
    revokeToken(t) {
      revoked.add(t);
    },
    failNext(failure, count = 1) {
      for (let i = 0; i < count; i += 1) failures.push(failure);
    },
    requests,
    get requestCount() {
      return requests.length;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
