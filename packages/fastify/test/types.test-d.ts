/** Compile-time contract of the Fastify plugin: the `app.vault` / `app.db` decorations and the typed databases. */
import type { Vault } from '@leasehold/core';
import { createRotatingPool, type RotatingPool } from '@leasehold/pg';
import { createRotatingPrismaAdapter, type RotatingPrismaAdapter } from '@leasehold/prisma';
import Fastify, { type FastifyInstance } from 'fastify';
import { describe, expectTypeOf, it } from 'vitest';
import {
  registerVault,
  type VaultFastifyInstance,
  type VaultPluginOptions,
  vaultPlugin,
} from '../src/index.js';

describe('Fastify decorations', () => {
  it('every instance has app.vault (the core client) and an untyped app.db record', () => {
    const app = Fastify();
    expectTypeOf(app.vault).toEqualTypeOf<Vault>();
    expectTypeOf(app.db).toEqualTypeOf<Readonly<Record<string, unknown>>>();
  });

  it('registerVault returns the instance with db typed from each driver factory', async () => {
    const app = await registerVault(Fastify(), {
      databases: {
        main: { driver: createRotatingPool, role: 'app-rw', host: 'db', database: 'app' },
        reports: { driver: createRotatingPrismaAdapter, role: 'app-ro', host: 'db', database: 'app' },
      },
    });
    expectTypeOf(app).toMatchTypeOf<FastifyInstance>();
    expectTypeOf(app.db.main).toEqualTypeOf<RotatingPool>();
    expectTypeOf(app.db.reports).toEqualTypeOf<RotatingPrismaAdapter>();
    expectTypeOf(app.vault).toEqualTypeOf<Vault>();
  });

  it('VaultFastifyInstance types db for code that receives the app', () => {
    type Databases = { main: { driver: typeof createRotatingPool; role: string } };
    expectTypeOf<VaultFastifyInstance<Databases>['db']['main']>().toEqualTypeOf<RotatingPool>();
    expectTypeOf<VaultFastifyInstance<Databases>['vault']>().toEqualTypeOf<Vault>();
  });

  it('plugin options: the core options (or an existing client), databases and the health route', () => {
    expectTypeOf(vaultPlugin).toBeFunction();
    const own: VaultPluginOptions = { address: 'http://127.0.0.1:8200', healthRoute: '/health/vault' };
    const existing: VaultPluginOptions = { vault: Fastify().vault, closeClient: false, readyTimeoutMs: 5000 };
    expectTypeOf([own, existing]).items.toEqualTypeOf<VaultPluginOptions>();
    // @ts-expect-error healthRoute is a boolean, a path or { path, … }
    const wrong: VaultPluginOptions = { healthRoute: 1 };
    expectTypeOf(wrong).toEqualTypeOf<VaultPluginOptions>();
  });

  it('a driver name or a factory without { lease } does not compile', () => {
    const wrong = (app: FastifyInstance) => [
      // @ts-expect-error a driver name is not accepted: pass the factory
      registerVault(app, { databases: { main: { driver: 'pg', role: 'app' } } }),
      registerVault(app, {
        // @ts-expect-error the factory must accept { lease }
        databases: { main: { driver: (o: { host: string }) => o, role: 'app', host: 'db' } },
      }),
      // @ts-expect-error `max` of createRotatingPool is a number
      registerVault(app, { databases: { main: { driver: createRotatingPool, role: 'app', max: 'ten' } } }),
    ];
    expectTypeOf(wrong).toBeFunction();
  });
});
