import type { DatabasesOptions } from '@leasehold/core';
import {
  checkOption,
  checkOptionsObject,
  optionError,
  VaultHost,
  type VaultHostOptions,
} from '@leasehold/core/host';
import {
  type ConfigurableModuleAsyncOptions,
  ConfigurableModuleBuilder,
  type DynamicModule,
  Inject,
  Injectable,
  Module,
  type OnApplicationShutdown,
  type Provider,
} from '@nestjs/common';
import { VaultHealthIndicator } from './health.js';
import { getPoolToken, VAULT_HOST } from './tokens.js';
import { VaultService } from './vault.service.js';

/**
 * Options of `VaultModule.forRoot()` (and the value an async factory resolves to): the core's `createVault()`
 * options, or an existing client as `vault`, plus `readyTimeoutMs`, `databases` (each with its driver factory,
 * e.g. `{ main: { driver: createRotatingPool, role: 'app' } }`) and `closeClient`.
 */
export type VaultModuleOptions<D extends DatabasesOptions = DatabasesOptions> = VaultHostOptions<D>;

/** What a `useClass` / `useExisting` options factory implements. */
export interface VaultOptionsFactory {
  createVaultOptions(): VaultModuleOptions | Promise<VaultModuleOptions>;
}

/** Module-definition extras (not passed to the client). */
export interface VaultModuleExtras {
  /** Register the module globally (like `ConfigModule.forRoot({ isGlobal: true })`). Default false. */
  isGlobal?: boolean;
  /**
   * `forRootAsync` only: the names of the databases the factory configures, so `@InjectPool(name)` providers can
   * be declared before the factory runs (`forRoot` takes them from `databases`).
   */
  databaseNames?: string[];
}

const definition = new ConfigurableModuleBuilder<VaultModuleOptions>({ moduleName: 'Vault' })
  .setClassMethodName('forRoot')
  .setFactoryMethodName('createVaultOptions')
  .setExtras<VaultModuleExtras>({ isGlobal: false, databaseNames: [] }, (definition, extras) => ({
    ...definition,
    global: extras.isGlobal,
  }))
  .build();
const { MODULE_OPTIONS_TOKEN } = definition;
/**
 * @internal The base class Nest's `ConfigurableModuleBuilder` generates; {@link VaultModule} overrides both of its
 * static methods.
 */
const ConfigurableModuleClass = definition.ConfigurableModuleClass;

/** Injection token of the resolved {@link VaultModuleOptions}. */
export const VAULT_MODULE_OPTIONS: string | symbol = MODULE_OPTIONS_TOKEN;

/** Options of `VaultModule.forRoot()`. */
export type VaultModuleForRootOptions = VaultModuleOptions & Partial<VaultModuleExtras>;
/** Options of `VaultModule.forRootAsync()`: `imports`, `inject`, and one of `useFactory`/`useClass`/`useExisting`. */
export type VaultModuleAsyncOptions = ConfigurableModuleAsyncOptions<
  VaultModuleOptions,
  'createVaultOptions'
> &
  Partial<VaultModuleExtras>;

/** Closes pools, revokes leases and stops the client's timers on application shutdown. */
@Injectable()
export class VaultLifecycle implements OnApplicationShutdown {
  constructor(@Inject(VAULT_HOST) private readonly host: VaultHost) {}

  /** Called by Nest on `app.close()` (and on signals with `app.enableShutdownHooks()`). */
  async onApplicationShutdown(): Promise<void> {
    await this.host.close();
  }
}

