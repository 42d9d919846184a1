#!/usr/bin/env node
// `pnpm test`: the main tier. It fails if any step fails:
//  - `biome check .` once over the whole repository (lint and format);
//  - `turbo run generate` (the Prisma client the tests of the packages that use `@leasehold/prisma` and the
//    type-check read);
//  - every workspace package's JavaScript build without declarations (LEASEHOLD_DECLARATIONS=false: esbuild only;
//    the tests run the JavaScript, and declarations are checked by the packaging tier), in this process (below);
//    these three start together; a package's tests start once the lint and the builds are done, and, when it uses
//    the generated client, once it is generated;
//  - `pnpm typecheck`'s one TypeScript program over every package's sources, tests and type tests (the root
//    tsconfig.json), once the client is generated, beside the tests: both are CPU-bound, but the tests also wait on
//    PostgreSQL and HTTP, and the type-check fills those gaps instead of holding every test back;
//  - every package's Vitest run, four packages at a time (each with up to three files at once), the longest first:
//    on a small machine, more at once only makes the real-time leases of the integration tests compete for the CPU
//    (a lease re-issued after its end) without finishing sooner;
//  - one PostgreSQL for all of them (unless LEASEHOLD_TEST_PG_URL names one), started as soon as this package's own
//    build is done and given to every package's run as LEASEHOLD_TEST_PG_URL. Every test file works in its own
//    database with its own roles, so the packages share the server as a package's files always did; a server per
//    package cost about two CPU-seconds each to start and stop.
//
// The builds run through tsup's API in this process, one package after another (a JavaScript build has no order:
// each package's imports of the others stay imports): a `tsup` process per package spent about a CPU-second
// loading Node and tsup for a tenth of that in esbuild — 17 builds took 23 CPU-s and 27 s, in one process 3 CPU-s
// and 4 s, with byte-identical output. The tests start each package's `vitest run` directly, not through turbo and
// `pnpm run` (about a CPU-second per package and task). A package whose script is anything else than plain `tsup` /
// `vitest run`, or whose tsup config sets `esbuildOptions`, is run with `pnpm run`.
//
// With arguments (e.g. `--filter=@leasehold/core...`, `--force`, `--continue`), the steps run one after another as
// before, through turbo, with the arguments passed to every turbo run; `turbo run test` also caches passing packages.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const extra = process.argv.slice(2);
// The same value in every step: a build for the tests (and, through turbo, the same cache key in every step).
const env = { ...process.env, LEASEHOLD_DECLARATIONS: 'false' };
// Read by the tsup configs this process loads (tooling/tsconfig/tsup.ts).
process.env.LEASEHOLD_DECLARATIONS = 'false';
/** Packages tested at once; files at once inside a package: the Vitest preset (`LEASEHOLD_TEST_WORKERS`). */
const TEST_CONCURRENCY = 4;
/**
 * How long one package's build or test run may take before it is stopped and counted as failed (seconds):
 * `LEASEHOLD_TEST_PACKAGE_TIMEOUT_S`, default 900. A guard against a hung run, far above any package's time.
 */
const PACKAGE_TIMEOUT_S = packageTimeout();
/** Where the duration of each package's last test run is kept, to start the longest first next time. */
const durationsFile = join(root, 'node_modules/.cache/leasehold/test-durations.json');
/**
 * Typical seconds of a package's test run in this suite (measured on a 2-core machine), used to start the longest
 * first when no earlier run was recorded (a fresh clone). Only the order depends on it; a package missing here
 * counts as long, so a new package is never left for the end.
 */
const TYPICAL_SECONDS = {
  '@leasehold/dev-server': 113,
  '@leasehold/core': 105,
  '@leasehold/test-env': 88,
  '@leasehold/pg': 85,
  '@leasehold/demo': 64,
  '@leasehold/nestjs': 46,
  '@leasehold/aws': 43,
  '@leasehold/fastify-notes': 38,
  '@leasehold/knex': 34,
  '@leasehold/prisma': 26,
  '@leasehold/express-notes': 25,
  '@leasehold/nestjs-notes': 23,
  '@leasehold/express': 21,
  '@leasehold/fastify': 18,
  '@leasehold/doppler': 17,
  '@leasehold/consumers': 4,
};

