/**
 * Vault down (sealed, or unreachable) while a lease nears its end, under steady load on the rotating pool: Vault
 * comes back 3 s before the lease ends, and the client must use that window — the circuit breaker's probes never
 * wait past a quarter of the time left, and the lease's own last attempts come in time — so that the pool moves to
 * new credentials before the old role is dropped, and no query fails.
 *
 * Scaled from the 30 s lease / 15 s outage of a production drill to a 12 s lease / 7 s outage (the client's
 * schedules are relative to the time left, so the shape is the same).
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import { auth, createVault, type Vault } from '@leasehold/core';
import { type DevServer, startDevServer } from '@leasehold/dev-server';
import { createRotatingPool, type RotatingPool } from '@leasehold/pg';
import {
  createDatabaseRole,
  createTestDatabase,
  mountDatabaseEngine,
  sleep,
  startLoad,
  type TestDatabase,
  waitFor,
} from '@leasehold/test-env';
import type {} from '@leasehold/test-env/global-setup';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';

/** A TCP relay in front of the dev server that can be taken down (connections refused and cut) and back up. */
class Relay {
  #server: Server | undefined;
  readonly #sockets = new Set<Socket>();
  port = 0;

  constructor(readonly targetPort: number) {}

  async up(): Promise<void> {
    const server = createServer((socket) => {
      const upstream = connect(this.targetPort, '127.0.0.1');
      this.#sockets.add(socket).add(upstream);
      const drop = (): void => {
        socket.destroy();
        upstream.destroy();
        this.#sockets.delete(socket);
        this.#sockets.delete(upstream);
      };
      socket.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
      socket.pipe(upstream).pipe(socket);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    this.port = typeof address === 'object' && address ? address.port : 0;
    this.#server = server;
  }

  /** Refuses new connections and cuts the open ones, as a network partition or a stopped Vault would. */
  async down(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    for (const socket of this.#sockets) socket.destroy();
    this.#sockets.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

const LEASE_S = 12;

let db: TestDatabase;
let server: DevServer;
const cleanup: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  db = await createTestDatabase(inject('pgSuperuserUrl'));
  await db.query('CREATE TABLE items (id serial PRIMARY KEY, n int NOT NULL)');
  server = await startDevServer();
  await mountDatabaseEngine(server, db);
  await createDatabaseRole(server, 'outage', { defaultTtl: `${LEASE_S}s`, maxTtl: `${LEASE_S}s` });
});

afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step().catch(() => undefined);
  if (server.sealed) server.unseal();
});

afterAll(async () => {
  await server?.close();
  await db?.drop();
});

interface Outcome {
  ok: number;
  failures: string[];
  generation: number;
  rotatedBeforeEndMs: number | undefined;
  /** Every `expired` event: the generation that ended before its replacement, and when, relative to the first's end. */
  expired: Array<{ generation: number; atMs: number }>;
}

/**
 * Runs 4 workers on a rotating pool of `vault`; when the first lease has 10 s left, `down()`; when it has 3 s left,
 * `up()`. Reports the load's failures and when the pool rotated relative to the old lease's end.
 */
async function drill(vault: Vault, down: () => Promise<void> | void, up: () => Promise<void> | void) {
  const pool: RotatingPool = createRotatingPool({
    vault,
    role: 'outage',
    host: db.host,
    port: db.port,
    database: db.name,
    max: 8,
  });
  cleanup.push(() => pool.end());
  pool.on('error', () => undefined);
  await pool.query('SELECT 1');
  const first = pool.lease.current();
  let rotatedBeforeEndMs: number | undefined;
  const expired: Outcome['expired'] = [];
  pool.lease.on('rotated', (e) => {
    if (e.previous.generation === first.generation) rotatedBeforeEndMs = first.expiresAt - Date.now();
  });
  pool.lease.on('expired', (e) => {
    expired.push({ generation: e.previous.generation, atMs: Date.now() - first.expiresAt });
  });
  const load = startLoad(4, async (i) => {
    await pool.query('INSERT INTO items (n) VALUES ($1)', [i]);
    await pool.query('SELECT count(*) FROM items');
  });
  await sleep(Math.max(0, first.expiresAt - 10_000 - Date.now()));
  await down();
  await sleep(Math.max(0, first.expiresAt - 3000 - Date.now()));
  await up();
  // Past the old lease's end (Vault drops its role then), plus time for the dropped role to hit a stale session.
  await sleep(Math.max(0, first.expiresAt + 2000 - Date.now()));
  await waitFor('the next generation', () => pool.lease.current().generation > first.generation, 10_000);
  const { ok, failures } = await load.stop();
  return {
    ok,
    failures: failures.map((f) => String(f.error)),
    generation: pool.lease.current().generation,
    rotatedBeforeEndMs,
    expired,
  } satisfies Outcome;
}

describe('Vault down while a lease nears its end, back 3 s before it ends: 0 failed queries', () => {
  it('sealed for 7 s', async () => {
    const vault = createVault({ address: server.url, auth: auth.token({ token: server.rootToken }) });
    cleanup.push(() => vault.close());
    const outcome = await drill(
      vault,
      () => server.seal(),
      () => server.unseal(),
    );
    expect(outcome.failures).toEqual([]);
    expect(outcome.ok).toBeGreaterThan(50);
    expect(outcome.expired, `rotated ${outcome.rotatedBeforeEndMs} ms before the first lease's end`).toEqual(
      [],
    );
    expect(outcome.generation).toBeGreaterThanOrEqual(2);
    // The re-issue happened in the 3 s window after Vault came back, before the old lease ended.
    expect(outcome.rotatedBeforeEndMs).toBeGreaterThan(0);
  }, 60_000);

  it('unreachable for 7 s (connections refused and cut)', async () => {
    const relay = new Relay(Number(new URL(server.url).port));
    await relay.up();
    cleanup.push(() => relay.down());
    const vault = createVault({
      address: `http://127.0.0.1:${relay.port}`,
      auth: auth.token({ token: server.rootToken }),
      // Open the circuit on the first refused attempts, so that recovery depends on its probes.
      circuitBreaker: { failureThreshold: 2 },
    });
    cleanup.push(() => vault.close());
    const opened: string[] = [];
    vault.on('circuit:open', (e) => opened.push(e.reason));
    const outcome = await drill(
      vault,
      () => relay.down(),
      () => relay.up(),
    );
    expect(opened).toContain('unavailable');
    expect(outcome.failures).toEqual([]);
    expect(outcome.ok).toBeGreaterThan(50);
    expect(outcome.expired, `rotated ${outcome.rotatedBeforeEndMs} ms before the first lease's end`).toEqual(
      [],
    );
    expect(outcome.generation).toBeGreaterThanOrEqual(2);
    expect(outcome.rotatedBeforeEndMs).toBeGreaterThan(0);
  }, 60_000);
});