function hostProviders(databaseNames: readonly string[]): Provider[] {
  return [
    {
      provide: VAULT_HOST,
      inject: [MODULE_OPTIONS_TOKEN],
      useFactory: async (options: VaultModuleOptions): Promise<VaultHost> => {
        const host = new VaultHost(options);
        for (const name of databaseNames) {
          if (!host.databaseNames.includes(name)) {
            await host.close();
            throw optionError(
              'VaultModule.forRootAsync',
              'databaseNames',
              `lists "${name}" but the options factory configured no "databases.${name}"`,
              `Add databases.${name} to the options the factory returns, or remove "${name}" from databaseNames.`,
            );
          }
        }
        await host.start();
        return host;
      },
    },
    { provide: VaultService, inject: [VAULT_HOST], useFactory: (host: VaultHost) => host.vault },
    ...databaseNames.map(
      (name): Provider => ({
        provide: getPoolToken(name),
        inject: [VAULT_HOST],
        useFactory: (host: VaultHost) => host.db[name],
      }),
    ),
    VaultLifecycle,
    VaultHealthIndicator,
  ];
}

/** Checks the module-definition extras (the client options themselves are checked by the core's `VaultHost`). */
function checkExtras(fn: string, options: unknown): void {
  checkOptionsObject(fn, options);
  const { isGlobal, databaseNames } = options as VaultModuleExtras;
  checkOption(fn, 'isGlobal', isGlobal, 'boolean');
  checkOption(fn, 'databaseNames', databaseNames, 'array', {
    fix: "Pass the database names, e.g. ['main'].",
  });
  for (const [i, name] of (databaseNames ?? []).entries()) {
    checkOption(fn, `databaseNames[${i}]`, name, 'string', {
      fix: "Pass the database names, e.g. ['main'].",
    });
  }
}

function withHost(module: DynamicModule, databaseNames: readonly string[]): DynamicModule {
  const providers = hostProviders(databaseNames);
  return {
    ...module,
    providers: [...(module.providers ?? []), ...providers],
    exports: [
      ...(module.exports ?? []),
      VaultService,
      VaultHealthIndicator,
      ...databaseNames.map((name) => getPoolToken(name)),
    ],
  };
}

/**
 * The Vault module. Startup waits until the client is logged in and every database has its first credentials
 * (or fails within `readyTimeoutMs` with a clear `VaultError`); shutdown closes the pools, revokes the leases and
 * the login token, and stops every timer.
 *
 * @example
 * ```ts
 * @Module({
 *   imports: [
 *     VaultModule.forRoot({
 *       isGlobal: true,
 *       auth: auth.appRole({ roleId, secretIdFile: '/run/secrets/secret-id' }),
 *       databases: { main: { driver: createRotatingPool, role: 'app-rw', host: 'db', database: 'app' } },
 *     }),
 *   ],
 * })
 * export class AppModule {}
 * ```
 */
@Module({})
export class VaultModule extends ConfigurableModuleClass {
  /**
   * Static options: core options (or `vault`), `databases`, `readyTimeoutMs`, `isGlobal`. Each database's options
   * are checked against its driver factory at compile time; inject a client with `@InjectPool(name)`, typed as
   * `DatabaseClients<typeof databases>[name]` (see {@link VaultDatabase}).
   */
  static override forRoot<const D extends DatabasesOptions = DatabasesOptions>(
    options: VaultModuleOptions<D> & VaultModuleExtras,
  ): DynamicModule {
    checkExtras('VaultModule.forRoot', options);
    return withHost(
      ConfigurableModuleClass.forRoot(options as VaultModuleForRootOptions),
      Object.keys(options.databases ?? {}),
    );
  }

  /** Options from `useFactory` (with `inject`/`imports`), `useClass` or `useExisting`. */
  static override forRootAsync(options: VaultModuleAsyncOptions): DynamicModule {
    checkExtras('VaultModule.forRootAsync', options);
    const { useFactory, useClass, useExisting } = options;
    if ([useFactory, useClass, useExisting].filter((v) => v !== undefined).length !== 1) {
      throw optionError(
        'VaultModule.forRootAsync',
        'useFactory',
        'exactly one of "useFactory", "useClass" or "useExisting" is required',
        'Pass one of them (with "inject" / "imports" as needed).',
      );
    }
    return withHost(ConfigurableModuleClass.forRootAsync(options), options.databaseNames ?? []);
  }
}
