import type { AddressInfo } from 'node:net';
import { auth, createVault, type Vault } from '@leasehold/core';
import { type DevServer, startDevServer } from '@leasehold/dev-server';
import { freePort, waitFor } from '@leasehold/test-env';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gracefulShutdown, vaultHealthHandler, vaultMiddleware, vaultReadiness } from '../src/index.js';

let server: DevServer;

async function root(target: DevServer, method: string, path: string, body?: unknown): Promise<unknown> {
  const res = await fetch(`${target.url}/v1/${path}`, {
    method,
    headers: { 'X-Vault-Token': target.rootToken, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return res.status === 204 ? undefined : res.json();
}

beforeAll(async () => {
  server = await startDevServer({ port: 0 });
  await root(server, 'POST', 'secret/data/app', { data: { greeting: 'hello' } });
});
afterAll(async () => {
  await server?.close();
});

function buildApp(vault: Vault) {
  const app = express();
  app.get('/health/vault', vaultHealthHandler(vault));
  app.use(vaultReadiness(vault, { readyTimeoutMs: 20_000 }), vaultMiddleware(vault));
  app.get('/secret', async (req, res) => {
    const { data } = await req.vault.kv.get<{ greeting: string }>('app');
    res.json({ greeting: data.reveal().greeting });
  });
  return app;
}

async function listen(app: express.Express) {
  const http = await new Promise<import('node:http').Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  return { http, url: `http://127.0.0.1:${(http.address() as AddressInfo).port}` };
}

describe('@leasehold/express', () => {
  it('serves a KV secret through req.vault under concurrent requests, health 200', async () => {
    const vault = createVault({ address: server.url, auth: auth.token({ token: server.rootToken }) });
    const { http, url } = await listen(buildApp(vault));
    const { shutdown } = gracefulShutdown(http, vault, { signals: [] });
    try {
      await vault.ready({ timeoutMs: 30_000 });
      const statuses = await Promise.all(
        Array.from({ length: 16 }, () => fetch(`${url}/secret`).then((r) => r.status)),
      );
      expect(statuses).toEqual(Array(16).fill(200));
      expect(await (await fetch(`${url}/secret`)).json()).toEqual({ greeting: 'hello' });
      const health = await fetch(`${url}/health/vault`);
      expect(health.status).toBe(200);
      expect(await health.json()).toMatchObject({ status: 'ready' });
    } finally {
      await shutdown();
    }
    expect(vault.closed).toBe(true);
    expect(http.listening).toBe(false);
  });

  it('answers 503 with a JSON reason until Vault is up, then 200', async () => {
    const port = await freePort(); // Vault is not there yet
    const vault = createVault({
      address: `http://127.0.0.1:${port}`,
      auth: auth.token({ token: 'late-root' }),
      circuitBreaker: { failureThreshold: 2 },
    });
    const { http, url } = await listen(buildApp(vault));
    const { shutdown } = gracefulShutdown(http, vault, { signals: [] });
    let late: DevServer | undefined;
    try {
      const before = await fetch(`${url}/secret`);
      expect(before.status).toBe(503);
      expect(before.headers.get('retry-after')).toBe('1');
      const body = (await before.json()) as { error: string; status: string; reasons: string[] };
      expect(body.error).toBe('vault_unavailable');
      expect(body.status).toBe('down');
      expect(body.reasons.length).toBeGreaterThan(0);
      expect((await fetch(`${url}/health/vault`)).status).toBe(503);

      late = await startDevServer({ port, rootToken: 'late-root' });
      await root(late, 'POST', 'secret/data/app', { data: { greeting: 'late hello' } });
      let status = 0;
      for (let i = 0; i < 150 && status !== 200; i++) {
        status = (await fetch(`${url}/secret`)).status;
        if (status !== 200) await new Promise((r) => setTimeout(r, 100));
      }
      expect(status).toBe(200);
      expect(await (await fetch(`${url}/secret`)).json()).toEqual({ greeting: 'late hello' });
    } finally {
      await shutdown();
      await late?.close();
    }
  });

  it('stays ready (degraded) while Vault is sealed and its token is valid; fresh reads work again after unseal', async () => {
    const sealed = await startDevServer({ port: 0 });
    await root(sealed, 'POST', 'secret/data/app', { data: { greeting: 'hello' } });
    const vault = createVault({ address: sealed.url, auth: auth.token({ token: sealed.rootToken }) });
    const app = buildApp(vault);
    app.get('/fresh', async (req, res) => {
      const { data } = await req.vault.kv.get<{ greeting: string }>('app', { cache: false });
      res.json({ greeting: data.reveal().greeting });
    });
    const { http, url } = await listen(app);
    const { shutdown } = gracefulShutdown(http, vault, { signals: [] });
    try {
      await vault.ready({ timeoutMs: 30_000 });
      expect((await fetch(`${url}/fresh`)).status).toBe(200);
      expect((await fetch(`${url}/secret`)).status).toBe(200); // now cached
      sealed.seal();
      // The request that finds Vault sealed fails (500 from the route, or 503 if the circuit already knew).
      expect([500, 503]).toContain((await fetch(`${url}/fresh`)).status);
      // The token is still valid: readiness lets requests through (a cached read is served) and health is 200
      // with `degraded`.
      const res = await fetch(`${url}/secret`);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ greeting: 'hello' });
      const health = await fetch(`${url}/health/vault`);
      expect(health.status).toBe(200);
      expect(await health.json()).toMatchObject({
        status: 'degraded',
        reasons: ['Vault is sealed (circuit open)'],
      });
      sealed.unseal();
      let status = 0;
      for (let i = 0; i < 150 && status !== 200; i++) {
        status = (await fetch(`${url}/fresh`)).status;
        if (status !== 200) await new Promise((r) => setTimeout(r, 100));
      }
      expect(status).toBe(200);
    } finally {
      await shutdown();
      await sealed.close();
    }
  });

  it('gracefulShutdown lets an in-flight request finish, refuses new connections, closes the client', async () => {
    const vault = createVault({ address: server.url, auth: auth.token({ token: server.rootToken }) });
    const app = buildApp(vault);
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let entered: () => void = () => undefined;
    const arrived = new Promise<void>((r) => {
      entered = r;
    });
    app.get('/slow', async (req, res) => {
      entered();
      await gate;
      const { data } = await req.vault.kv.get<{ greeting: string }>('app');
      res.json({ greeting: data.reveal().greeting });
    });
    const { http, url } = await listen(app);
    let shutdownError: unknown = 'not called';
    const { shutdown } = gracefulShutdown(http, vault, {
      signals: [],
      onShutdown: (e) => {
        shutdownError = e;
      },
    });
    await vault.ready({ timeoutMs: 30_000 });
    const inFlight = fetch(`${url}/slow`);
    await arrived; // the request is in the route, waiting on the gate
    const done = shutdown();
    await waitFor('the server stopped listening', () => !http.listening, 10_000);
    await expect(fetch(`${url}/secret`)).rejects.toThrow();
    expect(vault.closed).toBe(false); // still serving the in-flight request
    release();
    const res = await inFlight;
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ greeting: 'hello' });
    await done;
    expect(vault.closed).toBe(true);
    expect(shutdownError).toBeUndefined();
  });

  it('gracefulShutdown runs on a signal and removes its handlers', async () => {
    const vault = createVault({ address: server.url, auth: auth.token({ token: server.rootToken }) });
    const { http } = await listen(buildApp(vault));
    const before = process.listenerCount('SIGUSR2');
    let finish: () => void = () => undefined;
    const finished = new Promise<void>((r) => {
      finish = r;
    });
    gracefulShutdown(http, vault, {
      signals: ['SIGUSR2'],
      exitOnSignal: false,
      onShutdown: () => finish(),
    });
    expect(process.listenerCount('SIGUSR2')).toBe(before + 1);
    process.emit('SIGUSR2', 'SIGUSR2');
    await finished;
    expect(vault.closed).toBe(true);
    expect(process.listenerCount('SIGUSR2')).toBe(before);
  });

  it('rejects bad arguments and options with VAULT_CONFIG naming the option and the fix', async () => {
    const config = (fn: () => unknown, pattern: RegExp) =>
      expect(fn).toThrow(
        expect.objectContaining({ code: 'VAULT_CONFIG', message: expect.stringMatching(pattern) }),
      );
    const vault = createVault({ address: server.url, auth: auth.token({ token: server.rootToken }) });
    try {
      config(() => vaultMiddleware(undefined as never), /"vault" of vaultMiddleware: must be a Vault client/);
      config(() => vaultHealthHandler({} as never), /"vault" of vaultHealthHandler/);
      config(
        () => vaultHealthHandler(vault, { degradedIsDown: 'yes' as never }),
        /"degradedIsDown" of vaultHealthHandler: must be true or false, got a string/,
      );
      config(
        () => vaultReadiness(vault, { readyTimeoutMs: 0 }),
        /"readyTimeoutMs" of vaultReadiness: .* from 1 to/,
      );
      config(() => vaultReadiness(vault, { readyTimeoutMs: 2 ** 31 }), /"readyTimeoutMs"/);
      config(() => vaultReadiness(vault, { degradedIsDown: 'no' as never }), /"degradedIsDown"/);
      config(() => vaultReadiness(vault, { retryAfterSeconds: -1 }), /"retryAfterSeconds".*Retry-After/);
      config(() => vaultReadiness(vault, null as never), /^vaultReadiness needs an options object/);
      const http = (await listen(express())).http;
      const sigtermHandlers = process.listenerCount('SIGTERM');
      try {
        config(
          () => gracefulShutdown(undefined as never, vault),
          /"server" of gracefulShutdown: must be an http\.Server/,
        );
        config(
          () => gracefulShutdown(http, vault, { signals: 'SIGTERM' as never }),
          /"signals".*an array, got a string/,
        );
        config(() => gracefulShutdown(http, vault, { signals: [''] as never }), /"signals\[0\]"/);
        config(() => gracefulShutdown(http, vault, { revokeTimeoutMs: -1 }), /"revokeTimeoutMs"/);
        config(() => gracefulShutdown(http, vault, { exitOnSignal: 1 as never }), /"exitOnSignal".*got 1/);
        config(() => gracefulShutdown(http, vault, { onShutdown: 'x' as never }), /"onShutdown".*a function/);
        // Nothing was registered by the rejected calls.
        expect(process.listenerCount('SIGTERM')).toBe(sigtermHandlers);
      } finally {
        await new Promise((resolve) => http.close(resolve));
      }
    } finally {
      await vault.close();
    }
  });
});
