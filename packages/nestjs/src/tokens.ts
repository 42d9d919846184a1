import { Inject } from '@nestjs/common';

/** @internal Token of the module's `VaultHost`. */
export const VAULT_HOST: unique symbol = Symbol.for('leasehold.nestjs.vault-host');

/** The injection token of rotating database `name` (`databases: { [name]: … }`). */
export function getPoolToken(name = 'default'): string {
  return `leasehold:database:${name}`;
}

/**
 * Injects rotating database `name`: a `pg.Pool` (`driver: 'pg'`), a Knex instance (`knex`) or a Prisma driver
 * adapter (`prisma`). Ready (first credentials issued) before anything that injects it is created.
 */
export function InjectPool(name = 'default'): PropertyDecorator & ParameterDecorator {
  return Inject(getPoolToken(name));
}
