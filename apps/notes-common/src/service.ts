/**
 * The notes domain, framework-neutral: the three examples (Fastify, Express, NestJS) only wire it into their
 * framework. Note bodies are encrypted with Vault transit before they reach PostgreSQL; settings are read from KV
 * v2 (cached by the client, served stale while Vault is unreachable); queries go through a rotating pool.
 */
import { once } from 'node:events';
import { type HostedDatabaseOptions, type LeaseOptions, type Vault, VaultError } from '@leasehold/core';
import { createRotatingPool, type RotatingPool } from '@leasehold/pg';
import { DEFAULT_NOTES_SETTINGS, NOTES, type NotesSettings } from './setup.js';

/** A note without its body (lists). */
export interface NoteSummary {
  id: number;
  title: string;
  createdAt: Date;
}

/** A note with its decrypted body. */
export interface Note extends NoteSummary {
  body: string;
}

/** Bad input from the caller: answer 400 with `message`. */
export class NotesInputError extends Error {
  readonly statusCode = 400;
  constructor(message: string) {
    super(message);
    this.name = 'NotesInputError';
  }
}

/** Where the service connects; credentials come from Vault. */
export interface NotesDatabase {
  host: string;
  port: number;
  database: string;
}

/** The adapters' `databases.notes` entry: its driver is `createRotatingPool`, so the client is a `RotatingPool`. */
export type NotesDatabaseOptions = HostedDatabaseOptions<typeof createRotatingPool>;

/**
 * The adapters' `databases.notes` entry (`@leasehold/fastify`, `@leasehold/nestjs`, `@leasehold/express`): a
 * rotating pool (`createRotatingPool` from `@leasehold/pg`) on the notes role, at `database` (pool size `max`,
 * default 10), with these lease options.
 */
export function notesDatabaseOptions(
  database: NotesDatabase & { max?: number },
  leaseOptions?: LeaseOptions,
): NotesDatabaseOptions {
  return {
    driver: createRotatingPool,
    role: NOTES.databaseRole,
    host: database.host,
    port: database.port,
    database: database.database,
    max: database.max ?? 10,
    leaseOptions,
  };
}

