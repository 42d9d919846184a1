/** `createDopplerLease()`: database credentials from a Doppler config as a lease handle, in one call. */
import { createSourceLease, type SourceLease, type SourceLeaseOptions } from '@leasehold/core';
import { type DopplerDatabaseCredentials, type DopplerDatabaseCredentialsOptions, dopplerDatabaseCredentials } from './database.js';
import { DEFAULT_POLL_INTERVAL_MS } from './options.js';

/** Options of {@link createDopplerLease}: the source's and the handle's. */
export interface DopplerLeaseOptions extends DopplerDatabaseCredentialsOptions, Omit<SourceLeaseOptions, 'clock'> {
  /** Poll Doppler this often (ms; default 60 000). One conditional request per poll. */
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
export function createDopplerLease(options: DopplerLeaseOptions = {}): SourceLease<DopplerDatabaseCredentials> {
  const { pollIntervalMs, refreshMarginMs, drainTimeoutMs, retry, random, logger, ...sourceOptions } = options;
  const source = dopplerDatabaseCredentials(sourceOptions);
  return createSourceLease(source, {
    pollIntervalMs: pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS,
    ...(refreshMarginMs !== undefined ? { refreshMarginMs } : {}),
    ...(drainTimeoutMs !== undefined ? { drainTimeoutMs } : {}),
    ...(retry !== undefined ? { retry } : {}),
    ...(options.clock !== undefined ? { clock: options.clock } : {}),
    ...(random !== undefined ? { random } : {}),
    ...(logger !== undefined ? { logger } : {}),
  });
}
