/**
 * Rotating pool benchmark. On one PostgreSQL, alternately:
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

import { readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { auth, createVault } from '@leasehold/core';
import { createRotatingPool, type RotatingPool } from '@leasehold/pg';
import {
  createDatabaseRole,
  createTestDatabase,
  mountDatabaseEngine,
  startTestPostgres,
} from '@leasehold/test-env';
import pg from 'pg';
import { DEV_SERVER_CHILD, devServerChild, startVault } from './vault-process.js';

/** A query not settled after this long counts as hung (and its worker moves on). */
const HUNG_AFTER_MS = 10_000;

/** CPU time (ms) of every `postgres` process on this machine, from /proc (0 where /proc cannot be read). */
function postgresCpuMs(): number {
  let ticks = 0;
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return 0;
  }
  for (const pid of entries) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (!stat.includes('(postgres)')) continue;
      // Fields after the command: utime, stime, cutime, cstime are the 12th to 15th (exited backends are in cutime).
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    } catch {
      // the process ended meanwhile
    }
  }
  return ticks * 10; // USER_HZ is 100 on Linux
}

/**
 * What one connection costs here (CPU ms of this process and of PostgreSQL): 20 sequential connects, each with one
 * query and its close, before the load starts. A rotation opens one per pooled connection.
 */
async function connectCost(config: pg.ClientConfig): Promise<{ clientMs: number; serverMs: number }> {
  const n = 20;
  const cpu = process.cpuUsage();
  const server = postgresCpuMs();
  for (let i = 0; i < n; i++) {
    const client = new pg.Client(config);
    await client.connect();
    await client.query('SELECT 1');
    await client.end();
  }
  const used = process.cpuUsage(cpu);
  return { clientMs: (used.user + used.system) / 1000 / n, serverMs: (postgresCpuMs() - server) / n };
}

interface Phase {
  queries: number;
  failed: number;
  /** Queries not settled within {@link HUNG_AFTER_MS}. */
  hung: number;
  /** performance.now() when the phase started. */
  start: number;
  ms: number;
  latencies: number[];
  /** performance.now() of each completed query. */
  ends: number[];
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
  const ends: number[] = [];
  let failed = 0;
  let hung = 0;
  const start = performance.now();
  const end = start + ms;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      let id = w;
      while (performance.now() < end) {
        id = (id * 7 + 1) % rows;
        const t = performance.now();
        let timer: NodeJS.Timeout | undefined;
        const query = pool.query('SELECT id, n FROM items WHERE id = $1', [id + 1]).then(() => 'ok' as const);
        const watchdog = new Promise<'hung'>((resolve) => {
          timer = setTimeout(() => resolve('hung'), HUNG_AFTER_MS);
        });
        try {
          const outcome = await Promise.race([query, watchdog]);
          if (outcome === 'hung') {
            hung++;
            query.catch(() => undefined);
          } else {
            const now = performance.now();
            latencies.push(now - t);
            ends.push(now);
          }
        } catch {
          failed++;
        } finally {
          clearTimeout(timer);
        }
      }
    }),
  );
  return { queries: latencies.length, failed, hung, start, ms: performance.now() - start, latencies, ends };
}

