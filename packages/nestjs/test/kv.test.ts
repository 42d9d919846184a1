import 'reflect-metadata';
import { auth, createVault, type Vault, VaultError } from '@leasehold/core';
import { type DevServer, startDevServer } from '@leasehold/dev-server';
import { freePort, vaultRequest, waitFor } from '@leasehold/test-env';
import {
  ConfigurableModuleBuilder,
  Controller,
  Get,
  Inject,
  Injectable,
  Module,
  type Type,
} from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { NestFactory } from '@nestjs/core';
import { HealthCheck, HealthCheckService, TerminusModule } from '@nestjs/terminus';
import { firstValueFrom, take, toArray } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  InjectVault,
  kvChanges,
  VaultHealthIndicator,
  VaultModule,
  type VaultModuleOptions,
  type VaultOptionsFactory,
  VaultService,
  vaultConfig,
  vaultEvents,
} from '../src/index.js';
import { childToken, hammer, listen, putSecret } from './helpers.js';

let server: DevServer;
let token: string;

beforeAll(async () => {
  server = await startDevServer({ port: 0 });
  token = await childToken(server);
  await putSecret(server, 'app', { apiKey: 'k-123', greeting: 'hello' });
});
afterAll(async () => {
  await server?.close();
});

@Controller()
class SecretController {
  constructor(@InjectVault() private readonly vault: VaultService) {}

  @Get('secret')
  async secret(): Promise<{ greeting: unknown }> {
    const { data } = await this.vault.kv.get<{ greeting: string }>('app');
    return { greeting: data.reveal().greeting };
  }
}

async function boot(
  module: Type,
): Promise<{ app: Awaited<ReturnType<typeof NestFactory.create>>; url: string }> {
  const app = await NestFactory.create(module, { logger: false, abortOnError: false });
  return { app, url: await listen(app) };
}

function tokenAuth() {
  return auth.token({ token });
}

