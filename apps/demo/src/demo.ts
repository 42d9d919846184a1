/**
 * The demo: everything `pnpm demo` runs, in one process.
 *
 * 1. PostgreSQL — embedded (the test environment's `startTestPostgres()`), or the server of `databaseUrl`; a fresh
 *    database with the notes schema.
 * 2. The dev server, configured as an operator would (`@leasehold/notes-common`): policy, AppRole, database engine
 *    with a role of short TTLs (8 s default, 24 s max → a rotation about every 15 s), transit key, KV settings.
 * 3. The Fastify notes example (`@leasehold/fastify-notes`) logged in with the AppRole credentials, on
 *    `host:port` (default 127.0.0.1:3000); the demo adds its dashboard to the same server: `/` (page),
 *    `/api/status` (JSON), `/api/events` (server-sent events), `POST /api/drills/*`.
 * 4. A load driver: a steady stream of requests against the notes API, counted per second.
 *
 * `close()` stops the load, closes the app (pool drained, leases and token revoked), then the dev server and
 * PostgreSQL.
 */
import { readFileSync } from 'node:fs';
import { auth, createVault, type Vault } from '@leasehold/core';
import { type DevServer, startDevServer } from '@leasehold/dev-server';
import type {} from '@leasehold/fastify'; // app.vault on the dashboard's FastifyInstance
import { buildNotesApp } from '@leasehold/fastify-notes';
import { createNotesSchema, setupNotesVault } from '@leasehold/notes-common';
import {
  createTestDatabase,
  startTestPostgres,
  type TestDatabase,
  type TestPostgres,
} from '@leasehold/test-env';
import type { FastifyInstance } from 'fastify';
import { Collector, type DemoStatus } from './collector.js';
import { type LoadDriver, startLoad } from './load.js';

/** Options of {@link startDemo}. */
export interface DemoOptions {
  /** Port of the notes API and dashboard (default 3000; 0 = a free port). */
  port?: number;
  /** Interface (default 127.0.0.1). */
  host?: string;
  /** A PostgreSQL superuser URL; default: an embedded PostgreSQL. A fresh database is created on it and dropped. */
  databaseUrl?: string;
  /** Target requests per second of the load driver (default 40). */
  rps?: number;
  /** How long the seal drill keeps Vault sealed, ms (default 10 000). */
  sealMs?: number;
  /** Progress messages (default: none). */
  log?: (message: string) => void;
}

/** A running demo. */
export interface Demo {
  /** The dashboard, e.g. `http://127.0.0.1:3000/`. */
  url: string;
  /** The current status (what `GET /api/status` answers). */
  status(): DemoStatus;
  /** Stops everything (idempotent): load, app (leases and token revoked), dev server, PostgreSQL. */
  close(): Promise<DemoStatus>;
}

const DASHBOARD = new URL('../public/index.html', import.meta.url);

