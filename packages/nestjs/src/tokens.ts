import type { DatabaseClients, DatabasesOptions } from '@leasehold/core';
import { Inject } from '@nestjs/common';

/** @internal Token of the module's `VaultHost`. */
export const VAULT_HOST: unique symbol = Symbol.for('leasehold.nestjs.vault-host');

/** The injection token of rotating database `name` (`databases: { [name]: … }`). */
export function getPoolToken(name = 'default'): string {
  return `leasehold:database:${name}`;
}

/**
 * The type `@InjectPool(name)` injects: what `databases[name].driver` returns, e.g.
 * `VaultDatabase<typeof databases, 'main'>` is a `RotatingPool` for `driver: createRotatingPool`.
 *
 * @example
 * ```ts
 * const databases = { main: { driver: createRotatingPool, role: 'app-rw', host: 'db' } } as const;
 * // VaultModule.forRoot({ databases })
 * constructor(@InjectPool('main') private readonly pool: VaultDatabase<typeof databases, 'main'>) {}
 * ```
 */
export type VaultDatabase<D extends DatabasesOptions, K extends keyof D> = DatabaseClients<D>[K];

/**
 * Injects rotating database `name`: what its driver factory returns (a `RotatingPool` for `createRotatingPool`,
 * a Knex instance for `createRotatingKnex`, a Prisma driver adapter for `createRotatingPrismaAdapter`); type the
 * parameter with {@link VaultDatabase}. Ready (first credentials issued) before anything that injects it is created.
 */
export function InjectPool(name = 'default'): PropertyDecorator & ParameterDecorator {
  return Inject(getPoolToken(name));
}
