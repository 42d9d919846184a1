/**
 * `pnpm demo` (from the repository root) → `node apps/demo/dist/main.js [--port 3000] [--host 127.0.0.1]
 * [--duration <seconds>] [--rps 40]`.
 *
 * Environment: `DATABASE_URL` (a PostgreSQL superuser URL; default: an embedded PostgreSQL), `DEMO_PORT`,
 * `DEMO_HOST`, `DEMO_DURATION` (seconds; default: until Ctrl-C), `DEMO_RPS`.
 *
 * With a duration the demo stops by itself and exits with status 1 if any request failed or no rotation happened.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { TestPostgresError } from '@leasehold/test-env';
import { startDemo } from './demo.js';

/**
 * Ctrl-C in a terminal sends SIGINT to the whole foreground process group — including the embedded PostgreSQL,
 * which would stop before the demo revoked its leases. So the demo runs in a child process in its own process group;
 * this parent forwards SIGINT/SIGTERM to it and exits with its status.
 */
function runDetached(): void {
  const child = spawn(
    process.execPath,
    [...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)],
    {
      detached: true,
      stdio: 'inherit',
      env: { ...process.env, LEASEHOLD_DEMO_CHILD: '1' },
    },
  );
  const forward = (signal: NodeJS.Signals) => () => {
    child.kill(signal);
  };
  process.on('SIGINT', forward('SIGINT'));
  process.on('SIGTERM', forward('SIGTERM'));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}

const USAGE = `Usage: pnpm demo [-- --port <n>] [--host <address>] [--duration <seconds>] [--rps <n>]

  --port      port of the dashboard and the notes API (default 3000, 0 = any free port)   env DEMO_PORT
  --host      interface to listen on (default 127.0.0.1)                                   env DEMO_HOST
  --duration  stop after this many seconds (default: run until Ctrl-C)                     env DEMO_DURATION
  --rps       requests per second of the load driver (default 40)                          env DEMO_RPS
  DATABASE_URL  a PostgreSQL superuser URL to use instead of the embedded PostgreSQL`;

function number(name: string, value: string | undefined, fallback: number | undefined): number | undefined {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) {
    console.error(`Invalid ${name}: "${value}" is not a non-negative number.\n\n${USAGE}`);
    process.exit(2);
  }
  return n;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      duration: { type: 'string' },
      rps: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    // `pnpm demo -- --port 0` passes a literal `--` on some pnpm versions.
    args: process.argv.slice(2).filter((a) => a !== '--'),
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const port = number('--port', values.port ?? process.env.DEMO_PORT, 3000);
  const duration = number('--duration', values.duration ?? process.env.DEMO_DURATION, undefined);
  const rps = number('--rps', values.rps ?? process.env.DEMO_RPS, 40);
  const started = Date.now();
  const demo = await startDemo({
    port,
    host: values.host ?? process.env.DEMO_HOST ?? '127.0.0.1',
    rps,
    databaseUrl: process.env.DATABASE_URL || undefined,
    log: (message) => console.log(`  ${message}`),
  });
  console.log(`
  Leasehold demo is running.

    Dashboard   ${demo.url}
    Notes API   ${demo.url}notes   (the Fastify example, logged in with AppRole)
    Status      ${demo.url}api/status

  Database credentials live 8 s (max 24 s): watch them renew and rotate under load.
  ${duration ? `Stopping after ${duration} s.` : 'Press Ctrl-C to stop (the leases and the token are revoked).'}
`);

  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    console.log('\n  Stopping: load off, pool drained, leases and token revoked…');
    const final = await demo.close();
    const seconds = Math.round((Date.now() - started) / 1000);
    console.log(
      `  Done after ${seconds} s: ${final.requests} requests, ${final.failedRequests} failed, ` +
        `${final.rotations} rotations, ${final.leasesRevokedOnClose ?? 0} lease(s) revoked on shutdown.`,
    );
    if (duration !== undefined && (final.failedRequests > 0 || final.rotations === 0)) {
      console.error(
        final.failedRequests > 0 ? '  Some requests failed.' : '  No rotation happened: run the demo longer.',
      );
      process.exitCode = 1;
    }
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
  if (duration !== undefined) setTimeout(() => void stop(), duration * 1000);
}

if (process.env.LEASEHOLD_DEMO_CHILD === '1' || process.platform === 'win32') {
  main().catch(fail);
} else {
  runDetached();
}

function fail(error: unknown): void {
  if ((error as { code?: string }).code === 'EADDRINUSE') {
    console.error(
      `${(error as Error).message}: pass another port, e.g. pnpm demo -- --port 3100 (0 = any free port)`,
    );
    process.exitCode = 1;
    return;
  }
  if (error instanceof TestPostgresError) {
    // A known cause with its fix: the message, not a stack trace.
    console.error(`\n  The demo could not start PostgreSQL: ${error.message}`);
    process.exitCode = 1;
    return;
  }
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exitCode = 1;
}
