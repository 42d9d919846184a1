import { auth, createVault, VaultError } from '@leasehold/core';
import { type DevServer, startDevServer } from '@leasehold/dev-server';
import { freePort } from '@leasehold/test-env';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { vaultPlugin } from '../src/index.js';

let server: DevServer;
let token: string;

async function root(method: string, path: string, body?: unknown): Promise<unknown> {
  const res = await fetch(`${server.url}/v1/${path}`, {
    method,
    headers: { 'X-Vault-Token': server.rootToken, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return res.status === 204 ? undefined : res.json();
}

beforeAll(async () => {
  server = await startDevServer({ port: 0 });
  await root('POST', 'secret/data/app', { data: { greeting: 'hello' } });
  const created = (await root('POST', 'auth/token/create', { ttl: '1h', policies: ['root'] })) as {
    auth: { client_token: string };
  };
  token = created.auth.client_token;
});
afterAll(async () => {
  await server?.close();
});

function buildApp(options: Parameters<typeof vaultPlugin>[1]) {
  const app = Fastify();
  app.register(vaultPlugin, options);
  app.get('/secret', async () => {
    const { data } = await app.vault.kv.get<{ greeting: string }>('app');
    return { greeting: data.reveal().greeting };
  });
  return app;
}

describe('vaultPlugin', () => {
  it('decorates app.vault, is ready after app.ready() and serves a KV secret under concurrent requests', async () => {
    const app = buildApp({ address: server.url, auth: auth.token({ token }), readyTimeoutMs: 5000 });
    await app.listen({ port: 0, host: '127.0.0.1' });
    try {
      expect(app.vault.health().status).toBe('ready');
      const { port } = app.server.address() as { port: number };
      const statuses = await Promise.all(
        Array.from({ length: 16 }, () => fetch(`http://127.0.0.1:${port}/secret`).then((r) => r.status)),
      );
      expect(statuses).toEqual(Array(16).fill(200));
      const res = await app.inject('/secret');
      expect(res.json()).toEqual({ greeting: 'hello' });
    } finally {
      await app.close();
    }
    expect(app.vault.closed).toBe(true);
  });

  it('app.ready() rejects with a clear VAULT_TIMEOUT when Vault is unreachable within readyTimeoutMs', async () => {
    const port = await freePort(); // nothing listens there
    const app = buildApp({
      address: `http://127.0.0.1:${port}`,
      auth: auth.token({ token }),
      readyTimeoutMs: 1500,
    });
    const started = Date.now();
    const error = await app.ready().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(VaultError.is(error, 'VAULT_TIMEOUT')).toBe(true);
    expect((error as Error).message).toMatch(
      /Vault at http:\/\/127\.0\.0\.1:\d+ was not ready.*readyTimeoutMs/s,
    );
    expect(Date.now() - started).toBeLessThan(1500 + 5000);
    expect(app.vault.closed).toBe(true); // the plugin cleaned up its own client
    await app.close();
  });

  it('app.listen() fails when Vault is sealed', async () => {
    const sealed = await startDevServer({ port: 0 });
    sealed.seal();
    try {
      const app = buildApp({ address: sealed.url, auth: auth.token({ token }), readyTimeoutMs: 1500 });
      const error = await app.listen({ port: 0, host: '127.0.0.1' }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(VaultError.is(error)).toBe(true);
      expect((error as Error).message).toMatch(/sealed/i);
      await app.close();
    } finally {
      await sealed.close();
    }
  });

  it('health route answers 200 while ready and 503 once the client is down', async () => {
    const app = buildApp({ address: server.url, auth: auth.token({ token }), healthRoute: '/healthz' });
    await app.ready();
    try {
      const ok = await app.inject('/healthz');
      expect(ok.statusCode).toBe(200);
      expect(ok.json()).toMatchObject({ status: 'ready' });
      await app.vault.close();
      const down = await app.inject('/healthz');
      expect(down.statusCode).toBe(503);
      expect(down.json()).toMatchObject({ status: 'down', reasons: ['client closed', expect.any(String)] });
    } finally {
      await app.close();
    }
  });

  it('accepts an existing client and leaves it open on close unless closeClient', async () => {
    const vault = createVault({ address: server.url, auth: auth.token({ token }) });
    const app = buildApp({ vault });
    await app.ready();
    expect(app.vault).toBe(vault);
    expect((await app.inject('/secret')).statusCode).toBe(200);
    await app.close();
    expect(vault.closed).toBe(false);
    await vault.close();
  });

  it('rejects bad options at registration with VAULT_CONFIG naming the option', async () => {
    const app = Fastify();
    app.register(vaultPlugin, {
      address: server.url,
      auth: auth.token({ token }),
      databases: { main: { driver: 'mysql' as never, role: 'x' } },
    });
    const error = await app.ready().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(VaultError.is(error, 'VAULT_CONFIG')).toBe(true);
    expect((error as Error).message).toContain('databases.main.driver');
    await app.close();
  });

  it('rejects a bad healthRoute at registration with VAULT_CONFIG naming the option', async () => {
    for (const [healthRoute, pattern] of [
      [5, /"healthRoute" of vaultPlugin: must be true, false, a path or \{ path, degradedIsDown \}, got 5/],
      ['health', /"healthRoute\.path" of vaultPlugin: must be a path starting with "\/", got a string/],
      [{ degradedIsDown: 'yes' }, /"healthRoute\.degradedIsDown" of vaultPlugin: must be true or false/],
    ] as const) {
      const app = Fastify();
      app.register(vaultPlugin, {
        address: server.url,
        auth: auth.token({ token }),
        healthRoute: healthRoute as never,
      });
      const error = await app.ready().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(VaultError.is(error, 'VAULT_CONFIG')).toBe(true);
      expect((error as Error).message).toMatch(pattern);
      await app.close();
    }
  });
});
