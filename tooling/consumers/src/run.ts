/**
 * `pnpm test:consumers`: the packages as users get them. Run by `bin/consumers.mjs` after the full `pnpm build`.
 *
 * 1. `pnpm pack` every published package into a temporary directory and check each tarball's contents
 *    (./tarballs.ts); print file count and packed/unpacked size.
 * 2. PostgreSQL from the test environment (`startTestPostgres`, password auth) and one database for the run.
 * 3. The temporary projects of ./projects.ts, outside the workspace (`os.tmpdir()`), each one `npm install` of the
 *    TARBALLS (`file:` dependencies, no workspace links) and the registry's frameworks.
 * 4. The dev server started from the packed `@leasehold/dev-server` (its CLI from the project's node_modules), set
 *    up over HTTP with the root token: AppRole login for the programs, a KV v2 secret, the database engine and a
 *    dynamic role on the run's database.
 * 5. Every TypeScript program compiled by the project's `tsc` (strict, skipLibCheck off), then every program run
 *    with Node; each must print `consumer ok:` and exit by itself with code 0 (a guard deadline kills one that
 *    hangs and fails it).
 *
 * Environment: `LEASEHOLD_TEST_PG_URL` (an external PostgreSQL superuser URL instead of the embedded one),
 * `LEASEHOLD_CONSUMERS_KEEP=1` (keep the temporary directory for inspection).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  createTestDatabase,
  startTestPostgres,
  type TestDatabase,
  type TestPostgres,
} from '@leasehold/test-env';
import { PROJECTS, type Program, type Project } from './projects.js';
import { checkTarball, describeTarballs, packAll, type Tarball } from './tarballs.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..', '..', '..');
const fixtures = resolve(here, '..', 'fixtures');

/** How long one program may run before it counts as hanging (a guard, not what is tested). */
const PROGRAM_DEADLINE_MS = 180_000;
/** How long one `npm install` or `tsc` may take. */
const TOOL_DEADLINE_MS = 600_000;

interface Result {
  name: string;
  ok: boolean;
  seconds: number;
  detail: string;
}

/** The environment without what pnpm's script runner adds (`npm_config_*`, …): the projects see a clean npm. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(npm_|PNPM_|pnpm_)/i.test(key) || key === 'NODE_OPTIONS' || key === 'INIT_CWD') continue;
    env[key] = value;
  }
  return { ...env, ...extra };
}

interface RunOutput {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
  timedOut: boolean;
}

/** Runs a command, collecting stdout and stderr together; kills it after `deadlineMs`. */
function run(
  command: string,
  args: string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv; deadlineMs: number },
): Promise<RunOutput> {
  return new Promise((done) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? cleanEnv(), stdio: 'pipe' });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
    });
    let timedOut = false;
    const guard = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.deadlineMs);
    child.on('error', (error) => {
      clearTimeout(guard);
      done({
        code: 127,
        signal: null,
        output: `${output}\ncould not start ${command}: ${error.message}`,
        timedOut,
      });
    });
    child.on('close', (code, signal) => {
      clearTimeout(guard);
      done({ code, signal, output, timedOut });
    });
  });
}

const tail = (text: string, lines = 40): string => text.trim().split('\n').slice(-lines).join('\n');
const seconds = (since: number): number => Math.round((Date.now() - since) / 100) / 10;

/** Writes a project's package.json and program directories, then installs it with npm. */
async function installProject(project: Project, base: string, tarballs: Tarball[]): Promise<Result> {
  const started = Date.now();
  const dir = join(base, project.name);
  mkdirSync(dir, { recursive: true });
  const dependencies: Record<string, string> = {};
  for (const name of project.tarballs) {
    const tarball = tarballs.find((t) => t.name === name);
    if (!tarball) throw new Error(`no tarball was packed for ${name}`);
    dependencies[name] = `file:${tarball.file}`;
  }
  Object.assign(dependencies, project.dependencies);
  writeFileSync(
    join(dir, 'package.json'),
    `${JSON.stringify({ name: `consumer-${project.name}`, private: true, version: '0.0.0', dependencies }, null, 2)}\n`,
  );
  for (const program of project.programs) {
    const programDir = join(dir, program.dir);
    mkdirSync(programDir, { recursive: true });
    writeFileSync(join(programDir, 'package.json'), `${JSON.stringify({ type: program.type }, null, 2)}\n`);
    for (const [from, to] of Object.entries(program.files))
      copyFileSync(join(fixtures, from), join(programDir, to));
    if (program.tsconfig) {
      writeFileSync(join(programDir, 'tsconfig.json'), `${JSON.stringify(program.tsconfig, null, 2)}\n`);
    }
  }
  const out = await run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error'], {
    cwd: dir,
    deadlineMs: TOOL_DEADLINE_MS,
  });
  const ok = out.code === 0;
  return {
    name: `npm install (${project.name})`,
    ok,
    seconds: seconds(started),
    detail: ok ? '' : tail(out.output),
  };
}

