/**
 * What every ORM test in this folder shares: an isolated database with table `items`, the dev server with the
 * database engine mounted on it, and a Vault client. `roles` are created as dynamic roles (short TTLs make rotations).
 */
import { auth, createVault, type Vault } from '@leasehold/core';
import { type DevServer, startDevServer } from '@leasehold/dev-server';
import {
  createDatabaseRole,
  createTestDatabase,
  type DatabaseRoleOptions,
  mountDatabaseEngine,
  type TestDatabase,
} from '@leasehold/test-env';
import type {} from '@leasehold/test-env/global-setup';
import { inject } from 'vitest';

export interface OrmFixture {
  db: TestDatabase;
  server: DevServer;
  vault: Vault;
  /** host, port and database of the test database (no credentials). */
  where: { host: string; port: number; database: string };
  close(): Promise<void>;
}

/**
 * Rotates every ~3 s: the lease is re-issued half-way through its 6 s (the core's margin is at most half the TTL),
 * which leaves the old credentials 3 s to drain even on a loaded machine (with 4 s, a re-issue delayed by a busy
 * event loop could let Vault expire the current lease first).
 */
export const FAST: DatabaseRoleOptions = { defaultTtl: '6s', maxTtl: '6s' };
/** Long enough not to rotate during a test. */
export const SLOW: DatabaseRoleOptions = { defaultTtl: '60s', maxTtl: '120s' };

export async function startOrmFixture(roles: Record<string, DatabaseRoleOptions>): Promise<OrmFixture> {
  const db = await createTestDatabase(inject('pgSuperuserUrl'));
  await db.query('CREATE TABLE items (id serial PRIMARY KEY, n int NOT NULL)');
  await db.query('INSERT INTO items (n) VALUES (1), (2), (3)');
  const server = await startDevServer();
  await mountDatabaseEngine(server, db);
  for (const [name, role] of Object.entries(roles)) await createDatabaseRole(server, name, role);
  const vault = createVault({ address: server.url, auth: auth.token({ token: server.rootToken }) });
  return {
    db,
    server,
    vault,
    where: { host: db.host, port: db.port, database: db.name },
    async close() {
      await vault.close();
      await server.close();
      await db.drop();
    },
  };
}
