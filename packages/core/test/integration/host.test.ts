/** `VaultHost` (the lifecycle the framework adapters map): options, startup bound, driver factories, ownership. */
import { type DevServer, startDevServer } from '@leasehold/dev-server';
import { freePort } from '@leasehold/test-env';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeDatabaseClient, isServing, VaultHost } from '../../src/host/index.js';
import {
  auth,
  CredentialSourceError,
  createSourceLease,
  createVault,
  type DatabaseCredentials,
  Redacted,
  VaultError,
} from '../../src/index.js';

let server: DevServer;
/** A driver that records what the host passed it. */
function fakeDriver(calls: Array<Record<string, unknown>>) {
  return (options: { lease: unknown; host?: string }) => {
    calls.push(options);
    return { end: async () => void calls.push({ ended: true }) };
  };
}
const driver = fakeDriver([]);

beforeAll(async () => {
  server = await startDevServer({ port: 0 });
});
afterAll(async () => {
  await server?.close();
});

function options() {
  return { address: server.url, auth: auth.token({ token: server.rootToken }) };
}

describe('VaultHost', () => {
  it('rejects bad options with VAULT_CONFIG naming the option', () => {
    const bad: Array<[unknown, RegExp]> = [
      [{ readyTimeoutMs: 0 }, /"readyTimeoutMs" must be a positive integer \(got 0\)/],
      [{ readyTimeoutMs: '5s' }, /"readyTimeoutMs" must be a positive integer \(got "5s"\)/],
      [{ closeClient: 'no' }, /"closeClient" must be true or false \(got "no"\)/],
      [
        { databases: { main: { driver, role: 'r', credentials: 'statik' } } },
        /"databases\.main\.credentials"/,
      ],
      [{ databases: [] }, /"databases"/],
      [
        { databases: { main: { driver: 'pg', role: 'r' } } },
        /"databases\.main\.driver" of VaultHost: must be a database factory function, got a string\. Import .*createRotatingPool/,
      ],
      [{ databases: { main: { driver } } }, /"databases\.main\.role"/],
      [{ databases: { main: { driver, role: 'r', password: 'x' } } }, /credentials come from Vault/],
      [{ vault: {} }, /"vault"/],
      [{ adress: 'http://x' }, /adress/],
    ];
    for (const [opts, message] of bad) {
      let error: unknown;
      try {
        new VaultHost({ ...options(), ...(opts as object) } as never);
      } catch (e) {
        error = e;
      }
      expect(VaultError.is(error, 'VAULT_CONFIG'), String(message)).toBe(true);
      expect((error as Error).message).toMatch(message);
    }
  });

  it('starts (single flight), owns the client it created, and closes it', async () => {
    const host = new VaultHost(options());
    expect(host.closesClient).toBe(true);
    await Promise.all([host.start(), host.start()]);
    expect(host.vault.health().status).toBe('ready');
    await host.close();
    expect(host.vault.closed).toBe(true);
  });

  it('leaves a client it was given open unless closeClient', async () => {
    const vault = createVault(options());
    const host = new VaultHost(vault);
    expect(host.vault).toBe(vault);
    await host.start();
    await host.close();
    expect(vault.closed).toBe(false);
    const owning = new VaultHost({ vault, closeClient: true });
    await owning.close();
    expect(vault.closed).toBe(true);
  });

  it('a client it was given stays open after a failed start; a later start (or retryReady) succeeds', async () => {
    const port = await freePort(); // Vault is not there yet
    const vault = createVault({
      address: `http://127.0.0.1:${port}`,
      auth: auth.token({ token: 'late-root' }),
    });
    const host = new VaultHost({ vault, readyTimeoutMs: 500 });
    await expect(host.start()).rejects.toThrow(/was not ready/);
    expect(vault.closed).toBe(false);
    expect(host.isServing()).toBe(false);
    const late = await startDevServer({ port, rootToken: 'late-root' });
    try {
      await host.retryReady({ timeoutMs: 10_000 });
      expect(host.started).toBe(true);
      expect(host.isServing()).toBe(true);
      await host.close({ closeClient: true });
      expect(vault.closed).toBe(true);
    } finally {
      await late.close();
    }
  });

  it('fails within readyTimeoutMs with the address, the last error and the option to tune', async () => {
    const port = await freePort();
    const host = new VaultHost({
      address: `http://127.0.0.1:${port}`,
      auth: auth.token({ token: 't' }),
      readyTimeoutMs: 1000,
    });
    const error = await host.start().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(VaultError.is(error, 'VAULT_TIMEOUT')).toBe(true);
    expect((error as Error).message).toMatch(
      new RegExp(`Vault at http://127\\.0\\.0\\.1:${port} was not ready: .*"readyTimeoutMs" \\(1000 ms\\)`),
    );
    expect(host.vault.closed).toBe(true);
  });

  it('a database whose role gets no credentials fails start() naming it, before its factory runs', async () => {
    const calls: Array<Record<string, unknown>> = [];
    const host = new VaultHost({
      ...options(),
      databases: { main: { driver: fakeDriver(calls), role: 'app', credentials: 'static', host: 'db' } },
    });
    const error = await host.start().then(
      () => undefined,
      (e: unknown) => e,
    );
    // The dev server has no static role "app": the start fails naming the database, and no factory ran.
    expect(VaultError.is(error)).toBe(true);
    expect((error as Error).message).toMatch(/database "main" \(role "app"\) got no credentials/);
    expect(calls).toEqual([]);
    expect(host.isServing()).toBe(false);
  });

  it('isServing: degraded counts as up unless degradedIsDown', () => {
    expect(isServing({ status: 'ready' })).toBe(true);
    expect(isServing({ status: 'degraded' })).toBe(true);
    expect(isServing({ status: 'degraded' }, { degradedIsDown: true })).toBe(false);
    expect(isServing({ status: 'down' })).toBe(false);
  });

  it('a database may take a lease built on a credential source: passed to the driver, waited for, never closed by the host', async () => {
    let version = 'v1';
    const lease = createSourceLease<DatabaseCredentials>(
      {
        kind: 'test',
        name: 'db/app',
        binding: 'session',
        fetch: async () => ({ value: { username: 'app', password: Redacted.of('s3cr3t-host') }, version }),
      },
      { pollIntervalMs: 0 },
    );
    const calls: Array<Record<string, unknown>> = [];
    const host = new VaultHost({
      ...options(),
      databases: { main: { driver: fakeDriver(calls), lease, host: 'db' } },
    });
    await host.start();
    expect(calls[0]?.lease).toBe(lease);
    expect(calls[0]?.host).toBe('db');
    expect(host.isServing()).toBe(true);
    version = 'v2';
    expect((await lease.reissue()).generation).toBe(2);
    await host.close();
    expect(calls.at(-1)).toEqual({ ended: true });
    // The application owns the lease: still open after the host closed.
    expect(lease.state).toBe('issued');
    await lease.close();
    expect(
      () => new VaultHost({ ...options(), databases: { main: { driver, lease, role: 'r' } as never } }),
    ).toThrow(/"databases\.main\.lease" of VaultHost: comes with "role"/);
    expect(
      () => new VaultHost({ ...options(), databases: { main: { driver, lease: {} } as never } }),
    ).toThrow(/"databases\.main\.lease" of VaultHost: must be a lease handle/);
  });

  it('a source lease that fails for good fails start() with one VaultError naming the database and the source', async () => {
    const lease = createSourceLease<DatabaseCredentials>({
      kind: 'test',
      name: 'db/missing',
      binding: 'session',
      fetch: async () => {
        throw new CredentialSourceError('SOURCE_NOT_FOUND', 'the secret does not exist', {
          source: { kind: 'test', name: 'db/missing' },
        });
      },
    });
    const host = new VaultHost({ ...options(), databases: { main: { driver, lease } } });
    const error = await host.start().catch((e: unknown) => e);
    expect(VaultError.is(error, 'VAULT_NOT_FOUND')).toBe(true);
    expect((error as Error).message).toMatch(
      /database "main" \(source test "db\/missing"\) got no credentials: test "db\/missing": the secret does not exist/,
    );
    expect(CredentialSourceError.is((error as Error).cause, 'SOURCE_NOT_FOUND')).toBe(true);
    await lease.close();
  });

  it('database(name) explains unknown and not-yet-open names', () => {
    const host = new VaultHost({ ...options(), databases: { main: { driver, role: 'app' } } });
    expect(() => host.database('main')).toThrow(/not open yet/);
    expect(() => host.database('other' as never)).toThrow(
      /Unknown database "other": configured databases are "main"/,
    );
  });

  it('closeDatabaseClient ends pools, destroys Knex, ends an adapter’s pool', async () => {
    const calls: string[] = [];
    await closeDatabaseClient({ end: async () => void calls.push('end') });
    await closeDatabaseClient({ destroy: async () => void calls.push('destroy') });
    // A Knex instance is a function with methods.
    await closeDatabaseClient(
      Object.assign(() => undefined, { destroy: async () => void calls.push('knex') }),
    );
    await closeDatabaseClient({
      connect() {},
      rotatingPool: { end: async () => void calls.push('pool.end') },
    });
    await closeDatabaseClient({ dispose: async () => void calls.push('dispose') });
    await closeDatabaseClient(undefined);
    expect(calls).toEqual(['end', 'destroy', 'knex', 'pool.end', 'dispose']);
  });
});
