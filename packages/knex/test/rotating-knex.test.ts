import { auth, createVault, type DatabaseCredentials, type LeaseSnapshot, type Vault } from '@leasehold/core';
import { type DevServer, startDevServer } from '@leasehold/dev-server';
import { createRotatingKnex, type RotatingKnex } from '@leasehold/knex';
import {
  canLogin,
  createDatabaseRole,
  createTestDatabase,
  mountDatabaseEngine,
  sleep,
  startLoad,
  type TestDatabase,
  waitFor,
} from '@leasehold/test-env';
import type {} from '@leasehold/test-env/global-setup';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

let db: TestDatabase;
let server: DevServer;
let vault: Vault;
const instances: RotatingKnex[] = [];

function open(role: string): RotatingKnex {
  const knex = createRotatingKnex({
    vault,
    role,
    client: 'pg',
    connection: { host: db.host, port: db.port, database: db.name },
    pool: { max: 6 },
  });
  knex.rotatingPool.on('error', () => undefined);
  instances.push(knex);
  return knex;
}

async function work(knex: RotatingKnex, i: number): Promise<void> {
  if (i % 2 === 0) {
    await knex('items').count({ n: '*' });
    return;
  }
  await knex.transaction(async (trx) => {
    await trx('items').insert({ n: i });
    await trx.raw('SELECT pg_sleep(0.005)');
  });
}

beforeAll(async () => {
  db = await createTestDatabase(inject('pgSuperuserUrl'));
  await db.query('CREATE TABLE items (id serial PRIMARY KEY, n int NOT NULL)');
  server = await startDevServer();
  await mountDatabaseEngine(server, db);
  await createDatabaseRole(server, 'fast', { defaultTtl: '6s', maxTtl: '6s' });
  await createDatabaseRole(server, 'oob', { defaultTtl: '60s', maxTtl: '120s' });
  vault = createVault({ address: server.url, auth: auth.token({ token: server.rootToken }) });
});

afterAll(async () => {
  await Promise.all(instances.map((k) => k.destroy()));
  await vault?.close();
  await server?.close();
  await db?.drop();
});

describe('createRotatingKnex', () => {
  it('rejects unsupported clients and credentials in `connection`', () => {
    expect(() => createRotatingKnex({ vault, role: 'fast', client: 'mysql2' as never })).toThrow(
      /Invalid option "client"/,
    );
    expect(() =>
      createRotatingKnex({ vault, role: 'fast', client: 'pg', connection: { user: 'x' } as never }),
    ).toThrow(/without user\/password/);
  });

  it('evicts old-generation connections through 5 rotations under load: 0 failed queries', async () => {
    const knex = open('fast');
    const pool = knex.rotatingPool;
    const previous: Array<LeaseSnapshot<DatabaseCredentials>> = [];
    const revoked = new Set<number>();
    pool.lease.on('rotate', (e) => {
      previous.push(e.previous);
    });
    pool.lease.on('revoked', (e) => {
      if (e.reason === 'rotated') revoked.add(e.generation);
    });
    const load = startLoad(8, (i) => work(knex, i));
    await waitFor('5 rotations', () => pool.stats().rotations >= 5, 60_000);
    const { ok, failures } = await load.stop();

    expect(failures.map((f) => String(f.error))).toEqual([]);
    expect(ok).toBeGreaterThan(50);
    await waitFor('old leases revoked', () => previous.every((p) => revoked.has(p.generation)));
    for (const p of previous) {
      expect(await canLogin(db, p.value.username, p.value.password.reveal())).toBe(false);
    }
    await waitFor('connections on the newest generation', () => {
      const s = pool.stats();
      return Object.keys(s.connections).every((g) => Number(g) === s.generation) && s.draining.length === 0;
    });
    const current = pool.lease.current();
    await knex.destroy();
    expect(pool.ended).toBe(true);
    expect(await canLogin(db, current.value.username, current.value.password.reveal())).toBe(false);
  }, 90_000);

  it('recovers within a second when the lease is revoked out of band', async () => {
    const knex = open('oob');
    await knex.raw('SELECT 1');
    const first = knex.rotatingPool.lease.current();
    const load = startLoad(8, (i) => work(knex, i));
    await sleep(500);
    const revokedAt = Date.now();
    await server.revokeLease(first.leaseId);
    await sleep(2000);
    const { ok, failures } = await load.stop();
    expect(ok).toBeGreaterThan(20);
    expect(knex.rotatingPool.lease.current().generation).toBeGreaterThan(first.generation);
    for (const f of failures) {
      expect((f.error as { code?: string }).code).toBe('42501');
      expect(f.at - revokedAt).toBeLessThan(1000);
    }
    const [row] = await knex('items').count({ n: '*' });
    expect(Number(row?.n)).toBeGreaterThan(0);
  }, 30_000);
});
