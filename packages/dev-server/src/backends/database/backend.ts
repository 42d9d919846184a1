/**
 * The `database` secrets engine on real PostgreSQL (Vault's `builtin/logical/database` with the
 * `postgresql-database-plugin`). See `docs/database.md` for what is supported.
 */

import { setTimeout as delay } from 'node:timers/promises';
import {
  type Backend,
  type BackendContext,
  type BackendFactory,
  badRequest,
  getBool,
  getCommaStringSlice,
  getDuration,
  getInt,
  getString,
  getStringSlice,
  has,
  type LeaseView,
  LogicalError,
  type LogicalRequest,
  type LogicalResponse,
  listResponse,
  NAME_PATTERN,
  Router,
} from '../../sdk/index.js';
import { globMatches } from '../../util/glob.js';
import { KeyedPrioritySerialQueue, KeyedSerialQueue } from '../../util/serial.js';
import { type LongTimer, scheduleAt } from '../../util/timer.js';
import { PostgresConnection, SanitizedDatabaseError } from './connection.js';
import { generateDatabasePassword } from './password.js';
import {
  DEFAULT_RENEW_STATEMENT,
  DEFAULT_ROTATION_STATEMENT,
  expandStatements,
  formatExpiration,
  formatGoTime,
  quoteIdentifier,
  substitute,
} from './statements.js';
import { DEFAULT_POSTGRES_USERNAME_TEMPLATE, TemplateError, UsernameTemplate } from './template.js';

/** The only plugin this dev server implements. */
export const POSTGRES_PLUGIN_NAME = 'postgresql-database-plugin';

/** Vault's static-role queue tick: the minimum `rotation_period`. */
const MIN_ROTATION_PERIOD_SECONDS = 5;
/** Vault retries a failed static rotation after 10 s. */
const ROTATION_RETRY_MS = 10_000;
/** Vault adds this buffer to the expiration it passes to the database. */
const EXPIRATION_BUFFER_MS = 5_000;
/** Attempts of a creation or revocation that meets a transient catalog conflict (see {@link isTransientConflict}). */
const TRANSIENT_ATTEMPTS = 5;
/** Base of the jittered backoff between those attempts. */
const TRANSIENT_RETRY_BASE_MS = 25;

/** Top-level config fields; everything else sent to `config/:name` is kept as connection details. */
const CONFIG_FIELDS = new Set([
  'name',
  'plugin_name',
  'plugin_version',
  'allowed_roles',
  'verify_connection',
  'root_rotation_statements',
  'password_policy',
]);

/** Connection details never returned by a read. */
const SECRET_DETAILS = ['password', 'private_key', 'service_account_json'];

const NAME = NAME_PATTERN;

/** A list response of a map's names (sorted), or nothing (404) when it is empty. */
function listOrNothing(entries: ReadonlyMap<string, unknown>): LogicalResponse | null {
  const keys = [...entries.keys()].sort();
  return keys.length ? listResponse(keys) : null;
}

interface ConfigEntry {
  pluginName: string;
  /** Everything else the client sent (connection_url, username, password, max_open_connections, …). */
  connectionDetails: Record<string, unknown>;
  allowedRoles: string[];
  rootRotationStatements: string[];
  passwordPolicy: string;
  verifyConnection: boolean;
}

interface RoleEntry {
  dbName: string;
  creation: string[];
  revocation: string[];
  rollback: string[];
  renewal: string[];
  defaultTtl: number;
  maxTtl: number;
}

interface StaticRoleEntry {
  dbName: string;
  username: string;
  password: string;
  rotationStatements: string[];
  rotationPeriod: number;
  /** ms since epoch. */
  lastVaultRotation: number;
  /** ms since epoch. */
  nextRotation: number;
}

interface ConnectionState {
  connection: PostgresConnection;
  usernameTemplate: UsernameTemplate;
}

/** A 500 carrying a plain Go error's text (Vault answers handler errors without a response this way). */
const internalError = (message: string): LogicalError => new LogicalError(500, message);

function detailString(details: Record<string, unknown>, key: string): string {
  return getString(details, key) ?? '';
}