function packageTimeout() {
  const raw = process.env.LEASEHOLD_TEST_PACKAGE_TIMEOUT_S;
  if (raw === undefined || raw === '') return 900;
  const seconds = Number(raw);
  if (!Number.isFinite(seconds) || seconds <= 0) {
    console.error(
      `LEASEHOLD_TEST_PACKAGE_TIMEOUT_S must be a positive number of seconds (got "${raw}"); unset it for 900.`,
    );
    process.exit(2);
  }
  return seconds;
}

/** Runs `command args` in `cwd`, output inherited; resolves with its exit status. */
function run(command, args, cwd = root) {
  console.log(`\n$ ${command} ${args.join(' ')}`);
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd, stdio: 'inherit', env, shell: process.platform === 'win32' });
    child.on('error', (error) => {
      console.error(
        `${command}: could not start (${error.message}); run it through pnpm so node_modules/.bin is on PATH`,
      );
      resolve(127);
    });
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

/** Stops with the first non-zero status among `statuses`. */
function stopOnFailure(...statuses) {
  const failed = statuses.find((status) => status !== 0);
  if (failed !== undefined) process.exit(failed);
}

/** The workspace packages (pnpm-workspace.yaml: packages/*, apps/*, tooling/*) with their scripts and dependencies. */
function workspacePackages() {
  const out = [];
  for (const group of ['packages', 'apps', 'tooling']) {
    for (const entry of readdirSync(join(root, group), { withFileTypes: true })) {
      const dir = join(root, group, entry.name);
      const manifest = join(dir, 'package.json');
      if (!entry.isDirectory() || !existsSync(manifest)) continue;
      const pkg = JSON.parse(readFileSync(manifest, 'utf8'));
      const dependencies = Object.keys({
        ...pkg.dependencies,
        ...pkg.devDependencies,
        ...pkg.peerDependencies,
      });
      out.push({ name: pkg.name ?? relative(root, dir), dir, scripts: pkg.scripts ?? {}, dependencies });
    }
  }
  return out;
}

/** The command for a package's `script`: the tool itself when the script is exactly `plain`, else `pnpm run`. */
function commandFor(pkg, script, plain, tool, args) {
  if (pkg.scripts[script] !== plain) return ['pnpm', ['run', script]];
  const local = join(pkg.dir, 'node_modules/.bin', tool);
  return [existsSync(local) ? local : join(root, 'node_modules/.bin', tool), args];
}

/**
 * Runs `command args` in `cwd` with its output collected, then printed at once with every line prefixed by
 * `label` (turbo's `<package>:<task>: ` format, which `.ci/run` reads), so packages running together do not
 * interleave. Resolves with the exit status and the seconds it took.
 */
function runCollected(label, command, args, cwd) {
  const started = Date.now();
  console.log(`${label}: started`);
  return new Promise((resolve) => {
    const chunks = [];
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (c) => chunks.push(c));
    child.stderr.on('data', (c) => chunks.push(c));
    // A hung run is stopped (SIGTERM, then SIGKILL 10 s later) and fails with a message, instead of holding the
    // whole command forever with its output unseen.
    let timedOut = false;
    const guard = setTimeout(() => {
      timedOut = true;
      chunks.push(
        Buffer.from(
          `stopped: still running after ${PACKAGE_TIMEOUT_S} s (LEASEHOLD_TEST_PACKAGE_TIMEOUT_S)\n`,
        ),
      );
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
    }, PACKAGE_TIMEOUT_S * 1000);
    let settled = false;
    const finish = (status) => {
      if (settled) return; // 'error' and 'close' can both come
      settled = true;
      clearTimeout(guard);
      const text = Buffer.concat(chunks).toString('utf8').replace(/\n$/, '');
      if (text) process.stdout.write(`${text.replace(/^/gm, `${label}: `)}\n`);
      resolve({ status: timedOut && status === 0 ? 1 : status, seconds: (Date.now() - started) / 1000 });
    };
    child.on('error', (error) => {
      chunks.push(Buffer.from(`could not start ${command}: ${error.message}\n`));
      finish(127);
    });
    child.on('close', (code, signal) => finish(code ?? (signal ? 1 : 0)));
  });
}

/**
 * Runs `script` of each package (the tool directly when the script is exactly `plain`, see {@link commandFor}),
 * `limit` at a time, in the order given, each once `gate(pkg)` (a status, or a promise of one) is 0; resolves with
 * `{ pkg, status, seconds }` for each.
 */