function merge(phases: Phase[]): Phase {
  return {
    queries: phases.reduce((a, p) => a + p.queries, 0),
    failed: phases.reduce((a, p) => a + p.failed, 0),
    hung: phases.reduce((a, p) => a + p.hung, 0),
    start: phases[0]?.start ?? 0,
    ms: phases.reduce((a, p) => a + p.ms, 0),
    latencies: phases.flatMap((p) => p.latencies),
    ends: phases.flatMap((p) => p.ends),
  };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

/**
 * Throughput in the `windowMs` after each rotation that happened inside a phase (with `windowMs` of the phase left),
 * relative to that phase's average: the direct cost of a rotation, independent of drift between phases.
 */
function afterRotation(phases: Phase[], rotations: number[], windowMs: number): { n: number; ratio: number } {
  let n = 0;
  let sum = 0;
  for (const phase of phases) {
    const avg = phase.queries / phase.ms;
    for (const r of rotations) {
      if (r < phase.start || r + windowMs > phase.start + phase.ms) continue;
      let count = 0;
      for (const t of phase.ends) if (t >= r && t < r + windowMs) count++;
      sum += count / windowMs / avg;
      n++;
    }
  }
  return { n, ratio: n > 0 ? sum / n : Number.NaN };
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
  const server = await startVault(import.meta.url);
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
      churn.on('rotated', () => {
        churned++;
      });
      process.on('beforeExit', () => console.log(`churn-only: ${churned} rotations of the bare lease`));
    }
    const common = { host: db.host, port: db.port, database: db.name, max, idleTimeoutMillis: 0 };
    plain = new pg.Pool({ ...common, user: 'bench_static', password: 'bench-static-password' });
    const windowEnv = process.env.BENCH_ROTATION_WINDOW_MS;
    rotating = createRotatingPool({
      vault,
      role: poolRole,
      ...common,
      ...(windowEnv === undefined ? {} : { rotationWindowMs: Number(windowEnv) }),
    });
    plain.on('error', () => undefined);
    rotating.on('error', () => undefined);
    const rotationTimes: number[] = [];
    rotating.on('rotate', () => rotationTimes.push(performance.now()));
    // The most connections the rotating pool held at once (a rotation may warm a few above max).
    let peakOpen = 0;
    rotating.on('connect', () => {
      peakOpen = Math.max(peakOpen, rotating?.totalCount ?? 0);
    });
    if (process.env.BENCH_TRACE === '1') {
      // Lease schedule trace: when renewals and rotations happen, relative to the start.
      const t0 = Date.now();
      const at = (): string => `${((Date.now() - t0) / 1000).toFixed(2)}s`;
      rotating.lease.on('renewed', (e) =>
        console.log(`  [${at()}] renew ttl ${e.ttlMs} ms capped ${e.capped}`),
      );
      rotating.lease.on('expiring', (e) =>
        console.log(`  [${at()}] expiring (${e.reason}) ${e.remainingMs} ms left`),
      );
      rotating.lease.on('rotated', (e) =>
        console.log(`  [${at()}] rotate -> gen ${e.current.generation} (${e.reason})`),
      );
      rotating.on('drained', (e) => console.log(`  [${at()}] drained gen ${e.generation}`));
      // What a connect costs here: one alone, then 20 at once (what a rotation under load does).
      const connectOnce = async (): Promise<number> => {
        const t = performance.now();
        const c = new pg.Client({ ...common, user: 'bench_static', password: 'bench-static-password' });
        await c.connect();
        const ms = performance.now() - t;
        await c.end();
        return ms;
      };
      const alone: number[] = [];
      for (let i = 0; i < 5; i++) alone.push(await connectOnce());
      const burst = await Promise.all(Array.from({ length: 20 }, connectOnce));
      console.log(
        `  connect alone: ${alone.map((m) => m.toFixed(1)).join(', ')} ms; 20 at once: first ${Math.min(...burst).toFixed(1)} ms, last ${Math.max(...burst).toFixed(1)} ms`,
      );
      // Connects after each rotation: how many, and how long after it the last one was ready.
      let rotatedAt = 0;
      let connects = 0;
      rotating.on('rotate', () => {
        rotatedAt = performance.now();
        connects = 0;
      });
      rotating.on('connect', () => {
        connects++;
        const ms = (performance.now() - rotatedAt).toFixed(1);
        if (connects === 1 || connects % 5 === 0)
          console.log(`  [${at()}] connect #${connects} +${ms} ms after rotate`);
      });
    }

    console.log(
      `rotating-pool benchmark (dev server ${process.env.BENCH_INPROCESS_VAULT === '1' ? 'in this process' : 'in a child process'}): ${durationS} s per pool in ${rounds} alternating rounds, concurrency ${concurrency}, ` +
        `pool max ${max}, role default_ttl ${process.env.BENCH_ROLE_TTL ?? '4s'} / max_ttl ${process.env.BENCH_ROLE_MAX_TTL ?? '8s'}`,
    );
    const cost = await connectCost({ ...common, user: 'bench_static', password: 'bench-static-password' });
    console.log(
      `one connect (login, one query, close) costs ${(cost.clientMs + cost.serverMs).toFixed(1)} ms of CPU here ` +
        `(${cost.clientMs.toFixed(1)} in this process, ${cost.serverMs.toFixed(1)} in PostgreSQL)`,
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
    console.log(
      `hung queries (>${HUNG_AFTER_MS / 1000} s)  ${String(merge(plainPhases).hung).padStart(13)}   ${String(merge(rotatingPhases).hung).padStart(13)}`,
    );
    console.log('');
    console.log(`throughput ratio (rotating / plain):   ${fmt(q.qps / p.qps, 3)}   (target >= 0.97)`);
    console.log(`p99 ratio (rotating / plain):          ${fmt(q.p99 / p.p99, 2)}    (target <= 1.2)`);
    console.log(`rotations during the run:              ${rotations}`);
    console.log(`most connections open at once:         ${peakOpen} (pool max ${max})`);
    console.log(
      `extra connects per rotation:           ${fmt(perRotation)} for ${max} pooled connections ` +
        `(${fmt(perRotation / max)} per pooled connection; target <= 1)`,
    );
    // What the reconnects of one rotation cost here, as a share of the machine between two rotations. Rotations
    // also happen during the plain pool's phases (the idle rotating pool reconnects then too, on the plain pool's
    // time), so the whole-run ratio does not show this cost in full: the windows after a rotation below do.
    const cores = availableParallelism();
    const underLoad = rotationTimes.filter((t) =>
      rotatingPhases.some((ph) => t >= ph.start && t < ph.start + ph.ms),
    ).length;
    const totalMs = [...plainPhases, ...rotatingPhases].reduce((sum, phase) => sum + phase.ms, 0);
    const perRotationMs = max * (cost.clientMs + cost.serverMs);
    const betweenMs = rotations > 0 ? totalMs / rotations : Number.POSITIVE_INFINITY;
    console.log(
      `reconnects of one rotation: ${max} x ${fmt(cost.clientMs + cost.serverMs, 1)} ms = ${fmt(perRotationMs / 1000)} CPU-s, ` +
        `${fmt((100 * perRotationMs) / (betweenMs * cores), 1)} % of ${cores} cores between two rotations; ` +
        `${underLoad} of ${rotations} rotations fell in the rotating pool's phases`,
    );
    for (const windowMs of [250, 1000, 2000, 3000]) {
      const a = afterRotation(rotatingPhases, rotationTimes, windowMs);
      console.log(
        `throughput in the ${String(windowMs).padStart(4)} ms after a rotation: ${fmt(a.ratio, 3)} of its phase's average ` +
          `(${a.n} rotations under load; target >= 0.97 for 1000 ms)`,
      );
    }
  } finally {
    await plain?.end().catch(() => undefined);
    await rotating?.end().catch(() => undefined);
    await vault.close();
    await server.close();
    await db.drop();
    await postgres.stop();
  }
}

(process.argv.includes(DEV_SERVER_CHILD) ? devServerChild() : main()).catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
