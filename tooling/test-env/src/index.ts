export { createTestDatabase, type TestDatabase, withDatabase } from './database.js';
export { freePort, startTestPostgres, type TestPostgres } from './postgres.js';
