/**
 * Rotating pool benchmark (issue 6). On one PostgreSQL, alternately:
 * - a plain `pg.Pool` with static credentials (the ceiling), and
 * - `createRotatingPool()` on a Vault role with `default_ttl` 4 s / `max_ttl` 8 s (a rotation every few seconds),
 * both at the same concurrency, each for the same total time. Prints queries/s and their ratio, p50/p99 latency,
 * failed queries, rotations and extra connects per rotation. Not a test: it prints figures.
 *
 *   pnpm --filter @leasehold/bench bench:pools -- --duration 30 --concurrency 32 --rounds 6
 *
 * Options (or env BENCH_DURATION_S, BENCH_CONCURRENCY, BENCH_ROUNDS, BENCH_POOL_MAX): `--duration` seconds per pool
 * (default 30, split over `--rounds` alternations, default 6), `--concurrency` workers (default 32), `--max` pool
 * size (default 20); BENCH_CHURN_ONLY=1 keeps the short role rotating on a bare lease while the pool follows a
 * 1 h role (PostgreSQL role churn without reconnects); BENCH_ROLE_TTL / BENCH_ROLE_MAX_TTL change the role (e.g. `1h` to measure without rotations).
 * `LEASEHOLD_TEST_PG_URL` uses an existing PostgreSQL instead of starting one.
 */
import { auth, createVault } from '@leasehold/core';
import { startDevServer } from '@leasehold/dev-server';
import { createRotatingPool, type RotatingPool } from '@leasehold/pg';
import {
  createDatabaseRole,
  createTestDatabase,
  mountDatabaseEngine,
  startTestPostgres,
} from '@leasehold/test-env';
import pg from 'pg';

interface Phase {
  queries: number;
  failed: number;
  ms: number;
  latencies: number[];
}

function option(name: string, env: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const raw = i >= 0 ? process.argv[i + 1] : process.env[env];
  const value = raw === undefined ? fallback : Number(raw);
  if (!Number.isFinite(value) || value <= 0)
    throw new Error(`--${name} must be a positive number (got ${raw})`);
  return value;
}

async function run(pool: pg.Pool, concurrency: number, ms: number, rows: number): Promise<Phase> {
  const latencies: number[] = [];
  let failed = 0;
  const start = performance.now();
  const end = start + ms;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      let id = w;
      while (performance.now() < end) {
        id = (id * 7 + 1) % rows;
        const t = performance.now();
        try {
          await pool.query('SELECT id, n FROM items WHERE id = $1', [id + 1]);
          latencies.push(performance.now() - t);
        } catch {
          failed++;
        }
      }
    }),
  );
  return { queries: latencies.length, failed, ms: performance.now() - start, latencies };
}