function runScripts(packages, script, plain, tool, args, limit, gate = () => 0) {
  return pool(
    packages.map((pkg) => async () => {
      // What the package needs first (the generated Prisma client): a failure there fails it without a run.
      const before = await gate(pkg);
      if (before !== 0) {
        console.log(`${pkg.name}:${script}: not run: a step it needs failed`);
        return { pkg, status: before, seconds: 0 };
      }
      const [command, commandArgs] = commandFor(pkg, script, plain, tool, args);
      return runCollected(`${pkg.name}:${script}`, command, commandArgs, pkg.dir).then((r) => ({
        pkg,
        ...r,
      }));
    }),
    limit,
  );
}

/** Runs `jobs` (functions returning a promise) `limit` at a time, in order; resolves with their results. */
async function pool(jobs, limit) {
  const results = new Array(jobs.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, jobs.length) }, async () => {
    while (next < jobs.length) {
      const i = next++;
      results[i] = await jobs[i]();
    }
  });
  await Promise.all(lanes);
  return results;
}

/**
 * Builds every package of `packages` that has a `build` script, one after another in this process through tsup's
 * API (see the header); `what` names them in the log. Resolves with 0 or 1.
 */
async function buildAll(packages, what) {
  const started = Date.now();
  const builds = packages.filter((p) => p.scripts.build);
  if (builds.length === 0) return 0;
  console.log(`\n$ build (JavaScript only) of ${what ?? `${builds.length} packages`}, in this process`);
  const failed = [];
  for (const pkg of builds) {
    const status = inProcess(pkg)
      ? await tsupHere(pkg)
      : (await runScripts([pkg], 'build', 'tsup', 'tsup', ['--silent'], 1))[0].status;
    if (status !== 0) failed.push(pkg);
  }
  for (const pkg of failed) console.error(`${pkg.name}: build failed`);
  console.log(
    `build${what ? ` of ${what}` : ''}: ${failed.length ? 'failed' : 'done'} in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
  return failed.length ? 1 : 0;
}

/** Whether `pkg` builds in this process: its script is plain `tsup` and its config leaves `esbuildOptions` to us. */
function inProcess(pkg) {
  if (pkg.scripts.build !== 'tsup') return false;
  const config = ['tsup.config.ts', 'tsup.config.mjs', 'tsup.config.js']
    .map((f) => join(pkg.dir, f))
    .find(existsSync);
  return config !== undefined && !readFileSync(config, 'utf8').includes('esbuildOptions');
}

let tsup;
/**
 * `tsup --silent` in `pkg.dir`, in this process. tsup reads its config and entries from the working directory;
 * esbuild resolves against the directory its service started in unless told (`absWorkingDir`). Resolves with 0 or 1.
 */
async function tsupHere(pkg) {
  tsup ??= await import('tsup');
  const started = Date.now();
  try {
    process.chdir(pkg.dir);
    await withTimeout(
      tsup.build({
        silent: true,
        esbuildOptions(options) {
          options.absWorkingDir = pkg.dir;
        },
      }),
      PACKAGE_TIMEOUT_S * 1000,
      `still running after ${PACKAGE_TIMEOUT_S} s (LEASEHOLD_TEST_PACKAGE_TIMEOUT_S)`,
    );
    return 0;
  } catch (error) {
    const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
    process.stdout.write(`${text.replace(/^/gm, `${pkg.name}:build: `)}\n`);
    return 1;
  } finally {
    process.chdir(root);
    if (Date.now() - started > 10_000)
      console.log(`${pkg.name}:build: took ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
}

/** `promise`, or a rejection with `message` after `ms`. */
function withTimeout(promise, ms, message) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function readDurations() {
  try {
    const parsed = JSON.parse(readFileSync(durationsFile, 'utf8'));
    return parsed && typeof parsed === 'object' ? parsed : {};
  } catch {
    return {};
  }
}

/**
 * Tests every package with a `test` script, the longest first, each once `gate(pkg)` is 0 (see {@link runScripts}).
 * Resolves with 0 or 1.
 */
async function testAll(packages, gate) {
  const started = Date.now();
  const known = readDurations();
  const expected = (pkg) => {
    const seconds = known[pkg.name] ?? TYPICAL_SECONDS[pkg.name];
    return typeof seconds === 'number' && Number.isFinite(seconds) ? seconds : Number.POSITIVE_INFINITY;
  };
  const tests = packages.filter((p) => p.scripts.test).sort((a, b) => expected(b) - expected(a));
  console.log(`\n$ vitest run in ${tests.length} packages, ${TEST_CONCURRENCY} at a time, the longest first`);
  const results = await runScripts(tests, 'test', 'vitest run', 'vitest', ['run'], TEST_CONCURRENCY, gate);
  const durations = { ...known };
  for (const r of results) if (r.status === 0) durations[r.pkg.name] = Math.round(r.seconds);
  try {
    mkdirSync(dirname(durationsFile), { recursive: true });
    writeFileSync(durationsFile, `${JSON.stringify(durations, null, 2)}\n`);
  } catch {
    // Only the order of a later run depends on it.
  }
  console.log('\npackage                     seconds  result');
  for (const r of [...results].sort((a, b) => b.seconds - a.seconds)) {
    const outcome = r.status === 0 ? 'passed' : `FAILED (exit ${r.status})`;
    console.log(`${r.pkg.name.padEnd(28)}${r.seconds.toFixed(1).padStart(7)}  ${outcome}`);
  }
  const failed = results.filter((r) => r.status !== 0);
  console.log(
    `tests: ${failed.length ? `${failed.length} package(s) failed` : 'passed'} in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
  return failed.length ? 1 : 0;
}

/**
 * The PostgreSQL every package's run shares: undefined when LEASEHOLD_TEST_PG_URL already names one (each run then
 * checks and uses it), null when it could not be started (the message is printed). Started by the test
 * environment's own code (its build, `dist/postgres.js`), the same server a package's Vitest global setup starts,
 * with more connections: four packages run at once.
 */
async function sharedPostgres() {
  if (process.env.LEASEHOLD_TEST_PG_URL) return undefined;
  const started = Date.now();
  try {
    const { startTestPostgres, TEST_SCRAM_ITERATIONS } = await import(
      new URL('../dist/postgres.js', import.meta.url).href
    );
    const server = await startTestPostgres({ scramIterations: TEST_SCRAM_ITERATIONS, maxConnections: 1000 });
    const { port } = new URL(server.url);
    console.log(
      `\n$ PostgreSQL for every package: 127.0.0.1:${port}, ready in ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
    return server;
  } catch (error) {
    console.error(`\nTest PostgreSQL: ${error instanceof Error ? error.message : String(error)}`);
    return null;
  }
}

const typecheck = () =>
  run('tsc', ['-p', 'tsconfig.json']).then((status) =>
    status === 0 ? run('tsc', ['-p', 'tooling/vitest/tsconfig.json']) : status,
  );

if (extra.length > 0) {
  stopOnFailure(await run('biome', ['check', '.']));
  stopOnFailure(await run('turbo', ['run', 'generate', '--output-logs=errors-only', ...extra]));
  stopOnFailure(
    ...(await Promise.all([
      run('turbo', ['run', 'build', '--output-logs=errors-only', ...extra]),
      typecheck(),
    ])),
  );
  stopOnFailure(await run('turbo', ['run', 'test', '--concurrency=4', ...extra]));
} else {
  // Lint, code generation and the builds start together: none needs another's output (a JavaScript build does not
  // read the generated Prisma client; the type-check and the tests that use it do, so they wait for it).
  const packages = workspacePackages();
  const testEnv = packages.find((p) => p.dir === join(root, 'tooling/test-env'));
  const linted = run('biome', ['check', '.']);
  const generated = run('turbo', ['run', 'generate', '--output-logs=errors-only']);
  const typechecked = generated.then((status) => (status === 0 ? typecheck() : status));
  // This package's build first: the shared PostgreSQL starts from it while the others build.
  const testEnvBuilt = buildAll(testEnv ? [testEnv] : [], 'the test environment');
  const postgres = testEnvBuilt.then((status) => (status === 0 ? sharedPostgres() : undefined));
  const built = testEnvBuilt.then(async (status) =>
    Math.max(status, await buildAll(packages.filter((p) => p !== testEnv))),
  );
  const ready = await Promise.all([linted, built]);
  if (ready.some((status) => status !== 0)) stopOnFailure(...ready, await generated, await typechecked);
  const server = await postgres;
  if (server === null) stopOnFailure(1, await typechecked);
  if (server) env.LEASEHOLD_TEST_PG_URL = server.url;
  const generators = new Set(packages.filter((p) => p.scripts.generate).map((p) => p.name));
  const usesGenerated = (pkg) => generators.has(pkg.name) || pkg.dependencies.some((d) => generators.has(d));
  const statuses = await Promise.all([
    testAll(packages, (pkg) => (usesGenerated(pkg) ? generated : 0)),
    typechecked,
    generated,
  ]);
  await server?.stop();
  stopOnFailure(...statuses);
}
