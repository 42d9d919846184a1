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
  freePort,
  type StartTestPostgresOptions,
  startTestPostgres,
  type TestPostgres,
  TestPostgresError,
  type TestPostgresErrorCode,
} from './postgres.js';
export {
  assertClosedAndRevoked,
  findCause,
  type RevokeUnderLoadOptions,
  type RotatedCredentials,
  type RotateUnderLoadOptions,
  type RotateUnderLoadResult,
  type RotatingPoolLike,
  revokeUnderLoad,
  rotateUnderLoad,
} from './rotation.js';
export { type StsIdentity, type StsStandIn, type StsStandInOptions, startStsStandIn } from './sts.js';
export {
  canLogin,
  createDatabaseRole,
  type DatabaseRoleOptions,
  httpLoadUntil,
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
