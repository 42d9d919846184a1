/** Compile-time contract of the host's `databases`: clients typed from their factory, unknown drivers rejected. */
import { describe, expectTypeOf, it } from 'vitest';
import { type DatabaseClients, VaultHost } from '../../src/host/index.js';
import { createSourceLease, type DatabaseCredentials, type Lease, Redacted } from '../../src/index.js';

class FakePool {
  query(_sql: string): Promise<{ rows: unknown[] }> {
    return Promise.resolve({ rows: [] });
  }
}
class FakeKnex {
  destroy(): Promise<void> {
    return Promise.resolve();
  }
}
type Source =
  | { vault: unknown; role: string; lease?: never }
  | { lease: Lease<DatabaseCredentials>; vault?: never; role?: never };
const createPool = (_options: Source & { host?: string; max?: number }): FakePool => new FakePool();
const createKnex = (_options: Source & { client: 'pg'; connection?: { host?: string } }): FakeKnex =>
  new FakeKnex();
const noLease = (_options: { host: string }): FakePool => new FakePool();

describe('VaultHost databases types', () => {
  it('types each client from its factory', () => {
    const host = () =>
      new VaultHost({
        address: 'http://127.0.0.1:8200',
        databases: {
          main: { driver: createPool, role: 'app', host: 'db', max: 5 },
          reports: { driver: createKnex, role: 'ro', client: 'pg', connection: { host: 'db' } },
        },
      });
    expectTypeOf<ReturnType<typeof host>['db']['main']>().toEqualTypeOf<FakePool>();
    expectTypeOf<ReturnType<typeof host>['db']['reports']>().toEqualTypeOf<FakeKnex>();
    expectTypeOf<
      DatabaseClients<{ main: { driver: typeof createPool; role: string } }>['main']
    >().toEqualTypeOf<FakePool>();
  });

  it('rejects a driver that is not a factory taking { lease }, and wrong driver options', () => {
    const make = () => [
      new VaultHost({
        // @ts-expect-error a driver name is no longer accepted: pass the factory
        databases: { main: { driver: 'pg', role: 'app' } },
      }),
      new VaultHost({
        // @ts-expect-error the factory does not accept { lease }
        databases: { main: { driver: noLease, role: 'app', host: 'db' } },
      }),
      new VaultHost({
        // @ts-expect-error `max` of createPool is a number
        databases: { main: { driver: createPool, role: 'app', max: 'ten' } },
      }),
      new VaultHost({
        // @ts-expect-error createKnex needs `client`
        databases: { main: { driver: createKnex, role: 'app' } },
      }),
    ];
    expectTypeOf(make).toBeFunction();
  });

  it('accepts a lease you built (a credential source) instead of a role, never both', () => {
    const lease = createSourceLease<DatabaseCredentials>({
      kind: 'test',
      name: 'db',
      binding: 'session',
      fetch: async () => ({ value: { username: 'u', password: Redacted.of('p') }, version: '1' }),
    });
    const host = () =>
      new VaultHost({
        address: 'http://127.0.0.1:8200',
        databases: {
          main: { driver: createPool, lease, host: 'db', max: 5 },
          reports: { driver: createKnex, role: 'ro', client: 'pg' },
        },
      });
    expectTypeOf<ReturnType<typeof host>['db']['main']>().toEqualTypeOf<FakePool>();
    expectTypeOf(lease).toExtend<Lease<DatabaseCredentials>>();
    const make = () => [
      new VaultHost({
        // @ts-expect-error either `lease` or `role`
        databases: { main: { driver: createPool, lease, role: 'app' } },
      }),
      new VaultHost({
        // @ts-expect-error `leaseOptions` belongs to a Vault role, not to a lease you built
        databases: { main: { driver: createPool, lease, leaseOptions: { drainTimeoutMs: 1 } } },
      }),
    ];
    expectTypeOf(make).toBeFunction();
  });
});
