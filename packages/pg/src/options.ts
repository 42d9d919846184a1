/**
 * Validation of the rotating pool's options, shared by `@leasehold/knex` and `@leasehold/prisma` (which pass their
 * own function name so the message names what the application called). Every mistake is a `VAULT_CONFIG`
 * `VaultError` naming the option and the fix; a value is never echoed (only its type, or a number).
 */
import {
  checkOption,
  checkOptionsObject,
  describeValue,
  MAX_TIMER_MS,
  optionError,
} from '@leasehold/core/host';

/** Checks the options of `createRotatingPool` (and of the packages built on it) before anything is created. */
export function validateRotatingPoolOptions(options: unknown, fn = 'createRotatingPool'): void {
  checkOptionsObject(fn, options);
  const o = options as Record<string, unknown>;
  for (const key of ['user', 'password'] as const) {
    if (o[key] !== undefined) {
      throw optionError(
        fn,
        key,
        'is not accepted: the credentials come from the Vault lease',
        `Remove "${key}"; pass \`vault\` + \`role\` (or \`lease\`).`,
      );
    }
  }
  if (o.connectionString !== undefined) {
    checkOption(fn, 'connectionString', o.connectionString, 'string');
    if (hasCredentials(o.connectionString as string)) {
      throw optionError(
        fn,
        'connectionString',
        'must not contain a user or password: the credentials come from the Vault lease',
        'Remove them from the URL (postgres://host:5432/db).',
      );
    }
  }
  checkOption(fn, 'revokeOnEnd', o.revokeOnEnd, 'boolean');
  checkOption(fn, 'detectDroppedRole', o.detectDroppedRole, 'boolean');
  checkOption(fn, 'allowExitOnIdle', o.allowExitOnIdle, 'boolean');
  checkOption(fn, 'connectionTimeoutMillis', o.connectionTimeoutMillis, 'ms', {
    fix: 'Pass how long a query may wait for a connection and for credentials (0 = no pg timeout; credential waits then end after 30 s).',
  });
  checkOption(fn, 'idleTimeoutMillis', o.idleTimeoutMillis, 'ms');
  checkOption(fn, 'rotationWindowMs', o.rotationWindowMs, 'ms', {
    fix: 'Pass how long a rotation may spread the replacement of old connections over, in ms (0 = at once; default 30000).',
  });
  checkOption(fn, 'max', o.max, 'positiveInteger');
  checkOption(fn, 'min', o.min, 'nonNegativeInteger');
  if (typeof o.min === 'number' && typeof o.max === 'number' && o.min > o.max) {
    throw optionError(
      fn,
      'min',
      `must not be above "max" (${o.max}), got ${o.min}`,
      'Lower "min" or raise "max".',
    );
  }
  if (o.maxUses !== undefined && o.maxUses !== Number.POSITIVE_INFINITY) {
    checkOption(fn, 'maxUses', o.maxUses, 'positiveInteger', {
      fix: 'Pass how many checkouts a connection serves before it is replaced (default Infinity).',
    });
  }
  if (
    o.maxLifetimeSeconds !== undefined &&
    !(
      Number.isInteger(o.maxLifetimeSeconds) &&
      (o.maxLifetimeSeconds as number) >= 0 &&
      (o.maxLifetimeSeconds as number) * 1000 <= MAX_TIMER_MS
    )
  ) {
    throw optionError(
      fn,
      'maxLifetimeSeconds',
      `must be an integer number of seconds from 0 to ${Math.floor(MAX_TIMER_MS / 1000)}, got ${describeValue(o.maxLifetimeSeconds)}`,
      'Fix the value, or leave it out (0 = no limit).',
    );
  }
  checkOption(fn, 'Client', o.Client, 'function', { fix: 'Pass a pg.Client class, or leave it out.' });
  checkOption(fn, 'leaseOptions', o.leaseOptions, 'object');
  checkOption(fn, 'mount', o.mount, 'string', {
    fix: 'Pass the mount of the database engine, e.g. "database".',
  });
}

function hasCredentials(connectionString: string): boolean {
  try {
    const url = new URL(connectionString);
    return url.username !== '' || url.password !== '' || url.searchParams.has('password');
  } catch {
    return false; // not a URL (e.g. a libpq key/value string): pg parses it, user/password checks above apply
  }
}