describe('VaultModule.forRoot', () => {
  it('logs in before the app starts and serves a KV secret under concurrent requests', async () => {
    const tokenMethod = tokenAuth();
    @Module({
      imports: [VaultModule.forRoot({ address: server.url, auth: tokenMethod, readyTimeoutMs: 5000 })],
      controllers: [SecretController],
    })
    class AppModule {}
    const { app, url } = await boot(AppModule);
    try {
      const vault = app.get(VaultService);
      expect(vault.health().status).toBe('ready');
      const statuses = await hammer(`${url}/secret`, 16);
      expect(statuses.every((s) => s === 200)).toBe(true);
      expect(await (await fetch(`${url}/secret`)).json()).toEqual({ greeting: 'hello' });
    } finally {
      await app.close();
    }
    expect(app.get(VaultService).closed).toBe(true);
  });

  it('fails to start with a clear VAULT_TIMEOUT when Vault is not reachable within readyTimeoutMs', async () => {
    const port = await freePort(); // nothing listens there
    @Module({
      imports: [
        VaultModule.forRoot({
          address: `http://127.0.0.1:${port}`,
          auth: tokenAuth(),
          readyTimeoutMs: 1500,
        }),
      ],
      controllers: [SecretController],
    })
    class DownModule {}
    const started = Date.now();
    const error = await NestFactory.create(DownModule, { logger: false, abortOnError: false }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(VaultError.is(error, 'VAULT_TIMEOUT')).toBe(true);
    expect(String((error as Error).message)).toMatch(
      /Vault at http:\/\/127\.0\.0\.1:\d+ was not ready.*readyTimeoutMs/s,
    );
    // Bounded by the configured time (generous slack for a loaded machine), not by a default of 30 s.
    expect(Date.now() - started).toBeLessThan(1500 + 5000);
  });

  it('fails to start when Vault is sealed', async () => {
    const sealed = await startDevServer({ port: 0 });
    sealed.seal();
    try {
      @Module({
        imports: [VaultModule.forRoot({ address: sealed.url, auth: tokenAuth(), readyTimeoutMs: 1500 })],
      })
      class SealedModule {}
      const error = await NestFactory.create(SealedModule, { logger: false, abortOnError: false }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(VaultError.is(error)).toBe(true);
      expect((error as VaultError).code).toMatch(/VAULT_TIMEOUT|VAULT_SEALED/);
      expect((error as Error).message).toMatch(/sealed/i);
    } finally {
      await sealed.close();
    }
  });
});

describe('shutdown', () => {
  it('app.close() revokes the AppRole login token (checked at the dev server)', async () => {
    await vaultRequest(server, 'POST', 'sys/auth/approle', { type: 'approle' });
    await vaultRequest(server, 'POST', 'auth/approle/role/web', {
      token_ttl: '1h',
      token_policies: ['default'],
    });
    const roleId = await vaultRequest<{ data: { role_id: string } }>(
      server,
      'GET',
      'auth/approle/role/web/role-id',
    );
    const secretId = await vaultRequest<{ data: { secret_id: string } }>(
      server,
      'POST',
      'auth/approle/role/web/secret-id',
    );
    @Module({
      imports: [
        VaultModule.forRoot({
          address: server.url,
          auth: auth.appRole({
            roleId: roleId?.data.role_id ?? '',
            secretId: secretId?.data.secret_id ?? '',
          }),
        }),
      ],
    })
    class AppModule {}
    const app = await NestFactory.createApplicationContext(AppModule, { logger: false, abortOnError: false });
    app.enableShutdownHooks();
    const accessor = app.get(VaultService).health().token?.accessor ?? '';
    expect(accessor).not.toBe('');
    const lookup = () => vaultRequest(server, 'POST', 'auth/token/lookup-accessor', { accessor });
    await expect(lookup()).resolves.toBeDefined();
    await app.close();
    await expect(lookup()).rejects.toThrow(/400|403|invalid accessor/);
  });
});

describe('VaultModule.forRootAsync', () => {
  @Injectable()
  class VaultConfigService implements VaultOptionsFactory {
    createVaultOptions(): VaultModuleOptions {
      return { address: server.url, auth: authHolder.method, readyTimeoutMs: 5000 };
    }
  }
  const authHolder: { method: Awaited<ReturnType<typeof tokenAuth>> } = { method: undefined as never };
  beforeAll(async () => {
    authHolder.method = tokenAuth();
  });

  @Module({ providers: [VaultConfigService], exports: [VaultConfigService] })
  class VaultConfigModule {}

  const styles: Array<[string, () => Parameters<typeof VaultModule.forRootAsync>[0]]> = [
    [
      'useFactory (inject ConfigService)',
      () => ({
        imports: [ConfigModule.forRoot({ ignoreEnvFile: true, load: [() => ({ VAULT_ADDR: server.url })] })],
        inject: [ConfigService],
        useFactory: (config: ConfigService) => ({
          address: config.getOrThrow<string>('VAULT_ADDR'),
          auth: authHolder.method,
          readyTimeoutMs: 5000,
        }),
      }),
    ],
    ['useClass', () => ({ useClass: VaultConfigService })],
    ['useExisting', () => ({ imports: [VaultConfigModule], useExisting: VaultConfigService })],
  ];

  for (const [name, options] of styles) {
    it(`${name}: the client is ready and serves the secret`, async () => {
      @Module({ imports: [VaultModule.forRootAsync(options())], controllers: [SecretController] })
      class AppModule {}
      const { app, url } = await boot(AppModule);
      try {
        expect(await hammer(`${url}/secret`, 8)).toEqual(Array(8).fill(200));
      } finally {
        await app.close();
      }
      expect(app.get(VaultService).closed).toBe(true);
    });
  }
});

describe('secrets ready before dependent modules', () => {
  it("another module's forRootAsync factory injects VaultService and awaits a secret", async () => {
    interface ClientOptions {
      apiKey: string;
    }
    const { ConfigurableModuleClass, MODULE_OPTIONS_TOKEN } = new ConfigurableModuleBuilder<ClientOptions>()
      .setClassMethodName('forRoot')
      .setExtras({ isGlobal: false }, (d) => d)
      .build();
    @Injectable()
    class ApiClient {
      constructor(@Inject(MODULE_OPTIONS_TOKEN) readonly options: ClientOptions) {}
    }
    @Module({ providers: [ApiClient], exports: [ApiClient] })
    class ApiClientModule extends ConfigurableModuleClass {}

    @Module({
      imports: [
        VaultModule.forRoot({ isGlobal: true, address: server.url, auth: tokenAuth() }),
        ApiClientModule.forRootAsync({
          inject: [VaultService],
          useFactory: async (vault: Vault) => {
            const { data } = await vault.kv.get<{ apiKey: string }>('app');
            return { apiKey: data.reveal().apiKey };
          },
        }),
      ],
    })
    class AppModule {}
    const app = await NestFactory.createApplicationContext(AppModule, { logger: false, abortOnError: false });
    try {
      expect(app.get(ApiClient).options.apiKey).toBe('k-123');
    } finally {
      await app.close();
    }
  });
});

describe('@nestjs/config loader, observables, terminus', () => {
  it('vaultConfig() puts KV values into ConfigService (own short-lived client and a shared one)', async () => {
    const shared = createVault({ address: server.url, auth: tokenAuth() });
    @Module({
      imports: [
        ConfigModule.forRoot({
          ignoreEnvFile: true,
          load: [
            vaultConfig('secret/data/app', { vault: { address: server.url, auth: tokenAuth() } }),
            vaultConfig('secret/data/app', { vault: shared, namespace: 'app' }),
          ],
        }),
      ],
    })
    class AppModule {}
    const app = await NestFactory.createApplicationContext(AppModule, { logger: false, abortOnError: false });
    try {
      const config = app.get(ConfigService);
      expect(config.get('apiKey')).toBe('k-123');
      expect(config.get('app.greeting')).toBe('hello');
      expect(shared.closed).toBe(false);
    } finally {
      await app.close();
      await shared.close();
    }
  });

  it('vaultConfig() rejects a path without a mount', () => {
    expect(() => vaultConfig('app')).toThrow(/must be "<mount>\/<path>"/);
  });

  it('every option and argument is validated with VAULT_CONFIG naming it and the fix', () => {
    const config = (fn: () => unknown, pattern: RegExp) =>
      expect(fn).toThrow(
        expect.objectContaining({ code: 'VAULT_CONFIG', message: expect.stringMatching(pattern) }),
      );
    config(
      () => vaultConfig('secret/data/app', { namespace: 5 as never }),
      /"namespace" of vaultConfig: .*got 5/,
    );
    config(() => vaultConfig('secret/data/app', { readyTimeoutMs: -1 }), /"readyTimeoutMs" of vaultConfig/);
    config(
      () => vaultConfig('secret/data/app', { vault: 'x' as never }),
      /"vault" of vaultConfig: must be an object/,
    );
    config(() => vaultConfig('secret/data/app', null as never), /^vaultConfig needs an options object/);
    config(
      () => VaultModule.forRoot({ address: server.url, isGlobal: 'yes' as never }),
      /"isGlobal" of VaultModule\.forRoot: must be true or false, got a string/,
    );
    config(
      () => (VaultModule.forRoot as (o?: unknown) => unknown)(),
      /^VaultModule\.forRoot needs an options object/,
    );
    config(
      () => VaultModule.forRootAsync({ useFactory: () => ({}), databaseNames: 'main' as never }),
      /"databaseNames" of VaultModule\.forRootAsync: must be an array/,
    );
    config(
      () => VaultModule.forRootAsync({ useFactory: () => ({}), databaseNames: [''] }),
      /"databaseNames\[0\]"/,
    );
    config(() => VaultModule.forRootAsync({}), /exactly one of "useFactory", "useClass" or "useExisting"/);
    config(() => vaultEvents(undefined as never, 'login'), /"vault" of vaultEvents: must be a Vault client/);
    config(() => kvChanges({} as never, 'app'), /"vault" of kvChanges/);
  });

  it('publishes KV changes and client events as Observables', async () => {
    @Module({ imports: [VaultModule.forRoot({ address: server.url, auth: tokenAuth() })] })
    class AppModule {}
    const app = await NestFactory.createApplicationContext(AppModule, { logger: false, abortOnError: false });
    try {
      const vault = app.get(VaultService);
      await putSecret(server, 'watched', { v: 1 });
      const changes = firstValueFrom(kvChanges(vault, 'watched', { intervalMs: 100 }).pipe(take(1)));
      const requests = firstValueFrom(vaultEvents(vault, 'request').pipe(take(2), toArray()));
      // The watcher's first read (version 1, its baseline) is answered before version 2 is written.
      const watched = () => server.requests({ path: 'secret/*/watched', status: 200 }).length;
      const before = watched();
      await waitFor("the watcher's first read", () => watched() > before, 10_000);
      await putSecret(server, 'watched', { v: 2 });
      const change = await changes;
      expect(change).toMatchObject({ path: 'watched', version: 2, previousVersion: 1 });
      expect((await requests).length).toBe(2);
      const { data } = await vault.kv.get<{ v: number }>('watched');
      expect(data.reveal().v).toBe(2);
    } finally {
      await app.close();
    }
  });

  it('VaultHealthIndicator reports up through HealthCheckService, down once the client is closed', async () => {
    @Controller()
    class HealthController {
      constructor(
        @Inject(HealthCheckService) private readonly health: HealthCheckService,
        @Inject(VaultHealthIndicator) private readonly vaultHealth: VaultHealthIndicator,
      ) {}
      @Get('health')
      @HealthCheck()
      check() {
        return this.health.check([() => this.vaultHealth.isHealthy('vault')]);
      }
    }
    @Module({
      imports: [TerminusModule, VaultModule.forRoot({ address: server.url, auth: tokenAuth() })],
      controllers: [HealthController],
    })
    class AppModule {}
    const { app, url } = await boot(AppModule);
    try {
      const res = await fetch(`${url}/health`);
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({
        status: 'ok',
        info: { vault: { status: 'up', vault: 'ready' } },
      });
      await app.get(VaultService).close();
      const down = await fetch(`${url}/health`);
      expect(down.status).toBe(503);
      expect(await down.json()).toMatchObject({ status: 'error', error: { vault: { status: 'down' } } });
    } finally {
      await app.close();
    }
  });
});
