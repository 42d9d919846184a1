/**
 * The operator's side of the notes examples (`apps/fastify-notes`, `apps/express-notes`, `apps/nestjs-notes`) and
 * the demo: everything a platform team would configure once, done through Vault's HTTP API with an operator
 * (root) token.
 *
 * - `createNotesSchema(superuserUrl)` — the `notes` table (owned by the operator; the service's short-lived
 *   database users only get DML on it).
 * - `setupNotesVault(options)` — policy `notes-app`, AppRole role `notes`, the database engine with connection
 *   `notes` and the dynamic role `notes-rw` (short TTLs so rotations are visible), the transit key `notes`, and the
 *   service's settings in KV v2 at `secret/notes/config`. Idempotent: it can run again against the same Vault.
 */
import { auth, createVault, type Vault } from '@leasehold/core';
import pg from 'pg';

/** Names the examples and the operator setup agree on. */
export const NOTES = {
  /** ACL policy of the service. */
  policy: 'notes-app',
  /** AppRole role the service logs in with. */
  appRole: 'notes',
  /** Database connection name (`database/config/<name>`). */
  connection: 'notes',
  /** Dynamic database role (`database/creds/<role>`). */
  databaseRole: 'notes-rw',
  /** Transit key that encrypts note bodies. */
  transitKey: 'notes',
  /** KV v2 path (mount `secret`) of the service's settings. */
  settingsPath: 'notes/config',
} as const;

/** The service's settings stored in KV v2 at `secret/notes/config`. */
export interface NotesSettings {
  /** Longest note body accepted, characters. */
  maxBodyLength: number;
  /** Shown by `GET /` of the examples. */
  greeting: string;
}

/** TTLs of the setup. Defaults are short so a visitor sees renewals and rotations within a minute. */
export interface NotesTtls {
  /** Database role `default_ttl` (default `8s`). */
  databaseDefault?: string;
  /** Database role `max_ttl` (default `24s`: a rotation roughly every 15 s). */
  databaseMax?: string;
  /** AppRole token `token_ttl` (default `60s`). */
  token?: string;
  /** AppRole token `token_max_ttl` (default `10m`). */
  tokenMax?: string;
}

/** Options of {@link setupNotesVault}. */
export interface NotesVaultSetupOptions {
  /** Vault address, e.g. `http://127.0.0.1:8200`. */
  address: string;
  /** An operator token (root, or one with sudo on `sys/*`). Used for the setup only. */
  operatorToken: string;
  /** Superuser URL of the PostgreSQL database that holds the notes (Vault creates users with it). */
  databaseUrl: string;
  /**
   * How Vault reaches that database, if different from `databaseUrl`'s host and port (e.g. inside a container
   * network). Default: the host and port of `databaseUrl`.
   */
  vaultDatabaseHost?: string;
  ttls?: NotesTtls;
  /** Settings written to KV (merged over the defaults). */
  settings?: Partial<NotesSettings>;
}

/** What the service needs to log in and connect (the secret ID is a secret: hand it over, never log it). */
export interface NotesVaultSetup {
  roleId: string;
  secretId: string;
  /** Where the service connects (no credentials: those come from Vault). */
  database: { host: string; port: number; database: string };
}

/** The default settings written to KV. */
export const DEFAULT_NOTES_SETTINGS: NotesSettings = {
  maxBodyLength: 2000,
  greeting: 'Notes — bodies encrypted by Vault transit, database users rotated by Leasehold',
};

