/**
 * @packageDocumentation
 * Database credentials from AWS for Leasehold's rotating pools and framework adapters: rotated secrets in AWS
 * Secrets Manager ({@link secretsManagerCredentials}) and RDS IAM auth tokens ({@link rdsIamCredentials}), each a
 * `CredentialSource` that `createSourceLease()` from `@leasehold/core` turns into a lease.
 *
 * ```ts
 * import { secretsManagerLease } from '@leasehold/aws';
 * import { createRotatingPool } from '@leasehold/pg';
 *
 * const pool = createRotatingPool({ lease: secretsManagerLease({ secretId: 'prod/app/db' }) });
 * ```
 */
export { rdsIamLease, secretsManagerLease } from './leases.js';
export {
  RDS_IAM_KIND,
  RDS_TOKEN_LIFETIME_MS,
  type RdsIamCredentialsOptions,
  rdsIamCredentials,
} from './rds-iam.js';
export {
  parseRdsSecret,
  SECRETS_MANAGER_KIND,
  type SecretsManagerCredentialsOptions,
  secretsManagerCredentials,
} from './secrets-manager.js';
export type { AwsCredentialsOption } from './shared.js';