function merge(phases: Phase[]): Phase {
  return {
    queries: phases.reduce((a, p) => a + p.queries, 0),
    failed: phases.reduce((a, p) => a + p.failed, 0),
    ms: phases.reduce((a, p) => a + p.ms, 0),
    latencies: phases.flatMap((p) => p.latencies),
  };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

function summary(phase: Phase): { qps: number; p50: number; p99: number } {
  const sorted = [...phase.latencies].sort((a, b) => a - b);
  return { qps: (phase.queries / phase.ms) * 1000, p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
}

async function main(): Promise<void> {
  const durationS = option('duration', 'BENCH_DURATION_S', 30);
  const concurrency = option('concurrency', 'BENCH_CONCURRENCY', 32);
  const rounds = Math.round(option('rounds', 'BENCH_ROUNDS', 6));
  const max = Math.round(option('max', 'BENCH_POOL_MAX', 20));
  const phaseMs = (durationS * 1000) / rounds;
  const rows = 1000;

  const postgres = await startTestPostgres();
  const db = await createTestDatabase(postgres.url);
  const server = await startDevServer();
  const vault = createVault({ address: server.url, auth: auth.token({ token: server.rootToken }) });
  let plain: pg.Pool | undefined;
  let rotating: RotatingPool | undefined;
  try {
    await db.query('CREATE TABLE items (id int PRIMARY KEY, n int NOT NULL)');
    await db.query('INSERT INTO items SELECT g, g * 2 FROM generate_series(1, $1) g', [rows]);
    await db.query(`CREATE ROLE bench_static LOGIN PASSWORD 'bench-static-password'`);
    await db.query('GRANT SELECT ON items TO bench_static');
    await mountDatabaseEngine(server, db);
    await createDatabaseRole(server, 'bench', {
      defaultTtl: process.env.BENCH_ROLE_TTL ?? '4s',
      maxTtl: process.env.BENCH_ROLE_MAX_TTL ?? '8s',
      grants: ['GRANT SELECT ON items TO "{{name}}";'],
    });

    // BENCH_CHURN_ONLY=1: the rotating pool follows a 1 h role while a bare lease on the short role keeps
    // rotating (CREATE ROLE / GRANT / DROP ROLE churn in PostgreSQL, no reconnects): separates the two costs.
    const churnOnly = process.env.BENCH_CHURN_ONLY === '1';
    let poolRole = 'bench';
    if (churnOnly) {
      await createDatabaseRole(server, 'bench-long', {
        defaultTtl: '1h',
        maxTtl: '2h',
        grants: ['GRANT SELECT ON items TO "{{name}}";'],
      });
      poolRole = 'bench-long';
      let churned = 0;
      const churn = vault.database.credentials('bench');
      churn.on('rotate', () => {
        churned++;
      });
      process.on('beforeExit', () => console.log(`churn-only: ${churned} rotations of the bare lease`));
    }
    const common = { host: db.host, port: db.port, database: db.name, max, idleTimeoutMillis: 0 };
    plain = new pg.Pool({ ...common, user: 'bench_static', password: 'bench-static-password' });
    rotating = createRotatingPool({ vault, role: poolRole, ...common });
    plain.on('error', () => undefined);
    rotating.on('error', () => undefined);
    if (process.env.BENCH_TRACE === '1') {
      // Lease schedule trace: when renewals and rotations happen, relative to the start.
      const t0 = Date.now();
      const at = (): string => `${((Date.now() - t0) / 1000).toFixed(2)}s`;
      rotating.lease.on('renew', (e) =>
        console.log(`  [${at()}] renew ttl ${e.ttlMs} ms capped ${e.capped}`),
      );
      rotating.lease.on('expiring', (e) =>
        console.log(`  [${at()}] expiring (${e.reason}) ${e.remainingMs} ms left`),
      );
      rotating.lease.on('rotate', (e) =>
        console.log(`  [${at()}] rotate -> gen ${e.current.generation} (${e.reason})`),
      );
      rotating.on('drained', (e) => console.log(`  [${at()}] drained gen ${e.generation}`));
    }

    console.log(
      `rotating-pool benchmark: ${durationS} s per pool in ${rounds} alternating rounds, concurrency ${concurrency}, ` +
        `pool max ${max}, role default_ttl ${process.env.BENCH_ROLE_TTL ?? '4s'} / max_ttl ${process.env.BENCH_ROLE_MAX_TTL ?? '8s'}`,
    );
    // Warm both pools up (fill them) outside the measurement.
    await run(plain, concurrency, 1000, rows);
    await run(rotating, concurrency, 1000, rows);
    const fill = rotating.stats();
    const plainPhases: Phase[] = [];
    const rotatingPhases: Phase[] = [];
    for (let r = 0; r < rounds; r++) {
      // Alternate which pool goes first, so neither always runs on a warmer (or busier) machine.
      if (r % 2 === 0) {
        plainPhases.push(await run(plain, concurrency, phaseMs, rows));
        rotatingPhases.push(await run(rotating, concurrency, phaseMs, rows));
      } else {
        rotatingPhases.push(await run(rotating, concurrency, phaseMs, rows));
        plainPhases.push(await run(plain, concurrency, phaseMs, rows));
      }
      console.log(`  round ${r + 1}/${rounds} done (rotations so far: ${rotating.stats().rotations})`);
    }
    const stats = rotating.stats();
    const p = summary(merge(plainPhases));
    const q = summary(merge(rotatingPhases));
    const rotations = stats.rotations - fill.rotations;
    const extraConnects = stats.connects - fill.connects;
    const perRotation = rotations > 0 ? extraConnects / rotations : 0;
    const fmt = (n: number, d = 2) => n.toFixed(d);
    console.log('');
    console.log('                     plain pg.Pool   rotating pool');
    console.log(`queries/s            ${fmt(p.qps, 0).padStart(13)}   ${fmt(q.qps, 0).padStart(13)}`);
    console.log(`p50 latency (ms)     ${fmt(p.p50).padStart(13)}   ${fmt(q.p50).padStart(13)}`);
    console.log(`p99 latency (ms)     ${fmt(p.p99).padStart(13)}   ${fmt(q.p99).padStart(13)}`);
    console.log(
      `failed queries       ${String(merge(plainPhases).failed).padStart(13)}   ${String(merge(rotatingPhases).failed).padStart(13)}`,
    );
    console.log('');
    console.log(`throughput ratio (rotating / plain):   ${fmt(q.qps / p.qps, 3)}   (target >= 0.97)`);
    console.log(`p99 ratio (rotating / plain):          ${fmt(q.p99 / p.p99, 2)}    (target <= 1.5)`);
    console.log(`rotations during the run:              ${rotations}`);
    console.log(
      `extra connects per rotation:           ${fmt(perRotation)} for ${max} pooled connections ` +
        `(${fmt(perRotation / max)} per pooled connection; target <= 1)`,
    );
  } finally {
    await plain?.end().catch(() => undefined);
    await rotating?.end().catch(() => undefined);
    await vault.close();
    await server.close();
    await db.drop();
    await postgres.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
