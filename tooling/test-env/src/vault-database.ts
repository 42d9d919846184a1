import pg from 'pg';
import type { TestDatabase } from './database.js';
import { waitFor } from './wait.js';

/** What the helpers need of a running dev server (`startDevServer()` from `@leasehold/dev-server`). */
export interface VaultServerRef {
  url: string;
  rootToken: string;
}

/** Options of {@link createDatabaseRole}. */
export interface DatabaseRoleOptions {
  /** `default_ttl` (Go duration or seconds), e.g. `'2s'`. */
  defaultTtl: string;
  /** `max_ttl`, e.g. `'4s'`. */
  maxTtl: string;
  /** Extra creation statements after `CREATE ROLE` (default: DML on every table and sequence in `public`). */
  grants?: string[];
  /** Connection name under `database/config/` (default `test`). */
  dbName?: string;
}

/** Sends one Vault API request with the root token; throws on a non-2xx answer (with Vault's `errors`). */
export async function vaultRequest<T = unknown>(
  server: VaultServerRef,
  method: string,
  path: string,
  body?: unknown,
): Promise<T | undefined> {
  const res = await fetch(`${server.url}/v1/${path}`, {
    method,
    headers: { 'x-vault-token': server.rootToken, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status === 204) return undefined;
  const json = (await res.json()) as T & { errors?: string[] };
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json.errors)}`);
  return json;
}

/**
 * Mounts the dev server's `database` engine at `database/` and points connection `test` at `db` (as the superuser,
 * with a templated URL so the password never appears in it).
 */
export async function mountDatabaseEngine(
  server: VaultServerRef,
  db: TestDatabase,
  options: { dbName?: string; maxOpenConnections?: number } = {},
): Promise<void> {
  const superuser = new URL(db.superuserUrl);
  await vaultRequest(server, 'POST', 'sys/mounts/database', { type: 'database' });
  await vaultRequest(server, 'POST', `database/config/${options.dbName ?? 'test'}`, {
    plugin_name: 'postgresql-database-plugin',
    connection_url: `postgresql://{{username}}:{{password}}@${db.host}:${db.port}/${db.name}`,
    username: decodeURIComponent(superuser.username),
    password: decodeURIComponent(superuser.password),
    allowed_roles: '*',
    max_open_connections: options.maxOpenConnections ?? 4,
  });
}

/** Creates a dynamic role `name` whose users may read and write every table of `public`. */
export async function createDatabaseRole(
  server: VaultServerRef,
  name: string,
  options: DatabaseRoleOptions,
): Promise<void> {
  const grants = options.grants ?? [
    'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "{{name}}";',
    'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO "{{name}}";',
  ];
  await vaultRequest(server, 'POST', `database/roles/${name}`, {
    db_name: options.dbName ?? 'test',
    creation_statements: [
      `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';`,
      ...grants,
    ],
    default_ttl: options.defaultTtl,
    max_ttl: options.maxTtl,
  });
}

/** Whether `username`/`password` can log in to `db` (false when the server rejects the login: 28P01/28000). */
export async function canLogin(db: TestDatabase, username: string, password: string): Promise<boolean> {
  const client = new pg.Client({ host: db.host, port: db.port, database: db.name, user: username, password });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.end();
    return true;
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === '28P01' || code === '28000') return false;
    throw err;
  }
}

/** Whether a PostgreSQL role named `username` exists. */
export async function roleExists(db: TestDatabase, username: string): Promise<boolean> {
  const res = await db.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [username]);
  return (res.rowCount ?? 0) > 0;
}

/** Options of {@link startLoad}. */
export interface LoadOptions {
  /**
   * Pause of each loop after a unit of work that succeeded, in ms (default {@link LOAD_PAUSE_MS}; `0` runs flat
   * out). The loops still overlap, so work is in flight whenever credentials rotate; the pause keeps a test's load
   * from taking every free CPU cycle from the other tests of the run. Saturating load is the benchmarks' job.
   */
  pauseMs?: number;
}

/**
 * The default pause between units of work of one {@link startLoad} loop (ms): eight loops make about 170 units a
 * second, every connection of a pool still busy most of the time. Without a pause an integration test's load used
 * more than a core by itself (~9 of a rotation test's 21 CPU-s went to queries past the first few hundred); at 10 ms
 * the pg package's run still took 66 CPU-s, at 40 ms 52 (knex 15 → 12), at the same wall time. The tests wait for
 * states ("50 units succeeded", "work done on the new generation"), never for a count within a time.
 */
export const LOAD_PAUSE_MS = 40;

/**
 * Runs `worker` on `concurrency` loops until `stop()` is called; counts successes and keeps every failure with the
 * time it happened. Each loop pauses `pauseMs` after a unit that succeeded and 5 ms after one that failed.
 */
