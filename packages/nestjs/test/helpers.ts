import type { AddressInfo } from 'node:net';
import type { DevServer } from '@leasehold/dev-server';
import type { INestApplication } from '@nestjs/common';

/** Writes a KV v2 secret with the root token. */
export async function putSecret(
  server: DevServer,
  path: string,
  data: Record<string, unknown>,
): Promise<void> {
  const res = await fetch(`${server.url}/v1/secret/data/${path}`, {
    method: 'POST',
    headers: { 'X-Vault-Token': server.rootToken, 'Content-Type': 'application/json' },
    body: JSON.stringify({ data }),
  });
  if (!res.ok) throw new Error(`put ${path}: ${res.status}`);
}

/** A child token of the root token (so the client logs in with something that is not root). */
export async function childToken(server: DevServer, ttl = '1h'): Promise<string> {
  const res = await fetch(`${server.url}/v1/auth/token/create`, {
    method: 'POST',
    headers: { 'X-Vault-Token': server.rootToken, 'Content-Type': 'application/json' },
    body: JSON.stringify({ ttl, policies: ['root'] }),
  });
  const body = (await res.json()) as { auth: { client_token: string } };
  return body.auth.client_token;
}

/** Listens on a free loopback port and returns the base URL. */
export async function listen(app: INestApplication): Promise<string> {
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  return `http://127.0.0.1:${port}`;
}

/** `n` concurrent GETs; returns the status codes. */
export async function hammer(url: string, n: number): Promise<number[]> {
  return Promise.all(Array.from({ length: n }, () => fetch(url).then((r) => r.status)));
}