/** Creates the `notes` table (idempotent). Run with a superuser or the database owner. */
export async function createNotesSchema(superuserUrl: string): Promise<void> {
  const client = new pg.Client({ connectionString: superuserUrl });
  client.on('error', () => undefined);
  await client.connect();
  try {
    await client.query(`
      CREATE TABLE IF NOT EXISTS notes (
        id bigserial PRIMARY KEY,
        title text NOT NULL,
        body_ciphertext text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
  } finally {
    await client.end();
  }
}

/** The policy of the service: exactly what the examples use, nothing more. */
export const NOTES_POLICY = `
# Settings
path "secret/data/notes/*" { capabilities = ["read"] }
path "secret/metadata/notes/*" { capabilities = ["read"] }
# Short-lived database users
path "database/creds/${NOTES.databaseRole}" { capabilities = ["read"] }
# Revoke the previous lease after a rotation has drained (renew and lookup are in the default policy)
path "sys/leases/revoke" { capabilities = ["update"] }
# Encrypt / decrypt note bodies
path "transit/encrypt/${NOTES.transitKey}" { capabilities = ["update"] }
path "transit/decrypt/${NOTES.transitKey}" { capabilities = ["update"] }
`;

function parseDatabaseUrl(url: string): {
  host: string;
  port: number;
  database: string;
  username: string;
  password: string;
} {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error('databaseUrl is not a URL: give postgres://user:password@host:port/database');
  }
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, '')) || 'postgres';
  return {
    host: parsed.hostname,
    port: Number(parsed.port || 5432),
    database,
    username: decodeURIComponent(parsed.username),
    password: decodeURIComponent(parsed.password),
  };
}

async function mounts(vault: Vault, kind: 'mounts' | 'auth'): Promise<Set<string>> {
  const res = await vault.requestRaw<{ data?: Record<string, unknown> } & Record<string, unknown>>(
    'GET',
    `sys/${kind}`,
  );
  const body = res.body ?? {};
  return new Set(Object.keys((body.data as Record<string, unknown> | undefined) ?? body));
}

/**
 * Configures Vault for the notes service as an operator would, and returns the AppRole credentials and the
 * database location for the service.
 */
export async function setupNotesVault(options: NotesVaultSetupOptions): Promise<NotesVaultSetup> {
  const db = parseDatabaseUrl(options.databaseUrl);
  const ttls = options.ttls ?? {};
  const vault = createVault({
    address: options.address,
    auth: auth.token({ token: options.operatorToken }),
    circuitBreaker: false,
  });
  try {
    await vault.ready({ timeoutMs: 10_000 });
    const secretEngines = await mounts(vault, 'mounts');
    if (!secretEngines.has('secret/')) {
      await vault.request('POST', 'sys/mounts/secret', { body: { type: 'kv', options: { version: '2' } } });
    }
    if (!secretEngines.has('database/')) {
      await vault.request('POST', 'sys/mounts/database', { body: { type: 'database' } });
    }
    if (!secretEngines.has('transit/')) {
      await vault.request('POST', 'sys/mounts/transit', { body: { type: 'transit' } });
    }
    const authMethods = await mounts(vault, 'auth');
    if (!authMethods.has('approle/')) {
      await vault.request('POST', 'sys/auth/approle', { body: { type: 'approle' } });
    }

    await vault.request('PUT', `sys/policies/acl/${NOTES.policy}`, { body: { policy: NOTES_POLICY } });

    const host = options.vaultDatabaseHost ?? `${db.host}:${db.port}`;
    await vault.request('POST', `database/config/${NOTES.connection}`, {
      body: {
        plugin_name: 'postgresql-database-plugin',
        connection_url: `postgresql://{{username}}:{{password}}@${host}/${encodeURIComponent(db.database)}`,
        username: db.username,
        password: db.password,
        allowed_roles: NOTES.databaseRole,
        max_open_connections: 4,
      },
    });
    await vault.request('POST', `database/roles/${NOTES.databaseRole}`, {
      body: {
        db_name: NOTES.connection,
        creation_statements: [
          `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';`,
          'GRANT SELECT, INSERT, DELETE ON notes TO "{{name}}";',
          'GRANT USAGE, SELECT ON SEQUENCE notes_id_seq TO "{{name}}";',
        ],
        default_ttl: ttls.databaseDefault ?? '8s',
        max_ttl: ttls.databaseMax ?? '24s',
      },
    });

    await vault.request('POST', `transit/keys/${NOTES.transitKey}`, { body: {} });
    await vault.kv.put(NOTES.settingsPath, { ...DEFAULT_NOTES_SETTINGS, ...options.settings });

    await vault.request('POST', `auth/approle/role/${NOTES.appRole}`, {
      body: {
        token_policies: [NOTES.policy],
        token_ttl: ttls.token ?? '60s',
        token_max_ttl: ttls.tokenMax ?? '10m',
        secret_id_num_uses: 0,
      },
    });
    const role = await vault.request<{ role_id: string }>(
      'GET',
      `auth/approle/role/${NOTES.appRole}/role-id`,
    );
    const secret = await vault.request<{ secret_id: string }>(
      'POST',
      `auth/approle/role/${NOTES.appRole}/secret-id`,
      { body: {} },
    );
    const roleId = role.body?.data?.role_id;
    const secretId = secret.body?.data?.secret_id;
    if (!roleId || !secretId) throw new Error('Vault returned no AppRole role ID / secret ID');
    return { roleId, secretId, database: { host: db.host, port: db.port, database: db.database } };
  } finally {
    await vault.close();
  }
}
