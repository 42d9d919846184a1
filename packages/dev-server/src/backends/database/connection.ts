/**
 * One PostgreSQL connection pool for one `config/:name`, opened as the configured root user.
 * Every error that leaves this module has had the known secret values replaced by `[password]`
 * (Vault's `DatabaseErrorSanitizerMiddleware`).
 */
import pg from 'pg';

/** What a pool needs from a connection configuration. */
export interface ConnectionSettings {
  /** `connection_url`, possibly templated with `{{username}}`/`{{password}}`. */
  connectionUrl: string;
  username: string;
  password: string;
  /** Pool size (`max_open_connections`, default 4). */
  maxOpenConnections: number;
  /** `max_connection_lifetime` in seconds (0 = unlimited). */
  maxConnectionLifetime: number;
}

/** Logs diagnostics; never receives secret values. */
export type ConnectionLog = (
  level: 'debug' | 'info' | 'warn' | 'error',
  message: string,
  fields?: Record<string, unknown>,
) => void;

/** An error from PostgreSQL (or the driver) with every secret value redacted. */
export class SanitizedDatabaseError extends Error {
  /** PostgreSQL SQLSTATE when the server reported one (e.g. `42704`). */
  readonly code: string | undefined;
  /** `connect` when no connection could be opened, `query` when a statement failed. */
  readonly stage: 'connect' | 'query';

  constructor(message: string, code: string | undefined, stage: 'connect' | 'query' = 'query') {
    super(message);
    this.name = 'SanitizedDatabaseError';
    this.code = code;
    this.stage = stage;
  }
}

/** Replaces each secret (and its URL-encoded form) in `text` by `[password]`. */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) {
    if (!secret) continue;
    out = out.split(secret).join('[password]');
    const encoded = encodeURIComponent(secret);
    if (encoded !== secret) out = out.split(encoded).join('[password]');
  }
  return out;
}

/** Fills the `{{username}}`/`{{password}}` placeholders of a connection URL (URL-encoded, as Vault does). */
export function renderConnectionUrl(template: string, username: string, password: string): string {
  return template
    .split('{{username}}')
    .join(encodeURIComponent(username))
    .split('{{password}}')
    .join(encodeURIComponent(password));
}

/** The password written literally into a (non-templated) connection URL, if any. */
function passwordInUrl(connectionUrl: string): string {
  try {
    const password = new URL(connectionUrl).password;
    return password && !password.includes('%7B%7B') ? decodeURIComponent(password) : '';
  } catch {
    return '';
  }
}

/** A lazily opened pool for one database configuration. */
export class PostgresConnection {
  private pool: pg.Pool | undefined;
  private closed = false;

  constructor(
    private readonly settings: ConnectionSettings,
    private readonly log: ConnectionLog,
  ) {}

  /** Wraps any thrown value into a {@link SanitizedDatabaseError} with the secrets redacted. */
  sanitize(
    error: unknown,
    extraSecrets: readonly string[] = [],
    stage: 'connect' | 'query' = 'query',
  ): SanitizedDatabaseError {
    const secrets = [this.settings.password, passwordInUrl(this.settings.connectionUrl), ...extraSecrets];
    const raw = error instanceof Error ? error.message : String(error);
    const code =
      typeof (error as { code?: unknown })?.code === 'string' ? (error as { code: string }).code : undefined;
    // A driver error may carry the connection string when it cannot parse it: drop it too.
    let message = redact(raw, secrets);
    const url = renderConnectionUrl(
      this.settings.connectionUrl,
      this.settings.username,
      this.settings.password,
    );
    if (url && message.includes(url)) message = message.split(url).join('[connection_url]');
    return new SanitizedDatabaseError(message || 'unknown database error', code, stage);
  }

  private getPool(): pg.Pool {
    if (this.closed) throw new SanitizedDatabaseError('database connection is closed', undefined);
    if (!this.pool) {
      const url = renderConnectionUrl(
        this.settings.connectionUrl,
        this.settings.username,
        this.settings.password,
      );
      const pool = new pg.Pool({
        connectionString: url,
        max: this.settings.maxOpenConnections,
        connectionTimeoutMillis: 15_000,
        idleTimeoutMillis: 30_000,
        allowExitOnIdle: true,
        ...(this.settings.maxConnectionLifetime > 0
          ? { maxLifetimeSeconds: this.settings.maxConnectionLifetime }
          : {}),
      });
      // An idle client that loses its server (e.g. terminated by an administrator) must not crash the process.
      pool.on('error', (error) => {
        this.log('warn', 'database: idle connection error', { error: this.sanitize(error).message });
      });
      this.pool = pool;
    }
    return this.pool;
  }

  /** Connects and runs `SELECT 1` (Vault's verify: connect + ping). */
  async verify(): Promise<void> {
    try {
      await this.getPool().query('SELECT 1');
    } catch (error) {
      throw this.sanitize(error);
    }
  }

  /** Runs one query outside a transaction (parameters are bound, not interpolated). */
  async query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    text: string,
    params: unknown[] = [],
  ): Promise<R[]> {
    try {
      const result = await this.getPool().query<R>(text, params);
      return result.rows;
    } catch (error) {
      throw this.sanitize(error);
    }
  }

  /**
   * Runs `queries` in order in ONE transaction (simple query protocol, so a `DO $$ … END $$` block runs whole);
   * rolls back and throws on the first failure. `secrets` are redacted from the error.
   */
  async transaction(queries: readonly string[], secrets: readonly string[] = []): Promise<void> {
    let client: pg.PoolClient;
    try {
      client = await this.getPool().connect();
    } catch (error) {
      throw this.sanitize(error, secrets, 'connect');
    }
    let broken = false;
    // One statement is atomic by itself: one round trip instead of BEGIN / statement / COMMIT (a renewal's
    // `ALTER ROLE … VALID UNTIL`, sent for every lease renewal).
    const single = queries.length === 1;
    try {
      if (!single) await client.query('BEGIN');
      for (const query of queries) await client.query(query);
      if (!single) await client.query('COMMIT');
    } catch (error) {
      try {
        if (!single) await client.query('ROLLBACK');
      } catch {
        broken = true;
      }
      throw this.sanitize(error, secrets);
    } finally {
      client.release(broken);
    }
  }

  /** Ends the pool (idempotent). */
  async close(): Promise<void> {
    this.closed = true;
    const pool = this.pool;
    this.pool = undefined;
    if (pool) {
      try {
        await pool.end();
      } catch (error) {
        this.log('warn', 'database: error closing pool', { error: this.sanitize(error).message });
      }
    }
  }
}
