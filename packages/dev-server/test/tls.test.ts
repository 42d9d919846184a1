import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { request } from 'node:https';
import { afterAll, describe, expect, it } from 'vitest';
import { type DevServer, startDevServer } from '../src/index.js';
import { newState, testEngine } from './fixtures.js';

function get(
  server: DevServer,
  path: string,
  tls: { ca?: string; cert?: string; key?: string },
): Promise<{ status: number; body: string }> {
  const url = new URL(server.url);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path,
        method: 'GET',
        headers: { 'x-vault-token': server.rootToken },
        ...tls,
      },
      (res) => {
        let body = '';
        res.on('data', (c) => {
          body += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

const servers: DevServer[] = [];
afterAll(async () => {
  for (const s of servers) await s.close();
});

describe('TLS', () => {
  it('serves HTTPS with a generated CA written to a temp file (removed on close)', async () => {
    const server = await startDevServer({ tls: true });
    servers.push(server);
    expect(server.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(server.caCertPath && existsSync(server.caCertPath)).toBe(true);
    const ca = readFileSync(server.caCertPath as string, 'utf8');
    expect(ca).toBe(server.caCert);
    const res = await get(server, '/v1/sys/health', { ca });
    expect(res.status).toBe(200);
    await expect(get(server, '/v1/sys/health', {})).rejects.toThrow();
    const path = server.caCertPath as string;
    await server.close();
    expect(existsSync(path)).toBe(false);
  });

  it('requires a client certificate with requireClientCert and passes its DER to backends', async () => {
    const state = newState();
    const server = await startDevServer({
      tls: true,
      requireClientCert: true,
      secretEngines: { test: testEngine(state) },
    });
    servers.push(server);
    await server.mount('test', 'test');
    const ca = server.caCert as string;
    await expect(get(server, '/v1/test/echo', { ca })).rejects.toThrow();
    const client = await server.issueClientCertificate?.('app-client');
    expect(client).toBeDefined();
    const res = await get(server, '/v1/test/echo', { ca, cert: client?.cert, key: client?.key });
    expect(res.status).toBe(200);
    const der = state.lastRequest?.clientCertificate;
    expect(Buffer.isBuffer(der)).toBe(true);
    expect(der?.equals(new X509Certificate(client?.cert as string).raw)).toBe(true);
  });

  it('rejects requireClientCert without tls', async () => {
    await expect(startDevServer({ requireClientCert: true })).rejects.toThrow(/needs `tls`/);
  });
});