function detailInt(details: Record<string, unknown>, key: string, fallback: number): number {
  const value = getInt(details, key);
  return value === undefined ? fallback : value;
}

function isAllowedRole(config: ConfigEntry, role: string): boolean {
  return (
    config.allowedRoles.includes('*') || config.allowedRoles.some((pattern) => globMatches(pattern, role))
  );
}

function internalString(internal: Readonly<Record<string, unknown>>, key: string): string | undefined {
  const value = internal[key];
  return typeof value === 'string' ? value : undefined;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * PostgreSQL's transient failures of concurrent role and grant changes: two transactions that update the same
 * catalog row (e.g. `GRANT`/`REVOKE` on one table, schema or database, `CREATE`/`DROP ROLE … IN ROLE` one group)
 * fail the later one with `tuple concurrently updated`/`deleted` (SQLSTATE XX000); and serialization failures and
 * deadlocks (40001, 40P01). Running the transaction again succeeds once the other one committed.
 */
function isTransientConflict(error: unknown): boolean {
  if (!(error instanceof SanitizedDatabaseError) || error.stage !== 'query') return false;
  if (error.code === '40001' || error.code === '40P01') return true;
  return error.code === 'XX000' && /tuple concurrently (updated|deleted)/.test(error.message);
}

/** Vault's plugin wording for a failed statement run: `unable to get connection: …` or `failed to execute query: …`. */
function statementFailure(error: unknown): string {
  if (error instanceof SanitizedDatabaseError && error.stage === 'connect')
    return `unable to get connection: ${error.message}`;
  return `failed to execute query: ${messageOf(error)}`;
}

/** The engine behind one `database` mount. */
export class DatabaseBackend implements Backend {
  readonly type = 'database';

  private readonly configs = new Map<string, ConfigEntry>();
  private readonly connections = new Map<string, ConnectionState>();
  private readonly roles = new Map<string, RoleEntry>();
  private readonly staticRoles = new Map<string, StaticRoleEntry>();
  private readonly timers = new Map<string, LongTimer>();
  /** Serialises rotations per static role. */
  private readonly rotations = new KeyedSerialQueue<string>();
  /** Serialises credential creation and revocation per connection, creations first (see {@link changeRoles}). */
  private readonly roleChanges = new KeyedPrioritySerialQueue<string>();
  /** Aborts the backoff waits of {@link changeRoles} on close. */
  private readonly closing = new AbortController();
  private closed = false;

  constructor(private readonly context: BackendContext) {}

  /** Vault's database engine paths (https://github.com/hashicorp/vault/tree/main/builtin/logical/database). */
  private readonly router = new Router([
    { pattern: /^config\/?$/, operations: { list: () => listOrNothing(this.configs) } },
    { pattern: /^roles\/?$/, operations: { list: () => listOrNothing(this.roles) } },
    { pattern: /^static-roles\/?$/, operations: { list: () => listOrNothing(this.staticRoles) } },
    {
      pattern: 'config/:name',
      operations: {
        read: (_r, { name = '' }) => this.readConfig(name),
        update: (r, { name = '' }) => this.writeConfig(name, r.data),
        delete: (_r, { name = '' }) => this.deleteConfig(name),
      },
    },
    { pattern: 'reset/:name', operations: { update: (_r, { name = '' }) => this.resetConnection(name) } },
    { pattern: 'rotate-root/:name', operations: { update: (_r, { name = '' }) => this.rotateRoot(name) } },
    {
      pattern: 'roles/:name',
      operations: {
        read: (_r, { name = '' }) => this.readRole(name),
        update: (r, { name = '' }) => this.writeRole(name, r.data),
        delete: (_r, { name = '' }) => {
          this.roles.delete(name);
          return null;
        },
      },
    },
    {
      pattern: 'static-roles/:name',
      operations: {
        read: (_r, { name = '' }) => this.readStaticRole(name),
        update: (r, { name = '' }) => this.writeStaticRole(name, r.data),
        delete: (_r, { name = '' }) => this.deleteStaticRole(name),
      },
    },
    { pattern: 'creds/:name', operations: { read: (r, { name = '' }) => this.createCredentials(name, r) } },
    {
      pattern: 'static-creds/:name',
      operations: { read: (_r, { name = '' }) => this.readStaticCredentials(name) },
    },
    { pattern: 'rotate-role/:name', operations: { update: (_r, { name = '' }) => this.rotateRole(name) } },
  ]);

  async handle(request: LogicalRequest): Promise<LogicalResponse | null> {
    return this.router.dispatch(request);
  }

  async exists(request: LogicalRequest): Promise<boolean> {
    const match = new RegExp(`^(config|roles|static-roles)/(${NAME})$`).exec(request.path);
    if (!match) return false;
    const name = match[2] as string;
    if (match[1] === 'config') return this.configs.has(name);
    if (match[1] === 'roles') return this.roles.has(name);
    return this.staticRoles.has(name);
  }

  // ---------------------------------------------------------------- connections

  private getConfig(name: string): ConfigEntry {
    const config = this.configs.get(name);
    if (!config)
      throw internalError(`failed to find entry for connection with name: ${JSON.stringify(name)}`);
    return config;
  }

  /** Builds (and validates) the pool and username template for a configuration; does not connect. */
  private buildConnection(config: ConfigEntry): ConnectionState {
    const details = config.connectionDetails;
    const connectionUrl = detailString(details, 'connection_url');
    if (!connectionUrl) throw badRequest('error creating database object: connection_url cannot be empty');
    // As Vault's SQL connection producer: 0 (or unset) means the default of 4.
    const requestedConnections = detailInt(details, 'max_open_connections', 0);
    const maxOpenConnections = requestedConnections > 0 ? requestedConnections : 4;
    const maxConnectionLifetime = has(details, 'max_connection_lifetime')
      ? (getDuration(details, 'max_connection_lifetime') ?? 0)
      : 0;
    const templateSource = detailString(details, 'username_template') || DEFAULT_POSTGRES_USERNAME_TEMPLATE;
    let usernameTemplate: UsernameTemplate;
    try {
      usernameTemplate = new UsernameTemplate(templateSource);
    } catch (error) {
      throw badRequest(
        `error creating database object: unable to initialize username template: ${messageOf(error)}`,
      );
    }
    try {
      usernameTemplate.generate({ DisplayName: '', RoleName: '' }, this.context.now());
    } catch (error) {
      throw badRequest(`error creating database object: invalid username template: ${messageOf(error)}`);
    }
    const connection = new PostgresConnection(
      {
        connectionUrl,
        username: detailString(details, 'username'),
        password: detailString(details, 'password'),
        maxOpenConnections,
        maxConnectionLifetime,
      },
      (level, message, fields) => this.context.log(level, message, fields),
    );
    return { connection, usernameTemplate };
  }

  /** The live connection for a configuration, opened on first use (after `reset` or `rotate-root`). */
  private getConnection(name: string): ConnectionState {
    if (this.closed) throw internalError('the database engine of this mount is closed');
    const existing = this.connections.get(name);
    if (existing) return existing;
    const state = this.buildConnection(this.getConfig(name));
    this.connections.set(name, state);
    return state;
  }

  private async dropConnection(name: string): Promise<void> {
    const state = this.connections.get(name);
    this.connections.delete(name);
    if (state) await state.connection.close();
  }

  // ---------------------------------------------------------------- config

  private readConfig(name: string): LogicalResponse | null {
    const config = this.configs.get(name);
    if (!config) return null;
    const details: Record<string, unknown> = { ...config.connectionDetails };
    for (const key of SECRET_DETAILS) delete details[key];
    return {
      data: {
        plugin_name: config.pluginName,
        plugin_version: '',
        connection_details: details,
        allowed_roles: [...config.allowedRoles],
        root_credentials_rotate_statements: [...config.rootRotationStatements],
        password_policy: config.passwordPolicy,
        verify_connection: config.verifyConnection,
      },
    };
  }

  private async writeConfig(name: string, data: Record<string, unknown>): Promise<LogicalResponse> {
    const existing = this.configs.get(name);
    const pluginName = getString(data, 'plugin_name') ?? existing?.pluginName ?? '';
    if (!pluginName) throw badRequest('empty plugin name');
    if (pluginName !== POSTGRES_PLUGIN_NAME) {
      throw badRequest(
        `unsupported plugin_name ${JSON.stringify(pluginName)}: this dev server implements only "${POSTGRES_PLUGIN_NAME}"`,
      );
    }
    const warnings: string[] = [];
    const connectionDetails: Record<string, unknown> = existing ? { ...existing.connectionDetails } : {};
    for (const [key, value] of Object.entries(data)) {
      if (!CONFIG_FIELDS.has(key) && value !== undefined) connectionDetails[key] = value;
    }
    const passwordPolicy = getString(data, 'password_policy') ?? existing?.passwordPolicy ?? '';
    if (passwordPolicy) {
      warnings.push(
        `password_policy ${JSON.stringify(passwordPolicy)} is ignored by this dev server: passwords use Vault's default policy (20 characters [A-Za-z0-9-])`,
      );
    }
    const config: ConfigEntry = {
      pluginName,
      connectionDetails,
      allowedRoles: getCommaStringSlice(data, 'allowed_roles') ?? existing?.allowedRoles ?? [],
      rootRotationStatements:
        getStringSlice(data, 'root_rotation_statements') ?? existing?.rootRotationStatements ?? [],
      passwordPolicy,
      verifyConnection: getBool(data, 'verify_connection') ?? true,
    };

    const state = this.buildConnection(config);
    if (config.verifyConnection) {
      try {
        await state.connection.verify();
      } catch (error) {
        await state.connection.close();
        throw badRequest(`error creating database object: error verifying - ping: ${messageOf(error)}`);
      }
    }
    await this.dropConnection(name);
    this.configs.set(name, config);
    this.connections.set(name, state);

    const connectionUrl = detailString(connectionDetails, 'connection_url');
    try {
      // A templated password (`{{password}}`) is not a password (Go's url.Parse even rejects the braces).
      const urlPassword = decodeURIComponent(new URL(connectionUrl).password);
      if (urlPassword && !urlPassword.includes('{{'))
        warnings.push(
          'Password found in connection_url, use a templated url to enable root rotation and prevent read access to password information.',
        );
    } catch {
      // not a URL: nothing to warn about
    }
    this.context.log('info', 'database: connection configured', { name, verified: config.verifyConnection });
    return warnings.length ? { warnings } : {};
  }

  private async deleteConfig(name: string): Promise<null> {
    this.configs.delete(name);
    await this.dropConnection(name);
    return null;
  }

  private async resetConnection(name: string): Promise<null> {
    this.getConfig(name);
    await this.dropConnection(name);
    const state = this.getConnection(name);
    try {
      await state.connection.verify();
    } catch (error) {
      throw internalError(`error verifying - ping: ${messageOf(error)}`);
    }
    return null;
  }

  private async rotateRoot(name: string): Promise<null> {
    const config = this.getConfig(name);
    const rootUsername = detailString(config.connectionDetails, 'username');
    if (!rootUsername) throw internalError('unable to rotate root credentials: no username in configuration');
    const state = this.getConnection(name);
    const password = generateDatabasePassword();
    const statements = config.rootRotationStatements.length
      ? config.rootRotationStatements
      : [DEFAULT_ROTATION_STATEMENT];
    const queries = expandStatements(statements, false).map((query) =>
      substitute(query, { name: rootUsername, username: rootUsername, password }),
    );
    try {
      await state.connection.transaction(queries, [password]);
    } catch (error) {
      throw internalError(`failed to update user: ${statementFailure(error)}`);
    }
    config.connectionDetails = { ...config.connectionDetails, password };
    await this.dropConnection(name);
    this.context.log('info', 'database: root credentials rotated', { name, username: rootUsername });
    return null;
  }

  // ---------------------------------------------------------------- dynamic roles

  private readRole(name: string): LogicalResponse | null {
    const role = this.roles.get(name);
    if (!role) return null;
    return {
      data: {
        db_name: role.dbName,
        creation_statements: [...role.creation],
        revocation_statements: [...role.revocation],
        rollback_statements: [...role.rollback],
        renew_statements: [...role.renewal],
        default_ttl: role.defaultTtl,
        max_ttl: role.maxTtl,
        credential_type: 'password',
      },
    };
  }

  private writeRole(name: string, data: Record<string, unknown>): null {
    if (this.staticRoles.has(name)) throw badRequest('Role and Static Role names must be unique');
    const existing = this.roles.get(name);
    const credentialType = getString(data, 'credential_type');
    if (credentialType !== undefined && credentialType !== 'password')
      throw badRequest(
        `invalid credential_type ${JSON.stringify(credentialType)}: this dev server supports only "password"`,
      );
    const role: RoleEntry = {
      dbName: getString(data, 'db_name') ?? existing?.dbName ?? '',
      creation: getStringSlice(data, 'creation_statements') ?? existing?.creation ?? [],
      revocation: getStringSlice(data, 'revocation_statements') ?? existing?.revocation ?? [],
      rollback: getStringSlice(data, 'rollback_statements') ?? existing?.rollback ?? [],
      renewal: getStringSlice(data, 'renew_statements') ?? existing?.renewal ?? [],
      defaultTtl: getDuration(data, 'default_ttl') ?? existing?.defaultTtl ?? 0,
      maxTtl: getDuration(data, 'max_ttl') ?? existing?.maxTtl ?? 0,
    };
    if (!role.dbName) throw badRequest('database name is required');
    if (role.creation.length === 0) throw badRequest('empty creation statements');
    if (role.defaultTtl < 0 || role.maxTtl < 0)
      throw badRequest('default_ttl and max_ttl cannot be negative');
    this.roles.set(name, role);
    return null;
  }

  /** Vault's `CalculateTTL` for an issue (no increment, start = now): role default else mount default, capped. */
  private issueTtl(role: RoleEntry): number {
    let maxTtl = this.context.maxLeaseTtl();
    if (role.maxTtl > 0 && role.maxTtl < maxTtl) maxTtl = role.maxTtl;
    const ttl = role.defaultTtl > 0 ? role.defaultTtl : this.context.defaultLeaseTtl();
    return maxTtl > 0 && ttl > maxTtl ? maxTtl : ttl;
  }

  private async createCredentials(name: string, request: LogicalRequest): Promise<LogicalResponse> {
    const role = this.roles.get(name);
    if (!role) throw badRequest(`unknown role: ${name}`);
    const config = this.getConfig(role.dbName);
    if (!isAllowedRole(config, name)) throw internalError(`${JSON.stringify(name)} is not an allowed role`);
    const state = this.getConnection(role.dbName);

    const now = this.context.now();
    const expiration = formatExpiration(now + this.issueTtl(role) * 1000 + EXPIRATION_BUFFER_MS);
    let username: string;
    try {
      username = state.usernameTemplate.generate(
        { DisplayName: request.token?.displayName ?? '', RoleName: name },
        now,
      );
    } catch (error) {
      if (error instanceof TemplateError)
        throw internalError(`unable to generate username: ${error.message}`);
      throw error;
    }
    const password = generateDatabasePassword();
    const values = { name: username, username, password, expiration };
    const queries = expandStatements(role.creation, true).map((query) => substitute(query, values));
    try {
      await this.changeRoles(role.dbName, 'urgent', (connection) =>
        connection.transaction(queries, [password]),
      );
    } catch (error) {
      throw internalError(statementFailure(error));
    }
    this.context.log('info', 'database: credentials created', { role: name, db_name: role.dbName, username });
    return {
      data: { username, password },
      secret: {
        ttl: role.defaultTtl,
        maxTtl: role.maxTtl,
        renewable: true,
        internal: { username, role: name, db_name: role.dbName, revocation_statements: [...role.revocation] },
      },
    };
  }

  async renewSecret(lease: LeaseView, newExpireTime: number): Promise<void> {
    const username = internalString(lease.internal, 'username');
    if (!username) throw internalError('secret is missing username internal data');
    const roleName = internalString(lease.internal, 'role') ?? '';
    const role = this.roles.get(roleName);
    if (!role)
      throw badRequest(`error during renew: could not find role with name ${JSON.stringify(roleName)}`);
    if (newExpireTime <= this.context.now()) return;
    const state = this.getConnection(role.dbName);
    const expiration = formatExpiration(newExpireTime + EXPIRATION_BUFFER_MS);
    const statements = role.renewal.length ? role.renewal : [DEFAULT_RENEW_STATEMENT];
    const queries = expandStatements(statements, false).map((query) =>
      substitute(query, { name: username, username, expiration }),
    );
    try {
      await state.connection.transaction(queries);
    } catch (error) {
      throw badRequest(messageOf(error));
    }
    this.context.log('debug', 'database: credentials renewed', { role: roleName, username });
  }

  async revokeSecret(lease: LeaseView): Promise<void> {
    const username = internalString(lease.internal, 'username');
    if (!username) throw internalError('secret is missing username internal data');
    const roleName = internalString(lease.internal, 'role') ?? '';
    const role = this.roles.get(roleName);
    let dbName: string;
    let statements: string[];
    if (role) {
      dbName = role.dbName;
      statements = role.revocation;
    } else {
      const embedded = internalString(lease.internal, 'db_name');
      if (!embedded)
        throw internalError(
          `error during revoke: could not find role with name ${JSON.stringify(roleName)} or embedded revocation db name data`,
        );
      dbName = embedded;
      const raw = lease.internal.revocation_statements;
      statements = Array.isArray(raw) ? raw.filter((item): item is string => typeof item === 'string') : [];
    }
    const queries = expandStatements(statements, true).map((query) =>
      substitute(query, { name: username, username }),
    );
    try {
      await this.changeRoles(dbName, 'background', (connection) =>
        statements.length ? connection.transaction(queries) : this.defaultRevoke(connection, username),
      );
    } catch (error) {
      throw badRequest(messageOf(error));
    }
    this.context.log('info', 'database: credentials revoked', { role: roleName, username });
  }

  /**
   * Runs a credential creation or revocation on connection `dbName`: one at a time per connection, so that this
   * server's own concurrent issues and revocations never update the same catalog rows together (PostgreSQL fails
   * concurrent `GRANT`/`REVOKE`/`CREATE ROLE`/`DROP ROLE` on one object with `tuple concurrently updated`); and
   * again, after a short jittered backoff, when it still meets such a conflict with another session
   * ({@link isTransientConflict}). The work must be atomic or idempotent: a creation is one transaction, the default
   * revocation is idempotent. Creations (`urgent`: a client waits) run before queued revocations (`background`).
   */
  private changeRoles(
    dbName: string,
    priority: 'urgent' | 'background',
    work: (connection: PostgresConnection) => Promise<void>,
  ): Promise<void> {
    return this.roleChanges.run(dbName, priority, async () => {
      for (let attempt = 1; ; attempt++) {
        try {
          return await work(this.getConnection(dbName).connection);
        } catch (error) {
          if (attempt >= TRANSIENT_ATTEMPTS || this.closed || !isTransientConflict(error)) throw error;
          const wait = Math.round(TRANSIENT_RETRY_BASE_MS * 2 ** attempt * (0.5 + Math.random()));
          this.context.log('debug', 'database: transient conflict, running the statements again', {
            db_name: dbName,
            attempt,
            retry_in_ms: wait,
            error: messageOf(error),
          });
          await delay(wait, undefined, { ref: false, signal: this.closing.signal }).catch(() => undefined);
        }
      }
    });
  }

  /**
   * The PostgreSQL plugin's default revocation, step for step: nothing to do when the role is gone; otherwise
   * revoke table privileges and schema usage for every schema it holds column grants in, then on `public` (tables,
   * sequences, usage), then CONNECT on the current database — continuing past failures to strip as much as
   * possible — and finally `DROP ROLE IF EXISTS`. Like Vault, open sessions of the role are not terminated.
   */
  private async defaultRevoke(connection: PostgresConnection, username: string): Promise<void> {
    const found = await connection.query<{ exists: boolean }>(
      'SELECT exists (SELECT rolname FROM pg_roles WHERE rolname=$1)',
      [username],
    );
    if (!found[0]?.exists) return;
    const user = quoteIdentifier(username);
    const schemas = await connection.query<{ table_schema: string }>(
      'SELECT DISTINCT table_schema FROM information_schema.role_column_grants WHERE grantee=$1',
      [username],
    );
    const statements: string[] = [];
    for (const { table_schema: schema } of schemas) {
      statements.push(
        `REVOKE ALL PRIVILEGES ON ALL TABLES IN SCHEMA ${quoteIdentifier(schema)} FROM ${user};`,
      );
      statements.push(`REVOKE USAGE ON SCHEMA ${quoteIdentifier(schema)} FROM ${user};`);
    }
    statements.push(`REVOKE ALL PRIVILEGES ON ALL TABLES IN SCHEMA public FROM ${user};`);
    statements.push(`REVOKE ALL PRIVILEGES ON ALL SEQUENCES IN SCHEMA public FROM ${user};`);
    statements.push(`REVOKE USAGE ON SCHEMA public FROM ${user};`);
    const database = await connection.query<{ current_database: string | null }>('SELECT current_database()');
    const dbname = database[0]?.current_database;
    if (dbname) statements.push(`REVOKE CONNECT ON DATABASE ${quoteIdentifier(dbname)} FROM ${user};`);
    let lastError: unknown;
    for (const statement of statements) {
      try {
        await connection.query(statement);
      } catch (error) {
        lastError = error;
      }
    }
    if (lastError !== undefined)
      throw new SanitizedDatabaseError(
        `could not perform all revocation statements: ${messageOf(lastError)}`,
        (lastError as SanitizedDatabaseError).code,
      );
    await connection.query(`DROP ROLE IF EXISTS ${user};`);
  }

  // ---------------------------------------------------------------- static roles

  private readStaticRole(name: string): LogicalResponse | null {
    const role = this.staticRoles.get(name);
    if (!role) return null;
    return {
      data: {
        db_name: role.dbName,
        username: role.username,
        rotation_statements: [...role.rotationStatements],
        rotation_period: role.rotationPeriod,
        last_vault_rotation: formatGoTime(role.lastVaultRotation),
        credential_type: 'password',
      },
    };
  }

  private async writeStaticRole(name: string, data: Record<string, unknown>): Promise<null> {
    if (this.roles.has(name)) throw badRequest('Role and Static Role names must be unique');
    const existing = this.staticRoles.get(name);
    const dbName = getString(data, 'db_name') ?? existing?.dbName ?? '';
    if (!dbName) throw badRequest('database name is a required field');
    const username = getString(data, 'username') ?? existing?.username ?? '';
    if (!username) throw badRequest('username is a required field to create a static account');
    if (existing && existing.username !== username) throw badRequest('cannot update static account username');
    if (has(data, 'rotation_schedule') && getString(data, 'rotation_schedule'))
      throw badRequest('rotation_schedule is not supported by this dev server: use rotation_period');
    const rotationPeriod = getDuration(data, 'rotation_period');
    if (!existing && rotationPeriod === undefined)
      throw badRequest(
        'one of rotation_schedule or rotation_period must be provided to create a static account',
      );
    if (rotationPeriod !== undefined && rotationPeriod < MIN_ROTATION_PERIOD_SECONDS)
      throw badRequest(`rotation_period must be ${MIN_ROTATION_PERIOD_SECONDS} seconds or more`);
    const credentialType = getString(data, 'credential_type');
    if (credentialType !== undefined && credentialType !== 'password')
      throw badRequest(
        `invalid credential_type ${JSON.stringify(credentialType)}: this dev server supports only "password"`,
      );
    const rotationStatements =
      getStringSlice(data, 'rotation_statements') ?? existing?.rotationStatements ?? [];

    if (!existing) {
      const role: StaticRoleEntry = {
        dbName,
        username,
        password: '',
        rotationStatements,
        rotationPeriod: rotationPeriod as number,
        lastVaultRotation: 0,
        nextRotation: 0,
      };
      // Vault rotates the password as the role is created; the role is only stored when that succeeds.
      await this.setStaticPassword(name, role);
      this.staticRoles.set(name, role);
      this.schedule(name);
      return null;
    }
    existing.dbName = dbName;
    existing.rotationStatements = rotationStatements;
    if (rotationPeriod !== undefined) {
      existing.rotationPeriod = rotationPeriod;
      existing.nextRotation = existing.lastVaultRotation + rotationPeriod * 1000;
      this.schedule(name);
    }
    return null;
  }

  private deleteStaticRole(name: string): null {
    this.staticRoles.delete(name);
    this.clearTimer(name);
    return null;
  }

  /** Generates a new password and sets it on the database user with the rotation statements. */
  private async setStaticPassword(name: string, role: StaticRoleEntry): Promise<void> {
    const config = this.getConfig(role.dbName);
    if (!isAllowedRole(config, name)) throw internalError(`${JSON.stringify(name)} is not an allowed role`);
    const state = this.getConnection(role.dbName);
    const password = generateDatabasePassword();
    const statements = role.rotationStatements.length
      ? role.rotationStatements
      : [DEFAULT_ROTATION_STATEMENT];
    const queries = expandStatements(statements, false).map((query) =>
      substitute(query, { name: role.username, username: role.username, password }),
    );
    try {
      await state.connection.transaction(queries, [password]);
    } catch (error) {
      throw internalError(`error setting credentials: ${statementFailure(error)}`);
    }
    const now = this.context.now();
    role.password = password;
    role.lastVaultRotation = now;
    role.nextRotation = now + role.rotationPeriod * 1000;
    this.context.log('info', 'database: static role password rotated', {
      role: name,
      username: role.username,
    });
  }

  /** Rotates one static role, serialised with any rotation already running for it. */
  private rotateStatic(name: string): Promise<void> {
    return this.rotations.run(name, async () => {
      const role = this.staticRoles.get(name);
      if (!role || this.closed) return;
      await this.setStaticPassword(name, role);
    });
  }

  private clearTimer(name: string): void {
    this.timers.get(name)?.clear();
    this.timers.delete(name);
  }

  /**
   * Arms the rotation timer of a static role for its `nextRotation` (or `delayOverride` ms from now); a long timer, so
   * any `rotation_period` works (unref'ed; cleared by `close()`).
   */
  private schedule(name: string, delayOverride?: number): void {
    this.clearTimer(name);
    const role = this.staticRoles.get(name);
    if (!role || this.closed) return;
    const at = delayOverride === undefined ? role.nextRotation : this.context.now() + delayOverride;
    const timer = scheduleAt(
      at,
      () => {
        this.timers.delete(name);
        return this.rotateStatic(name).then(
          () => this.schedule(name),
          (error: unknown) => {
            this.context.log('warn', 'database: scheduled static role rotation failed; retrying in 10s', {
              role: name,
              error: messageOf(error),
            });
            this.schedule(name, ROTATION_RETRY_MS);
          },
        );
      },
      this.context.clock,
    );
    this.timers.set(name, timer);
  }

  private readStaticCredentials(name: string): LogicalResponse {
    const role = this.staticRoles.get(name);
    if (!role) throw badRequest(`unknown role: ${name}`);
    const config = this.getConfig(role.dbName);
    if (!isAllowedRole(config, name)) throw internalError(`${JSON.stringify(name)} is not an allowed role`);
    const ttl = Math.max(0, Math.round((role.nextRotation - this.context.now()) / 1000));
    return {
      data: {
        username: role.username,
        password: role.password,
        last_vault_rotation: formatGoTime(role.lastVaultRotation),
        rotation_period: role.rotationPeriod,
        ttl,
      },
    };
  }

  private async rotateRole(name: string): Promise<null> {
    if (!this.staticRoles.has(name)) throw badRequest('no static role found for role name');
    this.clearTimer(name);
    try {
      await this.rotateStatic(name);
    } finally {
      this.schedule(name);
    }
    return null;
  }

  // ---------------------------------------------------------------- lifecycle

  async close(): Promise<void> {
    this.closed = true;
    this.closing.abort();
    for (const timer of this.timers.values()) timer.clear();
    this.timers.clear();
    await Promise.all([this.rotations.idle(), this.roleChanges.idle()]);
    const states = [...this.connections.values()];
    this.connections.clear();
    await Promise.all(states.map((state) => state.connection.close()));
  }
}

/** {@link BackendFactory} for `type: "database"` mounts. */
export const databaseBackend: BackendFactory = (context) => new DatabaseBackend(context);
