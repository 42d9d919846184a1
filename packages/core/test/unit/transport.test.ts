import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  auth,
  createVault,
  type Vault,
  VaultError,
  VaultErrorCode,
  type VaultEvents,
} from '../../src/index.js';
import { envelope, HttpStub, makeTestPki, type TestPki } from '../helpers/http-stub.js';
import { ManualClock } from '../helpers/manual-clock.js';

const TOKEN = 'hvs.transport-test-token-value';

const lookupSelf = () => ({
  status: 200,
  body: envelope({ data: { accessor: 'acc-1', ttl: 0, renewable: false, policies: ['root'] } }),
});

let stubs: HttpStub[] = [];
let vaults: Vault[] = [];
afterEach(async () => {
  await Promise.all(vaults.map((v) => v.close()));
  await Promise.all(stubs.map((s) => s.close()));
  vaults = [];
  stubs = [];
});

async function setup(
  handler: HttpStub['handler'],
  options: Parameters<typeof createVault>[0] = {},
): Promise<{ stub: HttpStub; vault: Vault; events: Array<{ event: string; payload: unknown }> }> {
  const stub = new HttpStub();
  stub.handler = (req) => (req.url.startsWith('/v1/auth/token/lookup-self') ? lookupSelf() : handler(req));
  const address = await stub.listen();
  stubs.push(stub);
  const vault = createVault({
    env: {},
    address,
    auth: auth.token({ token: TOKEN }),
    retry: { initialDelayMs: 5, maxDelayMs: 20 },
    ...options,
  });
  vaults.push(vault);
  const events: Array<{ event: string; payload: unknown }> = [];
  for (const event of ['request:retry', 'circuit:open', 'circuit:close', 'circuit:probe'] as Array<
    keyof VaultEvents
  >) {
    vault.on(event, (payload) => events.push({ event, payload }));
  }
  return { stub, vault, events };
}