export function startLoad(
  concurrency: number,
  worker: (i: number) => Promise<unknown>,
  options: LoadOptions = {},
): {
  /**
   * Stops the loops and waits for them. With `minOk`, first waits (a guard of `timeoutMs`, default 60 s) until that
   * many units of work succeeded, so that "the load went on" is a state the test reaches, not a count of what fits
   * in a fixed time on a fast machine.
   */
  stop(options?: {
    minOk?: number;
    timeoutMs?: number;
  }): Promise<{ ok: number; failures: Array<{ at: number; error: unknown }> }>;
  readonly ok: number;
  readonly failures: Array<{ at: number; error: unknown }>;
} {
  const pauseMs = options.pauseMs ?? LOAD_PAUSE_MS;
  if (!(Number.isFinite(pauseMs) && pauseMs >= 0))
    throw new RangeError(`startLoad: pauseMs must be a finite number >= 0 (got ${String(pauseMs)})`);
  let running = true;
  let ok = 0;
  const failures: Array<{ at: number; error: unknown }> = [];
  const loops = Array.from({ length: concurrency }, async (_, i) => {
    while (running) {
      try {
        await worker(i);
        ok++;
        if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
      } catch (error) {
        failures.push({ at: Date.now(), error });
        await new Promise((r) => setTimeout(r, 5));
      }
    }
  });
  return {
    get ok() {
      return ok;
    },
    failures,
    async stop(options = {}) {
      const { minOk } = options;
      try {
        if (minOk !== undefined) {
          await waitFor(
            `${minOk} units of work done under load`,
            () => ok >= minOk,
            options.timeoutMs ?? 60_000,
          );
        }
      } finally {
        running = false;
        await Promise.all(loops);
      }
      return { ok, failures };
    },
  };
}

/** Whether Vault still knows `leaseId` (`sys/leases/lookup` with the root token). */
export async function leaseExists(server: VaultServerRef, leaseId: string): Promise<boolean> {
  return vaultRequest(server, 'PUT', 'sys/leases/lookup', { lease_id: leaseId }).then(
    () => true,
    () => false,
  );
}

/**
 * The leases of `leaseIds` Vault still knows once `timeoutMs` passed (polling; empty = all revoked). A revocation
 * runs the role's revocation statements, which can take a moment on a loaded machine.
 */
export async function leasesStillKnown(
  server: VaultServerRef,
  leaseIds: Iterable<string>,
  timeoutMs = 5000,
): Promise<string[]> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const known: string[] = [];
    for (const id of leaseIds) if (await leaseExists(server, id)) known.push(id);
    if (known.length === 0 || Date.now() > end) return known;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * The usual fixture of an app test: table `items` (three rows) in `db`, the dev server's database engine mounted on
 * it, the dynamic `roles` created, and the KV v2 `secrets` (path under `secret/` → data) written.
 */
export async function setupAppFixture(
  server: VaultServerRef,
  db: TestDatabase,
  options: { roles: Record<string, DatabaseRoleOptions>; secrets?: Record<string, Record<string, unknown>> },
): Promise<void> {
  await db.query('CREATE TABLE items (id serial PRIMARY KEY, n int NOT NULL)');
  await db.query('INSERT INTO items (n) VALUES (1), (2), (3)');
  await mountDatabaseEngine(server, db);
  for (const [name, role] of Object.entries(options.roles)) await createDatabaseRole(server, name, role);
  for (const [path, data] of Object.entries(options.secrets ?? {})) {
    await vaultRequest(server, 'POST', `secret/data/${path}`, { data });
  }
}

/**
 * `concurrency` loops of GET requests over `paths` (round robin) against `baseUrl` until `done()` is true and at
 * least `minOk` requests succeeded (default 0), or `timeoutMs` passed (a guard: `finished` is then false). A request
 * that does not answer 200 is a failure (with its status and body).
 */
export async function httpLoadUntil(
  baseUrl: string,
  paths: string[],
  done: () => boolean,
  options: { concurrency?: number; timeoutMs?: number; minOk?: number } = {},
): Promise<{ ok: number; failures: Array<{ at: number; error: unknown }>; finished: boolean }> {
  const load = startLoad(options.concurrency ?? 8, async (i) => {
    const res = await fetch(`${baseUrl}${paths[i % paths.length]}`);
    if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  });
  const minOk = options.minOk ?? 0;
  const reached = (): boolean => done() && load.ok >= minOk;
  const end = Date.now() + (options.timeoutMs ?? 40_000);
  while (!reached() && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  const finished = reached();
  return { ...(await load.stop()), finished };
}
