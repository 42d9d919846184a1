/**
 * `@leasehold/doppler`: Doppler (https://www.doppler.com) as a Leasehold credential source. The sources implement
 * the core's `CredentialSource`; `createSourceLease()` turns one into the lease handle that `@leasehold/pg`,
 * Knex, Prisma and the framework adapters follow.
 */
export {
  type DopplerDatabaseCredentialsOptions,
  type DopplerDatabaseKeys,
  dopplerDatabaseCredentials,
} from './database.js';
export { createDopplerLease, type DopplerLeaseOptions } from './lease.js';
export {
  DEFAULT_POLL_INTERVAL_MS,
  DEFAULT_TIMEOUT_MS,
  DOPPLER_API_HOST,
  type DopplerOptions,
} from './options.js';
export { type DopplerSecrets, type DopplerSecretsOptions, dopplerSecrets } from './secrets.js';
export type { DopplerSource } from './source.js';
