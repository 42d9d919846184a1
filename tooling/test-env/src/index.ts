export { createTestDatabase, type TestDatabase, withDatabase } from './database.js';
export { freePort, startTestPostgres, type TestPostgres } from './postgres.js';
export {
  canLogin,
  createDatabaseRole,
  type DatabaseRoleOptions,
  mountDatabaseEngine,
  roleExists,
  startLoad,
  type VaultServerRef,
  vaultRequest,
} from './vault-database.js';
