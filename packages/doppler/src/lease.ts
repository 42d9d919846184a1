/** `createDopplerLease()`: database credentials from a Doppler config as a lease handle, in one call. */
import {
  createSourceLease,
  type DatabaseCredentials,
  type SourceLease,
  type SourceLeaseOptions,
} from '@leasehold/core';
import { type DopplerDatabaseCredentialsOptions, dopplerDatabaseCredentials } from './database.js';
import { DEFAULT_POLL_INTERVAL_MS } from './options.js';

/** Options of {@link createDopplerLease}: the source's ({@link DopplerDatabaseCredentialsOptions}) and the handle's. */
export interface DopplerLeaseOptions extends DopplerDatabaseCredentialsOptions, SourceLeaseOptions {
  /** Poll Doppler this often (ms; default 60 000; 0 = only on `reissue()`). One conditional request per poll. */
  pollIntervalMs?: number;
  /** Clock of the handle's polls and of the request timeouts (default: the system clock). */
  clock?: SourceLeaseOptions['clock'];
}

/**
 * `createSourceLease(dopplerDatabaseCredentials(options), options)`: a lease of the database credentials kept in a
 * Doppler config, for `createRotatingPool({ lease })` and everything built on it. `close()` stops polling.
 *
 * @example
 * ```ts
 * const lease = createDopplerLease(); // DOPPLER_TOKEN: a service token of the config
 * const pool = createRotatingPool({ lease, host: '127.0.0.1', database: 'app', max: 10 });
 * ```
 */
export function createDopplerLease(options: DopplerLeaseOptions = {}): SourceLease<DatabaseCredentials> {
  const { token, project, config, apiHost, timeoutMs, env, keys, ...leaseOptions } = options;
  const source = dopplerDatabaseCredentials({
    token,
    project,
    config,
    apiHost,
    timeoutMs,
    env,
    keys,
    clock: options.clock,
  });
  return createSourceLease(source, {
    ...leaseOptions,
    pollIntervalMs: leaseOptions.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS,
  });
}