/**
 * `prisma generate` with the project's Prisma CLI, offline: the CLI only needs a schema engine binary to exist, so
 * it is pointed at a no-op script (nothing is downloaded from Prisma's binary server; no migration runs).
 */
async function prismaGenerate(projectDir: string, program: Program): Promise<RunOutput> {
  const dir = join(projectDir, program.dir);
  const engine = join(dir, 'no-op-schema-engine');
  writeFileSync(engine, '#!/bin/sh\nexit 0\n', { mode: 0o755 });
  const cli = join(projectDir, 'node_modules', 'prisma', 'build', 'index.js');
  return await run(process.execPath, [cli, 'generate', '--schema', 'schema.prisma'], {
    cwd: dir,
    env: cleanEnv({
      PRISMA_SCHEMA_ENGINE_BINARY: engine,
      PRISMA_HIDE_UPDATE_MESSAGE: '1',
      CHECKPOINT_DISABLE: '1',
    }),
    deadlineMs: TOOL_DEADLINE_MS,
  });
}

/** Compiles a TypeScript program with the project's own tsc (after `prisma generate` when it needs a client). */
async function compile(projectDir: string, program: Program): Promise<Result> {
  const started = Date.now();
  if (program.prismaGenerate) {
    const generated = await prismaGenerate(projectDir, program);
    if (generated.code !== 0) {
      return {
        name: `prisma generate ${program.name}`,
        ok: false,
        seconds: seconds(started),
        detail: tail(generated.output),
      };
    }
  }
  const tsc = join(projectDir, 'node_modules', 'typescript', 'bin', 'tsc');
  const out = await run(process.execPath, [tsc, '-p', join(projectDir, program.dir)], {
    cwd: join(projectDir, program.dir),
    deadlineMs: TOOL_DEADLINE_MS,
  });
  const ok = out.code === 0;
  return { name: `tsc ${program.name}`, ok, seconds: seconds(started), detail: ok ? '' : tail(out.output) };
}

/** Runs one program; it must print `consumer ok:` and exit by itself with code 0. */
async function runProgram(
  projectDir: string,
  program: Program,
  env: Record<string, string>,
): Promise<Result> {
  const started = Date.now();
  const cwd = join(projectDir, program.dir);
  const [command, args] = program.node22
    ? ['npx', ['--yes', '--package', 'node@22', 'node', program.entry]]
    : [process.execPath, [program.entry]];
  const out = await run(command, args, {
    cwd,
    env: cleanEnv({ ...env, CONSUMER_FLAVOUR: program.name }),
    deadlineMs: PROGRAM_DEADLINE_MS,
  });
  const okLine = out.output.split('\n').find((line) => line.startsWith('consumer ok:'));
  const ok = out.code === 0 && okLine !== undefined && !out.timedOut;
  let detail = okLine?.replace('consumer ok: ', '') ?? '';
  if (!ok) {
    const why = out.timedOut
      ? `did not exit within ${PROGRAM_DEADLINE_MS / 1000} s (killed): something kept the process alive`
      : `exit ${out.signal ?? out.code}${okLine ? '' : ', no "consumer ok:" line'}`;
    detail = `${why}\n${tail(out.output)}`;
  }
  return { name: program.name, ok, seconds: seconds(started), detail };
}

interface DevServer {
  url: string;
  rootToken: string;
  child: ChildProcess;
}

