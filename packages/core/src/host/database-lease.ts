/**
 * The one place a database credentials lease is resolved from options: the host (for each of its `databases`) and
 * `@leasehold/pg`'s rotating pool (and so Knex and Prisma, built on it) call {@link resolveDatabaseLease}.
 */
import type { DatabaseCredentialsOptions } from '../engines/database.js';
import type { DatabaseCredentials, Lease, LeaseOptions } from '../lease/types.js';
import { optionError } from '../option-checks.js';
import type { Vault } from '../vault.js';

/** Which credentials lease a database follows: the Vault role it is issued from. */
export interface DatabaseLeaseOptions {
  /** Database role: `<mount>/creds/<role>` (dynamic) or `<mount>/static-creds/<role>` (`credentials: 'static'`). */
  role: string;
  /** `dynamic` (default): a lease per client, rotated before its max TTL. `static`: a Vault-rotated static role. */
  credentials?: 'dynamic' | 'static';
  /** Mount of the database secrets engine (default `database`). */
  mount?: string;
  /** Lease lifecycle options (rotation margin, drain timeout, …) of the handle. */
  leaseOptions?: LeaseOptions;
}

/** Where a database client gets its credentials: a Vault client and a role, or a lease handle you already hold. */
export type DatabaseLeaseSource =
  | (DatabaseLeaseOptions & {
      /** The Vault client (`createVault()` from `@leasehold/core`). */
      vault: Vault;
      lease?: never;
    })
  | {
      /** A credentials lease you obtained yourself (`vault.database.credentials(role)`). */
      lease: Lease<DatabaseCredentials>;
      vault?: never;
      role?: never;
      credentials?: never;
      mount?: never;
      leaseOptions?: never;
    };

/** Where a problem is reported: `fn` is the function the application called, `prefix` the option path before. */
export interface DatabaseLeaseCaller {
  /** The function named in error messages (default `resolveDatabaseLease`). */
  fn?: string;
  /** Prefix of the option names in error messages, e.g. `databases.main.` (default none). */
  prefix?: string;
}

/**
 * Checks `role` and `credentials` of a database's lease options: a `VAULT_CONFIG` `VaultError` naming the option
 * and the fix. Called up front by the host (at construction) and by {@link resolveDatabaseLease}.
 */
export function checkDatabaseLeaseOptions(
  options: Partial<DatabaseLeaseOptions>,
  caller: DatabaseLeaseCaller = {},
): void {
  const fn = caller.fn ?? 'resolveDatabaseLease';
  const prefix = caller.prefix ?? '';
  if (typeof options.role !== 'string' || options.role.length === 0) {
    throw optionError(
      fn,
      `${prefix}role`,
      'must be a non-empty database role name (database/roles/<role>)',
      'Pass the Vault database role, e.g. `app-rw`.',
    );
  }
  const kind = options.credentials ?? 'dynamic';
  if (kind !== 'dynamic' && kind !== 'static') {
    throw optionError(
      fn,
      `${prefix}credentials`,
      'must be "dynamic" (default) or "static"',
      'Fix the value.',
    );
  }
  if (options.mount !== undefined && (typeof options.mount !== 'string' || options.mount.length === 0)) {
    throw optionError(
      fn,
      `${prefix}mount`,
      'must be a non-empty string',
      'Pass the mount of the database engine, e.g. "database".',
    );
  }
}

/**
 * The credentials lease of a database client: the `lease` given, or `vault.database.credentials(role)` (dynamic) /
 * `vault.database.staticCredentials(role)` (static) with `mount` and `leaseOptions`. Throws `VAULT_CONFIG` for a
 * missing client, a bad role, both sources at once, or something that is not a lease handle.
 *
 * @example
 * ```ts
 * import { resolveDatabaseLease } from '@leasehold/core/host';
 * const lease = resolveDatabaseLease({ vault, role: 'app-rw', leaseOptions: { rotationMargin: 0.2 } });
 * ```
 */
export function resolveDatabaseLease(
  source: DatabaseLeaseSource,
  caller: DatabaseLeaseCaller = {},
): Lease<DatabaseCredentials> {
  const fn = caller.fn ?? 'resolveDatabaseLease';
  const prefix = caller.prefix ?? '';
  const s = source as Partial<DatabaseLeaseOptions> & { vault?: Vault; lease?: Lease<DatabaseCredentials> };
  if (s.lease) {
    if (s.vault || s.role) {
      throw optionError(
        fn,
        `${prefix}lease`,
        'pass either `lease` or `vault` + `role`, not both',
        'Remove one of them.',
      );
    }
    if (typeof s.lease.on !== 'function' || typeof s.lease.peek !== 'function') {
      throw optionError(
        fn,
        `${prefix}lease`,
        'is not a lease handle',
        'Pass `vault.database.credentials(role)`.',
      );
    }
    return s.lease;
  }
  if (!s.vault || typeof (s.vault as { database?: unknown }).database !== 'object') {
    throw optionError(
      fn,
      `${prefix}vault`,
      'is required (a Vault client from createVault())',
      'Pass `vault` and `role`, or a `lease`.',
    );
  }
  checkDatabaseLeaseOptions(s, caller);
  const role = s.role as string;
  const opts: DatabaseCredentialsOptions = { ...s.leaseOptions };
  if (s.mount !== undefined) opts.mount = s.mount;
  return s.credentials === 'static'
    ? (s.vault.database.staticCredentials(role, opts) as unknown as Lease<DatabaseCredentials>)
    : s.vault.database.credentials(role, opts);
}
