/** Compile-time contract of the NestJS module: options, injection helpers and the typed databases. */
import type { Vault } from '@leasehold/core';
import type { createRotatingKnex, RotatingKnex } from '@leasehold/knex';
import { createRotatingPool, type RotatingPool } from '@leasehold/pg';
import type { DynamicModule } from '@nestjs/common';
import { describe, expectTypeOf, it } from 'vitest';
import {
  getPoolToken,
  InjectPool,
  InjectVault,
  type VaultDatabase,
  VaultModule,
  type VaultModuleAsyncOptions,
  type VaultModuleForRootOptions,
  type VaultModuleOptions,
  type VaultOptionsFactory,
  type VaultService,
} from '../src/index.js';

type Databases = {
  main: { driver: typeof createRotatingPool; role: string };
  reports: { driver: typeof createRotatingKnex; role: string; client: 'pg' };
};

describe('VaultModule options', () => {
  it('forRoot takes the client options, databases and the module extras, and returns a dynamic module', () => {
    expectTypeOf(VaultModule.forRoot).parameter(0).toEqualTypeOf<VaultModuleForRootOptions>();
    expectTypeOf(VaultModule.forRoot).returns.toEqualTypeOf<DynamicModule>();
    const options: VaultModuleForRootOptions = {
      address: 'http://127.0.0.1:8200',
      isGlobal: true,
      databases: { main: { driver: createRotatingPool, role: 'app', host: 'db' } },
    };
    expectTypeOf(options.isGlobal).toEqualTypeOf<boolean | undefined>();
    // @ts-expect-error isGlobal is a boolean
    const bad: VaultModuleForRootOptions = { isGlobal: 'yes' };
    expectTypeOf(bad).toEqualTypeOf<VaultModuleForRootOptions>();
  });

  it('forRootAsync takes a factory (with inject and databaseNames) or an options class', () => {
    expectTypeOf(VaultModule.forRootAsync).parameter(0).toEqualTypeOf<VaultModuleAsyncOptions>();
    const byFactory: VaultModuleAsyncOptions = {
      inject: ['CONFIG'],
      databaseNames: ['main'],
      useFactory: async (_config: unknown): Promise<VaultModuleOptions> => ({ address: 'http://vault:8200' }),
    };
    expectTypeOf(byFactory.databaseNames).toEqualTypeOf<string[] | undefined>();
    class Options implements VaultOptionsFactory {
      createVaultOptions(): VaultModuleOptions {
        return { address: 'http://vault:8200' };
      }
    }
    const byClass: VaultModuleAsyncOptions = { useClass: Options };
    expectTypeOf(byClass).toEqualTypeOf<VaultModuleAsyncOptions>();
  });
});

describe('injection helpers', () => {
  it('VaultService is the core client; @InjectVault() and @InjectPool() decorate properties and parameters', () => {
    expectTypeOf<VaultService>().toMatchTypeOf<Vault>();
    expectTypeOf(InjectVault()).toEqualTypeOf<PropertyDecorator & ParameterDecorator>();
    expectTypeOf(InjectPool('main')).toEqualTypeOf<PropertyDecorator & ParameterDecorator>();
    expectTypeOf(InjectPool).parameters.toEqualTypeOf<[name?: string]>();
    expectTypeOf(getPoolToken).returns.toEqualTypeOf<string>();
  });

  it('VaultDatabase types an injected database from its driver factory', () => {
    expectTypeOf<VaultDatabase<Databases, 'main'>>().toEqualTypeOf<RotatingPool>();
    expectTypeOf<VaultDatabase<Databases, 'reports'>>().toEqualTypeOf<RotatingKnex>();
    // @ts-expect-error only the configured names
    expectTypeOf<VaultDatabase<Databases, 'other'>>().toBeUnknown();
  });
});