/** Reads `postgres://host:port/database` (credentials in the URL are refused: they come from Vault). */
export function databaseFromUrl(url: string): NotesDatabase {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error('DATABASE_URL is not a URL: give postgres://host:port/database (no user or password)');
  }
  if (parsed.username || parsed.password) {
    throw new Error('DATABASE_URL must not contain a user or password: the credentials come from Vault');
  }
  return {
    host: parsed.hostname,
    port: Number(parsed.port || 5432),
    database: decodeURIComponent(parsed.pathname.replace(/^\//, '')) || 'postgres',
  };
}

/** Parses a note ID from a path parameter. */
export function parseNoteId(raw: unknown): number {
  const id = Number(raw);
  if (!Number.isSafeInteger(id) || id <= 0) throw new NotesInputError('id must be a positive integer');
  return id;
}

/**
 * Maps an error to an HTTP answer without leaking anything: Vault errors → 503 with their stable code, bad input →
 * 400, anything else → 500.
 */
export function notesErrorResponse(error: unknown): {
  status: number;
  body: { error: string; code?: string };
} {
  if (error instanceof NotesInputError) return { status: 400, body: { error: error.message } };
  if (VaultError.is(error)) return { status: 503, body: { error: 'vault_unavailable', code: error.code } };
  return { status: 500, body: { error: 'internal_error' } };
}

/**
 * SQLSTATEs that mean the statement did not run because of the credentials: the login was rejected (`28P01`,
 * `28000`) or the user lost its privileges because its lease was revoked out of band (`42501`). The pool re-issues
 * the credentials; such a statement is safe to run once more on the new ones.
 */
const CREDENTIAL_FAILURES = new Set(['28P01', '28000', '42501']);

interface NoteRow {
  id: string;
  title: string;
  body_ciphertext: string;
  created_at: Date;
}

/** Options of {@link NotesService}. */
export interface NotesServiceOptions {
  /** Transit key (default `notes`). */
  transitKey?: string;
  /** KV v2 path of the settings in mount `secret` (default `notes/config`). */
  settingsPath?: string;
  /** How long a query waits for new credentials before its one retry, ms (default 5000). */
  credentialWaitMs?: number;
}

/** The notes service. `pool` is the rotating pool, or a function returning it (when it opens after startup). */
export class NotesService {
  readonly #vault: Vault;
  readonly #pool: () => RotatingPool;
  readonly #transitKey: string;
  readonly #settingsPath: string;
  readonly #credentialWaitMs: number;

  constructor(vault: Vault, pool: RotatingPool | (() => RotatingPool), options: NotesServiceOptions = {}) {
    this.#vault = vault;
    this.#pool = typeof pool === 'function' ? pool : () => pool;
    this.#transitKey = options.transitKey ?? NOTES.transitKey;
    this.#settingsPath = options.settingsPath ?? NOTES.settingsPath;
    this.#credentialWaitMs = options.credentialWaitMs ?? 5000;
  }

  /**
   * Runs one statement; if it failed because of the credentials (see `CREDENTIAL_FAILURES`), waits for the pool to
   * move to new ones and runs it once more.
   */
  async #query<R extends object>(text: string, values?: unknown[]): Promise<{ rows: R[]; rowCount: number }> {
    const pool = this.#pool();
    const generation = pool.stats().generation;
    try {
      const res = await pool.query(text, values);
      return { rows: res.rows as R[], rowCount: res.rowCount ?? 0 };
    } catch (error) {
      if (!CREDENTIAL_FAILURES.has((error as { code?: string }).code ?? '')) throw error;
      if (pool.stats().generation === generation) {
        await once(pool, 'rotate', { signal: AbortSignal.timeout(this.#credentialWaitMs) }).catch(
          () => undefined,
        );
      }
      const res = await pool.query(text, values);
      return { rows: res.rows as R[], rowCount: res.rowCount ?? 0 };
    }
  }

  /** The settings from KV (`secret/notes/config`), defaults for missing fields. */
  async settings(): Promise<NotesSettings> {
    const { data } = await this.#vault.kv.get<Partial<NotesSettings>>(this.#settingsPath);
    return { ...DEFAULT_NOTES_SETTINGS, ...data.reveal() };
  }

  /** The 20 newest notes, without bodies. */
  async list(): Promise<NoteSummary[]> {
    const { rows } = await this.#query<Omit<NoteRow, 'body_ciphertext'>>(
      'SELECT id, title, created_at FROM notes ORDER BY id DESC LIMIT 20',
    );
    return rows.map((r) => ({ id: Number(r.id), title: r.title, createdAt: r.created_at }));
  }

  /** Validates `{ title, body }`, encrypts the body with transit and stores the note. */
  async create(input: unknown): Promise<NoteSummary> {
    const { title, body } = (input ?? {}) as { title?: unknown; body?: unknown };
    if (typeof title !== 'string' || title.length === 0 || title.length > 200) {
      throw new NotesInputError('title must be a string of 1 to 200 characters');
    }
    const { maxBodyLength } = await this.settings();
    if (typeof body !== 'string' || body.length > maxBodyLength) {
      throw new NotesInputError(`body must be a string of at most ${maxBodyLength} characters`);
    }
    const { ciphertext } = await this.#vault.transit.encrypt(this.#transitKey, body);
    const { rows } = await this.#query<Pick<NoteRow, 'id' | 'created_at'>>(
      'INSERT INTO notes (title, body_ciphertext) VALUES ($1, $2) RETURNING id, created_at',
      [title, ciphertext],
    );
    const row = rows[0] as Pick<NoteRow, 'id' | 'created_at'>;
    return { id: Number(row.id), title, createdAt: row.created_at };
  }

  /** One note with its body decrypted, or undefined. */
  async get(id: number): Promise<Note | undefined> {
    const { rows } = await this.#query<NoteRow>(
      'SELECT id, title, body_ciphertext, created_at FROM notes WHERE id = $1',
      [id],
    );
    const row = rows[0];
    if (!row) return undefined;
    const body = (await this.#vault.transit.decrypt(this.#transitKey, row.body_ciphertext))
      .reveal()
      .toString('utf8');
    return { id, title: row.title, body, createdAt: row.created_at };
  }

  /** Deletes a note; false when there was none. */
  async delete(id: number): Promise<boolean> {
    const { rowCount } = await this.#query('DELETE FROM notes WHERE id = $1', [id]);
    return rowCount > 0;
  }

  /**
   * Readiness: Vault usable (ready, or degraded with a still-valid token) and the database answering.
   * `status` is 200 or 503.
   */
  async readiness(): Promise<{ status: number; body: Record<string, unknown> }> {
    const health = this.#vault.health();
    let database = 'ok';
    let generation: number | undefined;
    try {
      const pool = this.#pool();
      generation = pool.stats().generation;
      await pool.query('SELECT 1');
    } catch (error) {
      database = (error as { code?: string }).code ?? 'unavailable';
    }
    const ready = health.status !== 'down' && database === 'ok';
    return {
      status: ready ? 200 : 503,
      body: {
        status: ready ? 'ready' : 'not_ready',
        vault: { status: health.status, reasons: health.reasons },
        database,
        credentials: { generation },
      },
    };
  }
}