describe('HTTP transport', () => {
  it('sends Vault headers, namespace, token, JSON body; LIST becomes GET ?list=true', async () => {
    const { stub, vault } = await setup(() => ({ status: 200, body: envelope({ data: { keys: ['a'] } }) }), {
      namespace: 'team-a/',
    });
    const res = await vault.request<{ keys: string[] }>('LIST', 'secret/metadata/app');
    expect(res.body?.data?.keys).toEqual(['a']);
    await vault.request('POST', '/v1/secret/data/app', { body: { data: { a: 1 } }, query: { x: 'y' } });
    const list = stub.seen.find((r) => r.url.startsWith('/v1/secret/metadata'));
    expect(list?.method).toBe('GET');
    expect(list?.url).toBe('/v1/secret/metadata/app?list=true');
    expect(list?.headers['x-vault-request']).toBe('true');
    expect(list?.headers['x-vault-namespace']).toBe('team-a/');
    expect(list?.headers['x-vault-token']).toBe(TOKEN);
    const post = stub.seen.find((r) => r.method === 'POST');
    expect(post?.url).toBe('/v1/secret/data/app?x=y');
    expect(post?.headers['content-type']).toBe('application/json');
    expect(JSON.parse(post?.body ?? '')).toEqual({ data: { a: 1 } });
  });

  it('many requests in flight at once print no MaxListenersExceededWarning (each listens for close())', async () => {
    const { vault } = await setup(() => ({ status: 200, body: envelope({ data: { a: 1 } }) }));
    const warnings: Error[] = [];
    const onWarning = (warning: Error): void => {
      warnings.push(warning);
    };
    process.on('warning', onWarning);
    try {
      const answers = await Promise.all(
        Array.from({ length: 50 }, () => vault.request('GET', 'secret/data/app')),
      );
      expect(answers.every((res) => res.status === 200)).toBe(true);
      // Node emits process warnings on the next tick: let it.
      await new Promise<void>((resolve) => setImmediate(resolve));
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
  });

  it('accepts 204 without a body', async () => {
    const { vault } = await setup(() => ({ status: 204 }));
    const res = await vault.request('DELETE', 'secret/data/app');
    expect(res.status).toBe(204);
    expect(res.body).toBeUndefined();
  });

  it('retries 5xx and 412 with backoff and succeeds', async () => {
    let n = 0;
    const { stub, vault, events } = await setup(() => {
      n++;
      if (n === 1) return { status: 503, body: { errors: ['node is not active'] } };
      if (n === 2) return { status: 412, body: { errors: ['required index state not present'] } };
      return { status: 200, body: envelope({ data: { ok: true } }) };
    });
    const res = await vault.request('GET', 'secret/data/app');
    expect(res.body?.data).toEqual({ ok: true });
    expect(stub.seen.filter((r) => r.url === '/v1/secret/data/app')).toHaveLength(3);
    const retries = events
      .filter((e) => e.event === 'request:retry')
      .map((e) => e.payload as VaultEvents['request:retry']);
    expect(retries.map((r) => r.status)).toEqual([503, 412]);
    expect(retries[0]?.delayMs).toBeLessThanOrEqual(20);
  });

  it('honours Retry-After on 429', async () => {
    let n = 0;
    const { vault, events } = await setup(() => {
      n++;
      return n === 1
        ? { status: 429, body: { errors: ['rate limit quota exceeded'] }, headers: { 'retry-after': '1' } }
        : { status: 200, body: envelope() };
    });
    await vault.request('GET', 'secret/data/app');
    const retry = events.find((e) => e.event === 'request:retry')?.payload as VaultEvents['request:retry'];
    expect(retry.delayMs).toBe(1000);
    expect(retry.code).toBe(VaultErrorCode.RATE_LIMITED);
  });

  it('does not retry 400, 403, 404 or 501', async () => {
    for (const status of [400, 403, 404, 501]) {
      const { stub, vault } = await setup(() => ({
        status,
        body: { errors: status === 404 ? [] : ['nope'] },
      }));
      await expect(vault.request('GET', 'secret/data/app')).rejects.toBeInstanceOf(VaultError);
      expect(stub.seen.filter((r) => r.url === '/v1/secret/data/app')).toHaveLength(1);
    }
  });

  it('gives up after maxRetries and reports Vault errors, method and path, never the body', async () => {
    const { stub, vault } = await setup(() => ({ status: 502, body: { errors: ['upstream'] } }), {
      retry: { maxRetries: 3, initialDelayMs: 1, maxDelayMs: 2 },
      circuitBreaker: false,
    });
    const error = (await vault
      .request('POST', 'secret/data/app', { body: { password: 'p@ss-in-body' } })
      .catch((e: unknown) => e)) as VaultError;
    expect(error.code).toBe(VaultErrorCode.UNAVAILABLE);
    expect(error.status).toBe(502);
    expect(error.errors).toEqual(['upstream']);
    expect(error.method).toBe('POST');
    expect(error.path).toBe('secret/data/app');
    expect(JSON.stringify(error)).not.toContain('p@ss-in-body');
    expect(error.message).not.toContain('p@ss-in-body');
    expect(error.message).not.toContain(TOKEN);
    expect(stub.seen.filter((r) => r.url === '/v1/secret/data/app')).toHaveLength(4);
  });

  it('bounds retries by total time', async () => {
    const { stub, vault } = await setup(() => ({ status: 500, body: { errors: ['boom'] } }), {
      retry: { maxRetries: 1000, initialDelayMs: 50, maxDelayMs: 100, maxElapsedMs: 1500 },
      circuitBreaker: false,
    });
    await expect(vault.request('GET', 'secret/data/app')).rejects.toMatchObject({
      code: 'VAULT_SERVER_ERROR',
    });
    const attempts = stub.seen.filter((r) => r.url === '/v1/secret/data/app').length;
    expect(attempts).toBeGreaterThan(1);
    expect(attempts).toBeLessThan(60); // 1.5 s budget / ≥ 25 ms per wait: bounded by time, not by maxRetries
  });

  it('times out a request with VAULT_TIMEOUT', async () => {
    const { vault } = await setup(() => ({ status: 200, body: envelope(), delayMs: 500 }), {
      timeoutMs: 50,
      retry: false,
    });
    await expect(vault.request('GET', 'secret/data/slow')).rejects.toMatchObject({ code: 'VAULT_TIMEOUT' });
  });

  it('reports an unreachable address as VAULT_UNAVAILABLE after retries', async () => {
    const stub = new HttpStub();
    const address = await stub.listen();
    await stub.close();
    const vault = createVault({
      env: {},
      address,
      auth: auth.token({ token: TOKEN }),
      retry: { maxRetries: 1, initialDelayMs: 1, maxDelayMs: 2 },
    });
    vaults.push(vault);
    const error = (await vault.ready({ timeoutMs: 300 }).catch((e: unknown) => e)) as VaultError;
    expect(error.code).toBe(VaultErrorCode.TIMEOUT);
    expect((error.cause as VaultError).code).toBe(VaultErrorCode.UNAVAILABLE);
    expect(error.message).not.toContain(TOKEN);
  });

  it('aborts with the caller signal', async () => {
    const { vault } = await setup(() => ({ status: 200, body: envelope(), delayMs: 500 }));
    const controller = new AbortController();
    const p = vault.request('GET', 'secret/data/slow', { signal: controller.signal });
    setTimeout(() => controller.abort(), 20);
    await expect(p).rejects.toMatchObject({ code: 'VAULT_ABORTED' });
  });

  it('close() interrupts a retry wait with VAULT_CLOSED', async () => {
    // The retry wait runs on a manual clock that never moves: only close() can end it.
    const clock = new ManualClock();
    const { stub, vault } = await setup(() => ({ status: 502, body: { errors: ['upstream'] } }), {
      retry: { maxRetries: 5, initialDelayMs: 5000, maxDelayMs: 5000 },
      circuitBreaker: false,
      clock,
    });
    await vault.ready();
    const p = vault.request('GET', 'secret/data/app').catch((e: unknown) => e);
    await vi.waitFor(() => expect(stub.seen.filter((r) => r.url === '/v1/secret/data/app')).toHaveLength(1));
    await vault.close();
    expect(await p).toMatchObject({ code: 'VAULT_CLOSED' });
    expect(stub.seen.filter((r) => r.url === '/v1/secret/data/app')).toHaveLength(1);
    expect(clock.pendingCount).toBe(0);
  });

  it('talks to a unix socket (Vault Agent / Proxy listener)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'leasehold-sock-'));
    try {
      const stub = new HttpStub();
      stubs.push(stub);
      stub.handler = () => ({ status: 200, body: envelope({ data: { via: 'socket' } }) });
      const address = await stub.listen({ socketPath: join(dir, 'agent.sock') });
      const vault = createVault({ env: {}, address, auth: auth.agent() });
      vaults.push(vault);
      await vault.ready();
      const res = await vault.request('GET', 'secret/data/app');
      expect(res.body?.data).toEqual({ via: 'socket' });
      expect(stub.seen.every((r) => r.headers['x-vault-token'] === undefined)).toBe(true);
      expect(stub.seen.every((r) => r.headers['x-vault-request'] === 'true')).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** Polls a condition (for background probes) for up to 5 s. */
async function until(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!condition() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
}

describe('circuit breaker', () => {
  it('opens after repeated failures, fails fast, probes, and closes when Vault answers', async () => {
    let healthy = false;
    const { stub, vault, events } = await setup(
      (req) => {
        if (req.url.startsWith('/v1/sys/health')) {
          return healthy ? { status: 200, body: { sealed: false } } : { status: 503, body: { errors: [] } };
        }
        return healthy
          ? { status: 200, body: envelope() }
          : { status: 503, body: { errors: ['node is not active'] } };
      },
      { retry: false, circuitBreaker: { failureThreshold: 3, probeIntervalMs: 20, maxProbeIntervalMs: 40 } },
    );
    for (let i = 0; i < 3; i++) {
      await expect(vault.request('GET', 'secret/data/app')).rejects.toMatchObject({
        code: 'VAULT_UNAVAILABLE',
      });
    }
    expect(events.some((e) => e.event === 'circuit:open')).toBe(true);
    expect(vault.health().status).toBe('degraded');
    const sent = stub.seen.filter((r) => r.url === '/v1/secret/data/app').length;
    const fast = (await vault.request('GET', 'secret/data/app').catch((e: unknown) => e)) as VaultError;
    expect(fast.code).toBe(VaultErrorCode.UNAVAILABLE);
    expect(fast.message).toContain('circuit open');
    expect(stub.seen.filter((r) => r.url === '/v1/secret/data/app').length).toBe(sent);
    healthy = true;
    await until(() => events.some((e) => e.event === 'circuit:close'));
    expect(events.some((e) => e.event === 'circuit:close')).toBe(true);
    expect(stub.seen.some((r) => r.url.startsWith('/v1/sys/health'))).toBe(true);
    expect((await vault.request('GET', 'secret/data/app')).status).toBe(200);
    expect(vault.health().status).toBe('ready');
  });

  it('a sealed Vault fails fast with VAULT_SEALED (no retry) and work resumes after unseal', async () => {
    let sealed = false;
    const { stub, vault } = await setup(
      (req) => {
        if (req.url.startsWith('/v1/sys/health')) return { status: sealed ? 299 : 200, body: { sealed } };
        return sealed
          ? { status: 503, body: { errors: ['Vault is sealed'] } }
          : { status: 200, body: envelope() };
      },
      { circuitBreaker: { probeIntervalMs: 20, maxProbeIntervalMs: 40 } },
    );
    await vault.ready();
    sealed = true;
    await expect(vault.request('GET', 'secret/data/app')).rejects.toMatchObject({ code: 'VAULT_SEALED' });
    expect(stub.seen.filter((r) => r.url === '/v1/secret/data/app')).toHaveLength(1); // not retried
    await expect(vault.request('GET', 'secret/data/app')).rejects.toMatchObject({ code: 'VAULT_SEALED' });
    expect(stub.seen.filter((r) => r.url === '/v1/secret/data/app')).toHaveLength(1); // failed fast
    // The token is still valid: the client keeps serving on it (degraded), it is not down.
    expect(vault.health()).toMatchObject({
      status: 'degraded',
      reasons: ['Vault is sealed (circuit open)'],
      circuit: { open: true, reason: 'sealed' },
    });
    sealed = false;
    await until(() => !vault.health().circuit.open);
    expect((await vault.request('GET', 'secret/data/app')).status).toBe(200);
  });
});

describe('TLS', () => {
  let pki: TestPki;
  beforeAll(() => {
    pki = makeTestPki();
  });
  afterAll(() => pki.cleanup());

  async function tlsStub(requestCert = false): Promise<{ stub: HttpStub; address: string }> {
    const stub = new HttpStub();
    stubs.push(stub);
    stub.handler = (req) =>
      req.url.startsWith('/v1/auth/token/lookup-self')
        ? lookupSelf()
        : { status: 200, body: envelope({ data: { cn: req.clientCertSubject ?? null } }) };
    const address = await stub.listen({
      tls: { cert: pki.serverCert, key: pki.serverKey, ca: pki.ca, requestCert, rejectUnauthorized: false },
    });
    return { stub, address };
  }

  it('verifies the server with a custom CA file (VAULT_CACERT)', async () => {
    const { address } = await tlsStub();
    const vault = createVault({ env: { VAULT_ADDR: address, VAULT_TOKEN: TOKEN, VAULT_CACERT: pki.caFile } });
    vaults.push(vault);
    expect((await vault.request('GET', 'secret/data/app')).status).toBe(200);
  });

  it('verifies with a CA directory and a server name', async () => {
    const { address } = await tlsStub();
    const vault = createVault({
      env: {},
      address: address.replace('127.0.0.1', 'localhost'),
      auth: auth.token({ token: TOKEN }),
      tls: { caPath: pki.dir, serverName: 'vault.test' },
    });
    vaults.push(vault);
    expect((await vault.request('GET', 'secret/data/app')).status).toBe(200);
  });

  it('rejects an unknown CA without retrying, unless skipVerify', async () => {
    const { stub, address } = await tlsStub();
    const strict = createVault({ env: {}, address, auth: auth.token({ token: TOKEN }) });
    vaults.push(strict);
    const error = (await strict.request('GET', 'secret/data/app').catch((e: unknown) => e)) as VaultError;
    expect(error.code).toBe(VaultErrorCode.UNAVAILABLE);
    expect(stub.seen).toHaveLength(0);
    const lax = createVault({
      env: { VAULT_SKIP_VERIFY: 'true' },
      address,
      auth: auth.token({ token: TOKEN }),
    });
    vaults.push(lax);
    expect((await lax.request('GET', 'secret/data/app')).status).toBe(200);
  });

  it('presents a client certificate (mTLS)', async () => {
    const { address } = await tlsStub(true);
    const vault = createVault({
      env: { VAULT_CLIENT_CERT: pki.clientCertFile, VAULT_CLIENT_KEY: pki.clientKeyFile },
      address,
      auth: auth.token({ token: TOKEN }),
      tls: { ca: pki.ca },
    });
    vaults.push(vault);
    const res = await vault.request<{ cn: string }>('GET', 'secret/data/app');
    expect(res.body?.data?.cn).toBe('leasehold-client');
  });
});
