/**
 * `@leasehold/core/host`: the API for authors of framework adapters and database drivers. Applications use the
 * main entry (`@leasehold/core`) and an adapter (`@leasehold/nestjs`, `@leasehold/fastify`, `@leasehold/express`).
 *
 * - {@link VaultHost}: the lifecycle an adapter maps onto its framework (start, typed `db`, close).
 * - {@link resolveDatabaseLease}: the one place a database credentials lease is resolved from options.
 * - {@link isServing}: the one rule for "is the app serving" (`degraded` is up unless `degradedIsDown`).
 * - Option checks that raise `VAULT_CONFIG` errors naming the option and the fix.
 * - `sleep()` / `within()` on a `Clock` (long delays chained, timers unref'ed), for drivers' own waits.
 *
 * ```ts
 * import { VaultHost } from '@leasehold/core/host';
 * const host = new VaultHost({ databases: { main: { driver: createRotatingPool, role: 'app', host: 'db' } } });
 * await host.start();
 * await host.db.main.query('select 1');
 * await host.close();
 * ```
 */

/** Waits on a `Clock` (any delay, unref'ed): `sleep(clock, ms, signal?)`, `within(clock, promise, ms, onTimeout)`. */
export { sleep, within } from '../clock.js';
export {
  checkOption,
  checkOptionsObject,
  describeValue,
  isVault,
  MAX_TIMER_MS,
  type OptionKind,
  optionError,
} from '../option-checks.js';
export { databaseCredentialsProblem } from '../source/database.js';
export { isServing, type ServingOptions } from '../vault.js';
export {
  checkDatabaseLeaseOptions,
  type DatabaseLeaseCaller,
  type DatabaseLeaseOptions,
  type DatabaseLeaseSource,
  resolveDatabaseLease,
} from './database-lease.js';
export {
  type CheckedDatabases,
  closeDatabaseClient,
  type DatabaseClients,
  type DatabaseFactory,
  type DatabasesOptions,
  DEFAULT_READY_TIMEOUT_MS,
  type DriverMustAcceptLease,
  type HostedDatabaseOptions,
  type HostedLeaseSource,
  VaultHost,
  type VaultHostCommonOptions,
  type VaultHostOptions,
} from './host.js';