/** Starts the demo. On a failure, what was started is stopped again. */
export async function startDemo(options: DemoOptions = {}): Promise<Demo> {
  const log = options.log ?? (() => undefined);
  const cleanup: Array<() => Promise<unknown>> = [];
  const stopAll = async (): Promise<void> => {
    for (const step of cleanup.splice(0).reverse()) await step().catch(() => undefined);
  };
  try {
    log(options.databaseUrl ? 'Using the PostgreSQL of DATABASE_URL' : 'Starting an embedded PostgreSQL…');
    const postgres: TestPostgres = await startTestPostgres({
      url: options.databaseUrl ?? '',
      urlSetting: 'DATABASE_URL',
      connectWaitMs: 10_000,
    });
    cleanup.push(() => postgres.stop());
    const database: TestDatabase = await createTestDatabase(postgres.url);
    cleanup.push(() => database.drop());
    await createNotesSchema(database.url);

    log('Starting the Vault dev server and configuring it (policy, AppRole, database role, transit, KV)…');
    const vaultServer: DevServer = await startDevServer({ port: 0 });
    cleanup.push(() => vaultServer.close());
    const setup = await setupNotesVault({
      address: vaultServer.url,
      operatorToken: vaultServer.rootToken,
      databaseUrl: database.url,
      ttls: { databaseDefault: '8s', databaseMax: '24s', token: '60s', tokenMax: '10m' },
    });

    const vault: Vault = createVault({
      address: vaultServer.url,
      auth: auth.appRole({ roleId: setup.roleId, secretId: setup.secretId }),
      retry: { maxRetries: 2, initialDelayMs: 200, maxDelayMs: 1000 },
      circuitBreaker: { probeIntervalMs: 500, maxProbeIntervalMs: 1000 },
    });
    cleanup.push(() => vault.close());
    const collector = new Collector(vault, vaultServer);
    cleanup.push(async () => collector.stop());

    log('Starting the Fastify notes example with the AppRole credentials…');
    const app = await buildNotesApp({
      vault,
      database: { ...setup.database, max: 8 },
      leaseOptions: {
        rotationMarginMs: 8000,
        drainTimeoutMs: 5000,
        lookupIntervalMs: 1000,
        retry: { initialMs: 250, maxMs: 2000 },
      },
    });
    cleanup.push(() => app.close());
    collector.attachPool(() => app.db.notes.stats());
    registerDashboard(app, collector, vaultServer, options.sealMs ?? 10_000);
    await app.listen({ port: options.port ?? 3000, host: options.host ?? '127.0.0.1' });
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : (options.port ?? 3000);
    const host = options.host ?? '127.0.0.1';
    const base = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;

    const load: LoadDriver = startLoad(base, { rps: options.rps ?? 40, concurrency: 6 });
    collector.attachLoad(load);
    // The load stops first on close (reverse order).
    cleanup.push(() => load.stop());

    let closing: Promise<DemoStatus> | undefined;
    return {
      url: `${base}/`,
      status: () => collector.status(),
      close() {
        closing ??= (async () => {
          await load.stop();
          const final = collector.status();
          await stopAll();
          return { ...final, leasesRevokedOnClose: collector.revokedOnClose() };
        })();
        return closing;
      },
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

function registerDashboard(
  app: FastifyInstance,
  collector: Collector,
  vaultServer: DevServer,
  sealMs: number,
): void {
  const page = readFileSync(DASHBOARD, 'utf8');
  const streams = new Set<import('node:http').ServerResponse>();
  let unsealTimer: NodeJS.Timeout | undefined;

  app.get('/', async (_request, reply) => reply.type('text/html; charset=utf-8').send(page));
  app.get('/api/status', async () => collector.status());
  app.get('/api/events', (request, reply) => {
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'Content-Type': 'text/event-stream',
      'Cache-Control': 'no-store',
      Connection: 'keep-alive',
    });
    const send = (): void => {
      res.write(`data: ${JSON.stringify(collector.status())}\n\n`);
    };
    send();
    const timer = setInterval(send, 500);
    timer.unref();
    streams.add(res);
    request.raw.on('close', () => {
      clearInterval(timer);
      streams.delete(res);
    });
  });

  app.post('/api/drills/revoke-lease', async (_request, reply) => {
    const lease = collector.databaseLease();
    if (!lease?.leaseId) return reply.code(409).send({ error: 'no database lease to revoke yet' });
    collector.mark('drill', 'Drill: database lease revoked out of band');
    await vaultServer.revokeLease(lease.leaseId);
    return { revoked: lease.leaseId };
  });

  app.post('/api/drills/seal', async (_request, reply) => {
    if (vaultServer.sealed) return reply.code(409).send({ error: 'Vault is already sealed' });
    vaultServer.seal();
    collector.mark('seal', `Drill: Vault sealed for ${Math.round(sealMs / 1000)} s`);
    unsealTimer = setTimeout(() => {
      unsealTimer = undefined;
      vaultServer.unseal();
      collector.mark('unseal', 'Vault unsealed');
    }, sealMs);
    unsealTimer.unref();
    return { sealedForMs: sealMs };
  });

  app.post('/api/drills/revoke-token', async (_request, reply) => {
    const token = app.vault.health().token;
    if (!token) return reply.code(409).send({ error: 'not logged in yet' });
    collector.mark('drill', 'Drill: Vault token revoked out of band (with its leases)');
    await vaultServer.revokeToken(token.accessor);
    return { revoked: token.accessor };
  });

  app.addHook('preClose', async () => {
    if (unsealTimer) {
      clearTimeout(unsealTimer);
      unsealTimer = undefined;
      if (vaultServer.sealed) vaultServer.unseal(); // so the leases can be revoked
    }
    for (const res of streams) res.end();
    streams.clear();
  });
}
