/**
 * @packageDocumentation
 * Prisma 7 over @prisma/adapter-pg, fed by a rotating pg pool that follows Vault database credentials.
 *
 * ```ts
 * import { PrismaClient } from './generated/client.js';
 * import { createRotatingPrismaAdapter } from '@leasehold/prisma';
 *
 * const adapter = createRotatingPrismaAdapter({ vault, role: 'app-rw', host, database, max: 10 });
 * const prisma = new PrismaClient({ adapter });
 * ```
 */
import { VaultError, VaultErrorCode } from '@leasehold/core';
import { checkOption, checkOptionsObject } from '@leasehold/core/host';
import {
  createRotatingPool,
  type RotatingPool,
  type RotatingPoolOptions,
  validateRotatingPoolOptions,
} from '@leasehold/pg';
import { PrismaPg } from '@prisma/adapter-pg';

/** Options of `@prisma/adapter-pg` (`schema`, `onPoolError`, …). */
export type PrismaPgOptions = NonNullable<ConstructorParameters<typeof PrismaPg>[1]>;

/** Options of {@link createRotatingPrismaAdapter}: the rotating pool's options plus the adapter's. */
export type RotatingPrismaAdapterOptions = RotatingPoolOptions & {
  /**
   * Options passed to `PrismaPg`. `disposeExternalPool` defaults to `true`: `prisma.$disconnect()` ends the pool
   * (and so revokes the lease, see `revokeOnEnd`).
   */
  adapter?: PrismaPgOptions;
};

/**
 * The `PrismaPg` adapter factory, with the rotating pool it uses as `rotatingPool` (`rotatingPool.stats()`,
 * `rotatingPool.lease`), the same name a rotating Knex instance uses.
 */
export type RotatingPrismaAdapter = PrismaPg & { readonly rotatingPool: RotatingPool };

const CREATE = 'createRotatingPrismaAdapter';

/**
 * Creates a `PrismaPg` driver adapter (Prisma 7) over a rotating `pg.Pool` from `@leasehold/pg`: Prisma's
 * connections use the Vault lease's current credentials and follow it through every rotation without failing a
 * query. Pass it as `new PrismaClient({ adapter })`.
 *
 * `@prisma/adapter-pg` accepts the pool only if it comes from the same `pg` copy: keep `pg` deduplicated.
 */
export function createRotatingPrismaAdapter(options: RotatingPrismaAdapterOptions): RotatingPrismaAdapter {
  checkOptionsObject(CREATE, options);
  const { adapter: adapterOptions, ...poolOptions } = options;
  checkOption(CREATE, 'adapter', adapterOptions, 'object', {
    fix: 'Pass the options of PrismaPg (schema, onPoolError, …), or leave it out.',
  });
  validateRotatingPoolOptions(poolOptions, CREATE);
  const pool = createRotatingPool(poolOptions as RotatingPoolOptions);
  const adapter = new PrismaPg(pool, { disposeExternalPool: true, ...adapterOptions });
  if ((adapter as unknown as { externalPool?: unknown }).externalPool !== pool) {
    pool.end().catch(() => undefined);
    throw new VaultError(
      VaultErrorCode.CONFIG,
      '@prisma/adapter-pg did not accept the rotating pool as a pg.Pool: it loads another copy of "pg". ' +
        'Make pg resolve to one copy (check `pnpm why pg` / `npm ls pg`; dedupe it or add an override).',
    );
  }
  Object.defineProperty(adapter, 'rotatingPool', { value: pool, enumerable: false });
  return adapter as RotatingPrismaAdapter;
}

export type { RotatingPool, RotatingPoolOptions } from '@leasehold/pg';
