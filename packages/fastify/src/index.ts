/**
 * @packageDocumentation
 * Fastify 5 plugin for Leasehold: `app.vault` (the `@leasehold/core` client), readiness awaited in `onReady`,
 * rotating database pools as `app.db.<name>`, everything closed (pools drained, leases and token revoked) in
 * `onClose`, and an optional health route.
 *
 * ```ts
 * import Fastify from 'fastify';
 * import { createRotatingPool } from '@leasehold/pg';
 * import { registerVault } from '@leasehold/fastify';
 * const app = await registerVault(Fastify(), {
 *   databases: { main: { driver: createRotatingPool, role: 'app-rw', host: 'db', database: 'app' } },
 * });
 * app.get('/users', async () => (await app.db.main.query('select * from users')).rows);
 * await app.listen({ port: 3000 }); // fails with a clear VaultError if Vault is not ready within readyTimeoutMs
 * ```
 */
import type { DatabaseClients, DatabasesOptions, Vault } from '@leasehold/core';
import {
  checkOption,
  checkOptionsObject,
  describeValue,
  isServing,
  optionError,
  VaultHost,
  type VaultHostOptions,
} from '@leasehold/core/host';
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';

declare module 'fastify' {
  interface FastifyInstance {
    /** The Vault client (`@leasehold/core`), logged in once the app is ready. */
    vault: Vault;
    /**
     * The rotating databases of `vaultPlugin({ databases })`, by name; ready once the app is ready. Typed from
     * the driver factories on the instance {@link registerVault} returns (or with {@link VaultFastifyInstance}).
     */
    db: Readonly<Record<string, unknown>>;
  }
}

/** A Fastify instance whose `db` is typed from `databases` (`db.main` is a `RotatingPool` for `createRotatingPool`). */
export type VaultFastifyInstance<D extends DatabasesOptions = DatabasesOptions> = FastifyInstance & {
  readonly db: DatabaseClients<D>;
};

/** Options of the optional health route. */
export interface VaultHealthRouteOptions {
  /** Route path (default `/health/vault`). */
  path?: string;
  /** Answer 503 when the client is `degraded` too (default false: only `down` is 503). */
  degradedIsDown?: boolean;
}

/**
 * Options of {@link vaultPlugin}: the core's `createVault()` options, or an existing client as `vault`, plus
 * `readyTimeoutMs` (startup bound), `databases` (named rotating pools), `closeClient` and `healthRoute`.
 */
export type VaultPluginOptions<D extends DatabasesOptions = DatabasesOptions> = VaultHostOptions<D> & {
  /** Register `GET <path>` answering `vault.health()` (200, or 503 when down). `true` = `/health/vault`. */
  healthRoute?: boolean | string | VaultHealthRouteOptions;
};

const PLUGIN = 'vaultPlugin';

/** The health route's options, normalised; `undefined` when there is no route. */
function healthRouteOptions(value: unknown): VaultHealthRouteOptions | undefined {
  if (value === undefined || value === false) return undefined;
  if (value === true) return {};
  if (typeof value === 'string') value = { path: value };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw optionError(
      PLUGIN,
      'healthRoute',
      `must be true, false, a path or { path, degradedIsDown }, got ${describeValue(value)}`,
      "Pass e.g. true or '/health/vault'.",
    );
  }
  const route = value as VaultHealthRouteOptions;
  if (route.path !== undefined && (typeof route.path !== 'string' || !route.path.startsWith('/'))) {
    throw optionError(
      PLUGIN,
      'healthRoute.path',
      `must be a path starting with "/", got ${describeValue(route.path)}`,
      "Pass e.g. '/health/vault'.",
    );
  }
  checkOption(PLUGIN, 'healthRoute.degradedIsDown', route.degradedIsDown, 'boolean');
  return route;
}

const plugin: FastifyPluginAsync<VaultPluginOptions> = async (app: FastifyInstance, options) => {
  checkOptionsObject(PLUGIN, options);
  const { healthRoute, ...hostOptions } = options;
  const route = healthRouteOptions(healthRoute);
  const host = new VaultHost(hostOptions as VaultHostOptions);
  app.decorate('vault', host.vault);
  app.decorate('db', host.db);
  app.addHook('onReady', async () => {
    await host.start();
  });
  app.addHook('onClose', async () => {
    await host.close();
  });
  if (route) {
    app.get(route.path ?? '/health/vault', async (_request, reply) => {
      const health = host.vault.health();
      const down = !isServing(health, route);
      return reply.code(down ? 503 : 200).send(health);
    });
  }
};

/**
 * The plugin: `await app.register(vaultPlugin, options)`. Decorates `app.vault` and `app.db`; `onReady` waits
 * until the client is logged in and every database has its first credentials (or rejects `app.ready()` /
 * `app.listen()` with a clear `VaultError` within `readyTimeoutMs`); `onClose` closes the pools, revokes their
 * leases and closes the client.
 */
export const vaultPlugin = fp(plugin, { name: '@leasehold/fastify', fastify: '5.x' });
export default vaultPlugin;

/**
 * `await app.register(vaultPlugin, options)`, returning the same instance typed with the databases: `db.main` is
 * what `databases.main.driver` returns (a `RotatingPool` for `createRotatingPool`), with no module augmentation,
 * and a driver that does not take `{ lease }` is a compile error.
 *
 * @example
 * ```ts
 * const app = await registerVault(Fastify(), {
 *   databases: { main: { driver: createRotatingPool, role: 'app-rw', host: 'db', database: 'app' } },
 * });
 * app.get('/users', async () => (await app.db.main.query('select * from users')).rows);
 * ```
 */
export async function registerVault<const D extends DatabasesOptions = Record<never, never>>(
  app: FastifyInstance,
  options: VaultPluginOptions<D>,
): Promise<VaultFastifyInstance<D>> {
  await app.register(vaultPlugin, options as VaultPluginOptions);
  return app as VaultFastifyInstance<D>;
}
