/** One-call leases: a source and `createSourceLease()` together. */
import {
  createSourceLease,
  type DatabaseCredentials,
  type SourceLease,
  type SourceLeaseOptions,
} from '@leasehold/core';
import { type RdsIamCredentialsOptions, rdsIamCredentials } from './rds-iam.js';
import { type SecretsManagerCredentialsOptions, secretsManagerCredentials } from './secrets-manager.js';

/**
 * A lease on the database credentials of a Secrets Manager secret:
 * `createSourceLease(secretsManagerCredentials(options), leaseOptions)`. Hand it to `createRotatingPool({ lease })`, Knex, Prisma or a framework adapter's `databases`.
 *
 * @example
 * ```ts
 * const lease = secretsManagerLease({ secretId: 'prod/app/db' }, { pollIntervalMs: 30_000 });
 * const pool = createRotatingPool({ lease });
 * ```
 */
export function secretsManagerLease(
  options: SecretsManagerCredentialsOptions,
  leaseOptions: SourceLeaseOptions = {},
): SourceLease<DatabaseCredentials> {
  return createSourceLease(secretsManagerCredentials(options), leaseOptions);
}

/**
 * A lease on RDS IAM auth tokens: `createSourceLease(rdsIamCredentials(options), leaseOptions)`. The token is
 * refreshed before its 15 minutes run out; open connections are kept (`login` binding).
 *
 * @example
 * ```ts
 * const lease = rdsIamLease({ hostname: 'app.cluster-abc.eu-west-1.rds.amazonaws.com', port: 5432, username: 'app' });
 * const pool = createRotatingPool({ lease, host: 'app.cluster-abc.eu-west-1.rds.amazonaws.com', ssl: { ca } });
 * ```
 */
export function rdsIamLease(
  options: RdsIamCredentialsOptions,
  leaseOptions: SourceLeaseOptions = {},
): SourceLease<DatabaseCredentials> {
  return createSourceLease(rdsIamCredentials(options), leaseOptions);
}
