import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer, type ServerOptions } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';

/** One request as the stub saw it. */
export interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
  clientCertSubject: string | undefined;
}

export type StubReply = {
  status: number;
  /** Sent as JSON. */
  body?: unknown;
  /** Sent as is instead of `body` (e.g. a body that is not JSON). */
  raw?: string;
  /** Never answer: the connection stays open until the stub closes. */
  hang?: boolean;
  headers?: Record<string, string>;
  delayMs?: number;
};
export type StubHandler = (req: SeenRequest) => StubReply | Promise<StubReply>;

/**
 * A scripted HTTP(S) server for transport-level tests (status codes, headers, TLS, sockets). Vault semantics are
 * tested against the dev server; this only checks what goes over the wire.
 */
export class HttpStub {
  readonly seen: SeenRequest[] = [];
  handler: StubHandler = () => ({ status: 200, body: {} });
  #server: Server | undefined;

  async listen(options: { tls?: ServerOptions; socketPath?: string } = {}): Promise<string> {
    const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', async () => {
        const socket = req.socket as TLSSocket;
        const peer =
          typeof socket.getPeerCertificate === 'function' ? socket.getPeerCertificate() : undefined;
        const seen: SeenRequest = {
          method: req.method ?? '',
          url: req.url ?? '',
          headers: req.headers,
          body: Buffer.concat(chunks).toString('utf8'),
          clientCertSubject: peer && 'subject' in peer && peer.subject ? String(peer.subject.CN) : undefined,
        };
        this.seen.push(seen);
        const reply = await this.handler(seen);
        if (reply.delayMs) await new Promise((r) => setTimeout(r, reply.delayMs));
        if (res.destroyed || reply.hang) return;
        res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
        res.end(reply.raw ?? (reply.body === undefined ? '' : JSON.stringify(reply.body)));
      });
    };
    this.#server = options.tls ? createHttpsServer(options.tls, onRequest) : createHttpServer(onRequest);
    const server = this.#server;
    await new Promise<void>((resolve) => {
      if (options.socketPath) server.listen(options.socketPath, resolve);
      else server.listen(0, '127.0.0.1', resolve);
    });
    if (options.socketPath) return `unix://${options.socketPath}`;
    const { port } = server.address() as AddressInfo;
    return `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  }

  async close(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** A Vault-shaped success envelope. */
export function envelope(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    request_id: 'req',
    lease_id: '',
    renewable: false,
    lease_duration: 0,
    data: null,
    wrap_info: null,
    warnings: null,
    auth: null,
    ...extra,
  };
}

/** PEM files of a test PKI made with the openssl CLI: a CA, a server cert for `vault.test` + 127.0.0.1, a client cert. */
export interface TestPki {
  dir: string;
  caFile: string;
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCertFile: string;
  clientKeyFile: string;
  clientCert: string;
  clientKey: string;
  cleanup(): void;
}

export function makeTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'leasehold-pki-'));
  const f = (name: string): string => join(dir, name);
  const ssl = (...args: string[]): void => {
    execFileSync('openssl', args, { stdio: 'pipe' });
  };
  ssl(
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    f('ca.key'),
    '-out',
    f('ca.pem'),
    '-days',
    '2',
    '-subj',
    '/CN=Leasehold Test CA',
  );
  const issue = (name: string, cn: string, ext: string): void => {
    ssl(
      'req',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      f(`${name}.key`),
      '-out',
      f(`${name}.csr`),
      '-subj',
      `/CN=${cn}`,
    );
    writeFileSync(f(`${name}.ext`), ext);
    ssl(
      'x509',
      '-req',
      '-in',
      f(`${name}.csr`),
      '-CA',
      f('ca.pem'),
      '-CAkey',
      f('ca.key'),
      '-CAcreateserial',
      '-out',
      f(`${name}.pem`),
      '-days',
      '2',
      '-extfile',
      f(`${name}.ext`),
    );
  };
  issue('server', 'vault.test', 'subjectAltName=DNS:vault.test,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  issue('client', 'leasehold-client', 'extendedKeyUsage=clientAuth\n');
  const read = (name: string): string => readFileSync(f(name), 'utf8');
  return {
    dir,
    caFile: f('ca.pem'),
    ca: read('ca.pem'),
    serverCert: read('server.pem'),
    serverKey: read('server.key'),
    clientCertFile: f('client.pem'),
    clientKeyFile: f('client.key'),
    clientCert: read('client.pem'),
    clientKey: read('client.key'),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
