export { createTestDatabase, type TestDatabase, withDatabase } from './database.js';
/** A local stand-in for Doppler's REST API (secrets download with ETag, errors, failure injection). */
export {
  type DopplerStandIn,
  type DopplerStandInFailure,
  type DopplerStandInOptions,
  type DopplerStandInRequest,
  startDopplerStandIn,
} from './doppler.js';
export {
  DEFAULT_TEMPLATE_DIR,
  freePort,
  type StartTestPostgresOptions,
  startTestPostgres,
  TEST_SCRAM_ITERATIONS,
  type TestPostgres,
  TestPostgresError,
  type TestPostgresErrorCode,
} from './postgres.js';
export {
  createRdsIamCheck,
  type RdsIamCheck,
  type RdsIamCheckOptions,
  RdsTokenRefused,
  type VerifiedRdsToken,
} from './rds-iam.js';
export {
  assertClosedAndRevoked,
  findCause,
  onNewestGeneration,
  poolUnitOfWork,
  type QueryPoolLike,
  type RevokeUnderLoadOptions,
  type RotatedCredentials,
  type RotateUnderLoadOptions,
  type RotateUnderLoadResult,
  type RotatingPoolLike,
  revokeUnderLoad,
  rotateUnderLoad,
} from './rotation.js';
export {
  type InjectedFault,
  type SecretsManagerCall,
  type SecretsManagerIdentity,
  type SecretsManagerStandIn,
  type SecretsManagerStandInOptions,
  startSecretsManagerStandIn,
} from './secrets-manager.js';
export {
  MAX_SKEW_MS,
  parseAmzDate,
  type ReceivedRequest,
  type SigV4Failure,
  type SigV4Identity,
  type SigV4Result,
  verifyPresignedUrl,
  verifySignedRequest,
} from './sigv4.js';
export { type StsIdentity, type StsStandIn, type StsStandInOptions, startStsStandIn } from './sts.js';
export {
  canLogin,
  createDatabaseRole,
  type DatabaseRoleOptions,
  httpLoadUntil,
  LOAD_PAUSE_MS,
  type LoadOptions,
  leaseExists,
  leasesStillKnown,
  mountDatabaseEngine,
  roleExists,
  setupAppFixture,
  startLoad,
  type VaultServerRef,
  vaultRequest,
} from './vault-database.js';
export { sleep, waitFor } from './wait.js';