/** Starts the packed dev server's CLI from a project's node_modules and waits for its address. */
function startDevServer(projectDir: string): Promise<DevServer> {
  const rootToken = `root-${randomBytes(8).toString('hex')}`;
  const cli = join(projectDir, 'node_modules', '@leasehold', 'dev-server', 'bin', 'leasehold-dev-server.js');
  return new Promise((resolvePromise, reject) => {
    const child = spawn(
      process.execPath,
      [cli, '--port', '0', '--root-token', rootToken, '--log-level', 'warn'],
      {
        cwd: projectDir,
        env: cleanEnv(),
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    const guard = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the dev server printed no address within 30 s:\n${output}`));
    }, 30_000);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString('utf8');
      const match = /export VAULT_ADDR='([^']+)'/.exec(output);
      if (match?.[1]) {
        clearTimeout(guard);
        resolvePromise({ url: match[1], rootToken, child });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => {
      clearTimeout(guard);
      reject(new Error(`the dev server exited (code ${code}) before it printed its address:\n${output}`));
    });
  });
}

/** Stops the dev server with SIGTERM and waits for it to exit (it must, by itself). */
async function stopDevServer(server: DevServer): Promise<void> {
  if (server.child.exitCode !== null) return;
  const exited = new Promise<void>((done) => server.child.once('exit', () => done()));
  server.child.kill('SIGTERM');
  const guard = setTimeout(() => server.child.kill('SIGKILL'), 30_000);
  await exited;
  clearTimeout(guard);
}

/** Sets up the dev server as an operator would (root token, Vault's HTTP API); returns the programs' environment. */
async function configureVault(server: DevServer, database: TestDatabase): Promise<Record<string, string>> {
  const call = async (method: string, path: string, body?: unknown): Promise<Record<string, unknown>> => {
    const res = await fetch(`${server.url}/v1/${path}`, {
      method,
      headers: { 'X-Vault-Token': server.rootToken, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path} answered ${res.status}: ${text}`);
    return text ? (JSON.parse(text) as Record<string, unknown>) : {};
  };
  const admin = new URL(database.url);
  const dbRole = 'consumer-rw';
  const kvPath = 'consumer/config';
  const greeting = `hello from ${randomBytes(4).toString('hex')}`;
  await call('PUT', 'sys/policies/acl/consumer', {
    policy: [
      `path "secret/data/${kvPath}" { capabilities = ["read"] }`,
      `path "database/creds/${dbRole}" { capabilities = ["read"] }`,
      'path "sys/leases/revoke" { capabilities = ["update"] }',
    ].join('\n'),
  });
  await call('POST', 'sys/auth/approle', { type: 'approle' });
  await call('POST', 'auth/approle/role/consumer', { token_policies: ['consumer'], token_ttl: '10m' });
  const roleId = (await call('GET', 'auth/approle/role/consumer/role-id')).data as { role_id?: unknown };
  const secretId = (await call('POST', 'auth/approle/role/consumer/secret-id', {})).data as {
    secret_id?: unknown;
  };
  if (typeof roleId?.role_id !== 'string' || typeof secretId?.secret_id !== 'string') {
    throw new Error('the dev server returned no AppRole role_id / secret_id');
  }
  await call('POST', 'sys/mounts/database', { type: 'database' });
  await call('POST', 'database/config/consumers', {
    plugin_name: 'postgresql-database-plugin',
    connection_url: `postgresql://{{username}}:{{password}}@${database.host}:${database.port}/${database.name}`,
    username: decodeURIComponent(admin.username),
    password: decodeURIComponent(admin.password),
    allowed_roles: dbRole,
  });
  await call('POST', `database/roles/${dbRole}`, {
    db_name: 'consumers',
    creation_statements: [
      `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';`,
    ],
    default_ttl: '10m',
    max_ttl: '30m',
  });
  await call('POST', `secret/data/${kvPath}`, { data: { greeting } });
  return {
    VAULT_ADDR: server.url,
    CONSUMER_ROLE_ID: roleId.role_id,
    CONSUMER_SECRET_ID: secretId.secret_id,
    CONSUMER_DB_ROLE: dbRole,
    CONSUMER_DB_HOST: database.host,
    CONSUMER_DB_PORT: String(database.port),
    CONSUMER_DB_NAME: database.name,
    CONSUMER_KV_PATH: kvPath,
    CONSUMER_GREETING: greeting,
  };
}

function report(result: Result): void {
  const mark = result.ok ? 'ok  ' : 'FAIL';
  const detail = result.detail
    ? result.ok
      ? `  ${result.detail}`
      : `\n${result.detail.replace(/^/gm, '      ')}`
    : '';
  console.log(`  ${mark} ${result.name} (${result.seconds} s)${detail}`);
}

async function main(): Promise<number> {
  const started = Date.now();
  const work = mkdtempSync(join(tmpdir(), 'leasehold-consumers-'));
  const results: Result[] = [];
  let postgres: TestPostgres | undefined;
  let database: TestDatabase | undefined;
  let devServer: DevServer | undefined;
  try {
    console.log('\n== Tarballs (pnpm pack of every published package)');
    const tarballDir = join(work, 'tarballs');
    mkdirSync(tarballDir);
    const tarballs = packAll(root, tarballDir);
    console.log(describeTarballs(tarballs));
    const problems = tarballs.flatMap(checkTarball);
    for (const problem of problems) console.log(`  FAIL ${problem}`);
    results.push({
      name: 'tarball contents',
      ok: problems.length === 0,
      seconds: seconds(started),
      detail: problems.length === 0 ? `${tarballs.length} tarballs clean` : `${problems.length} violations`,
    });
    report(results[results.length - 1] as Result);

    console.log(`\n== npm install of the tarballs into ${PROJECTS.length} projects outside the workspace`);
    const projectsDir = join(work, 'projects');
    const [installs, pg] = await Promise.all([
      Promise.all(PROJECTS.map((project) => installProject(project, projectsDir, tarballs))),
      startTestPostgres(),
    ]);
    postgres = pg;
    for (const result of installs) report(result);
    results.push(...installs);
    database = await createTestDatabase(postgres.url);

    const installed = PROJECTS.filter((_, i) => installs[i]?.ok);
    const withDevServer = installed.find((project) => project.tarballs.includes('@leasehold/dev-server'));
    if (!withDevServer) throw new Error('no installed project holds @leasehold/dev-server');
    devServer = await startDevServer(join(projectsDir, withDevServer.name));
    console.log(`\n== Dev server from the packed @leasehold/dev-server (CLI) at ${devServer.url}`);
    const env = await configureVault(devServer, database);

    console.log('\n== TypeScript consumers: tsc -p (strict, skipLibCheck false)');
    // Two compilers at a time: tsc is CPU-bound and the tier is meant for a 2-core machine.
    const compiled = new Set<string>();
    const jobs = installed.flatMap((project) =>
      project.programs.filter((program) => program.tsconfig).map((program) => ({ project, program })),
    );
    const compileNext = async (): Promise<void> => {
      for (let job = jobs.shift(); job; job = jobs.shift()) {
        const outcome = await compile(join(projectsDir, job.project.name), job.program);
        report(outcome);
        results.push(outcome);
        if (outcome.ok) compiled.add(`${job.project.name}/${job.program.name}`);
      }
    };
    await Promise.all([compileNext(), compileNext()]);

    console.log('\n== Programs (each logs in, reads KV, queries through one rotation, exits by itself)');
    for (const project of installed) {
      const dir = join(projectsDir, project.name);
      for (const program of project.programs) {
        if (program.tsconfig && !compiled.has(`${project.name}/${program.name}`)) continue;
        const outcome = await runProgram(dir, program, env);
        report(outcome);
        results.push(outcome);
      }
    }
  } catch (error) {
    const result: Result = {
      name: 'consumer run',
      ok: false,
      seconds: seconds(started),
      detail: error instanceof Error ? (error.stack ?? error.message) : String(error),
    };
    report(result);
    results.push(result);
  } finally {
    if (devServer) await stopDevServer(devServer);
    await database?.drop().catch((error: unknown) => console.error(`dropping the database failed: ${error}`));
    await postgres?.stop().catch((error: unknown) => console.error(`stopping PostgreSQL failed: ${error}`));
    if (process.env.LEASEHOLD_CONSUMERS_KEEP === '1') console.log(`\nkept ${work}`);
    else rmSync(work, { recursive: true, force: true });
  }
  const passed = results.filter((result) => result.ok).length;
  const failed = results.length - passed;
  console.log(`\nconsumers: ${passed} passed, ${failed} failed (${seconds(started)} s)`);
  return failed === 0 ? 0 : 1;
}

process.exitCode = await main();
