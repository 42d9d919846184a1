/** `VaultHost` (the lifecycle the framework adapters map): options, startup bound, driver loading, ownership. */
import { type DevServer, startDevServer } from '@leasehold/dev-server';
import { freePort } from '@leasehold/test-env';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auth, closeDatabaseClient, createVault, VaultError, VaultHost } from '../../src/index.js';

let server: DevServer;
const noDrivers = (id: string) =>
  Promise.reject(Object.assign(new Error(`Cannot find package '${id}'`), { code: 'ERR_MODULE_NOT_FOUND' }));

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
        { databases: { main: { driver: 'pg', role: 'r', credentials: 'statik' } } },
        /"databases\.main\.credentials"/,
      ],
      [{ databases: [] }, /"databases"/],
      [{ databases: { main: { driver: 'mysql', role: 'r' } } }, /"databases\.main\.driver"/],
      [{ databases: { main: { driver: 'pg' } } }, /"databases\.main\.role"/],
      [{ databases: { main: { driver: 'pg', role: 'r', password: 'x' } } }, /credentials come from Vault/],
      [{ vault: {} }, /"vault"/],
      [{ adress: 'http://x' }, /adress/],
    ];
    for (const [opts, message] of bad) {
      let error: unknown;
      try {
        new VaultHost({ ...options(), ...(opts as object) } as never, noDrivers);
      } catch (e) {
        error = e;
      }
      expect(VaultError.is(error, 'VAULT_CONFIG'), String(message)).toBe(true);
      expect((error as Error).message).toMatch(message);
    }
  });

  it('starts (single flight), owns the client it created, and closes it', async () => {
    const host = new VaultHost(options(), noDrivers);
    expect(host.closesClient).toBe(true);
    await Promise.all([host.start(), host.start()]);
    expect(host.vault.health().status).toBe('ready');
    await host.close();
    expect(host.vault.closed).toBe(true);
  });

  it('leaves a client it was given open unless closeClient', async () => {
    const vault = createVault(options());
    const host = new VaultHost(vault, noDrivers);
    expect(host.vault).toBe(vault);
    await host.start();
    await host.close();
    expect(vault.closed).toBe(false);
    const owning = new VaultHost({ vault, closeClient: true }, noDrivers);
    await owning.close();
    expect(vault.closed).toBe(true);
  });

  it('fails within readyTimeoutMs with the address, the last error and the option to tune', async () => {
    const port = await freePort();
    const host = new VaultHost(
      { address: `http://127.0.0.1:${port}`, auth: auth.token({ token: 't' }), readyTimeoutMs: 1000 },
      noDrivers,
    );
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

  it('names the package to install when a driver is missing, and one without its factory', async () => {
    const missing = new VaultHost(
      { ...options(), databases: { main: { driver: 'knex', role: 'app' } } },
      noDrivers,
    );
    const error = await missing.start().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(VaultError.is(error, 'VAULT_CONFIG')).toBe(true);
    expect((error as Error).message).toBe(
      'Database "main" uses @leasehold/knex, which could not be loaded: install it (pnpm add @leasehold/knex knex pg).',
    );
    expect(missing.vault.closed).toBe(true);

    const old = new VaultHost(
      { ...options(), databases: { main: { driver: 'pg', role: 'app' } } },
      async () => ({}),
    );
    await expect(old.start()).rejects.toThrow(/@leasehold\/pg does not export createRotatingPool\(\)/);
  });

  it('database(name) explains unknown and not-yet-open names', () => {
    const host = new VaultHost(
      { ...options(), databases: { main: { driver: 'pg', role: 'app' } } },
      noDrivers,
    );
    expect(() => host.database('main')).toThrow(/not open yet/);
    expect(() => host.database('other')).toThrow(/Unknown database "other": configured databases are "main"/);
  });

  it('closeDatabaseClient ends pools, destroys Knex, ends an adapter’s pool', async () => {
    const calls: string[] = [];
    await closeDatabaseClient({ end: async () => void calls.push('end') });
    await closeDatabaseClient({ destroy: async () => void calls.push('destroy') });
    await closeDatabaseClient({ connect() {}, pool: { end: async () => void calls.push('pool.end') } });
    await closeDatabaseClient({ dispose: async () => void calls.push('dispose') });
    await closeDatabaseClient(undefined);
    expect(calls).toEqual(['end', 'destroy', 'pool.end', 'dispose']);
  });
});
