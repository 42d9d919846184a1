/**
 * Transport behaviour against the dev server's fault injection (real HTTP): retries, Retry-After, dropped
 * connections, timeouts, the circuit breaker, and a user-supplied token over TLS.
 */
import { type DevServer, startDevServer } from '@leasehold/dev-server';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createVault, type Vault, type VaultEvents, type VaultOptions } from '../../src/index.js';

let server: DevServer;
let vaults: Vault[] = [];

beforeAll(async () => {
  server = await startDevServer();
});
afterEach(async () => {
  server.clearFaults();
  server.clearRequests();
  await Promise.all(vaults.map((v) => v.close()));
  vaults = [];
});
afterAll(async () => {
  await server?.close();
});

function rootVault(extra: VaultOptions = {}): { vault: Vault; retries: Array<VaultEvents['request:retry']> } {
  const vault = createVault({
    env: { VAULT_ADDR: server.url, VAULT_TOKEN: server.rootToken },
    retry: { initialDelayMs: 20, maxDelayMs: 50 },
    ...extra,
  });
  vaults.push(vault);
  const retries: Array<VaultEvents['request:retry']> = [];
  vault.on('request:retry', (e) => retries.push(e));
  return { vault, retries };
}

describe('transport against dev-server faults', () => {
  it('retries injected 503s and succeeds', async () => {
    const { vault, retries } = rootVault();
    await vault.ready();
    server.failNext({ path: 'sys/mounts', status: 503, error: 'injected outage', count: 2 });
    const res = await vault.requestRaw<Record<string, unknown>>('GET', 'sys/mounts');
    expect(res.status).toBe(200);
    expect(retries.map((r) => r.status)).toEqual([503, 503]);
    expect(server.requests({ path: 'sys/mounts' }).map((r) => r.status)).toEqual([503, 503, 200]);
  });

  it('honours Retry-After from a 429', async () => {
    const { vault, retries } = rootVault();
    await vault.ready();
    server.failNext({ path: 'sys/mounts', status: 429, error: 'rate limit quota exceeded', retryAfter: 1 });
    const started = Date.now();
    await vault.requestRaw('GET', 'sys/mounts');
    expect(retries[0]?.delayMs).toBe(1000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  });

  it('retries a dropped connection', async () => {
    const { vault, retries } = rootVault();
    await vault.ready();
    server.dropConnections({ path: 'sys/mounts', count: 1 });
    const res = await vault.requestRaw('GET', 'sys/mounts');
    expect(res.status).toBe(200);
    expect(retries[0]?.code).toBe('VAULT_UNAVAILABLE');
  });

  it('times out a slow request with VAULT_TIMEOUT, then succeeds on retry', async () => {
    const { vault, retries } = rootVault({ timeoutMs: 200 });
    await vault.ready();
    server.addLatency({ path: 'sys/mounts', ms: 1000, count: 1 });
    const res = await vault.requestRaw('GET', 'sys/mounts');
    expect(res.status).toBe(200);
    expect(retries[0]?.code).toBe('VAULT_TIMEOUT');
  });

  it('does not retry 400 or 501', async () => {
    const { vault } = rootVault();
    await vault.ready();
    server.failNext({ path: 'sys/mounts', status: 501, error: 'not implemented' });
    await expect(vault.requestRaw('GET', 'sys/mounts')).rejects.toMatchObject({
      code: 'VAULT_SERVER_ERROR',
      status: 501,
    });
    expect(server.requests({ path: 'sys/mounts', status: 501 })).toHaveLength(1);
    expect(server.requests({ path: 'sys/mounts', status: 200 })).toHaveLength(0);
  });

  it('the circuit opens after repeated outages, fails fast, and closes once Vault answers', async () => {
    const { vault } = rootVault({
      retry: false,
      circuitBreaker: { failureThreshold: 3, probeIntervalMs: 50, maxProbeIntervalMs: 100 },
    });
    await vault.ready();
    const opened: unknown[] = [];
    const closed: unknown[] = [];
    vault.on('circuit:open', (e) => opened.push(e));
    vault.on('circuit:close', (e) => closed.push(e));
    server.failNext({ path: 'secret/data/*', status: 503, error: 'node is not active', count: 3 });
    server.failNext({ path: 'sys/health', status: 503, error: 'down', count: 2 });
    for (let i = 0; i < 3; i++) {
      await expect(vault.request('GET', 'secret/data/x')).rejects.toMatchObject({
        code: 'VAULT_UNAVAILABLE',
      });
    }
    expect(opened).toHaveLength(1);
    const sent = server.requests({ path: 'secret/data/x' }).length;
    await expect(vault.request('GET', 'secret/data/x')).rejects.toMatchObject({ code: 'VAULT_UNAVAILABLE' });
    expect(server.requests({ path: 'secret/data/x' }).length).toBe(sent);
    const deadline = Date.now() + 3000;
    while (closed.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(closed).toHaveLength(1);
    expect(server.requests({ path: 'sys/health' }).length).toBeGreaterThanOrEqual(3);
    await expect(vault.request('GET', 'secret/data/x')).rejects.toMatchObject({ code: 'VAULT_NOT_FOUND' });
  });

  it('talks TLS to a dev server with a generated CA (VAULT_CACERT) and verifies the name', async () => {
    const tls = await startDevServer({ tls: true });
    try {
      const vault = createVault({
        env: { VAULT_ADDR: tls.url, VAULT_TOKEN: tls.rootToken, VAULT_CACERT: tls.caCertPath },
      });
      vaults.push(vault);
      await vault.ready();
      expect((await vault.requestRaw('GET', 'sys/mounts')).status).toBe(200);
      const untrusted = createVault({
        env: { VAULT_ADDR: tls.url, VAULT_TOKEN: tls.rootToken },
        retry: false,
      });
      vaults.push(untrusted);
      await expect(untrusted.requestRaw('GET', 'sys/mounts')).rejects.toMatchObject({
        code: 'VAULT_UNAVAILABLE',
      });
    } finally {
      await Promise.all(vaults.splice(0).map((v) => v.close()));
      await tls.close();
    }
  });
});
