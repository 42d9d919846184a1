/**
 * The notes service on Fastify: a tiny API whose note bodies are encrypted with Vault transit, whose settings come
 * from KV v2, and whose PostgreSQL users are short-lived Vault credentials behind a rotating pool.
 *
 * Routes: `GET /notes`, `POST /notes` `{ title, body }`, `GET /notes/:id`, `DELETE /notes/:id`, `GET /settings`,
 * `GET /health` (liveness), `GET /ready` (Vault and the database answer).
 */
import { createVault, type LeaseOptions, type Vault, VaultError, type VaultOptions } from '@leasehold/core';
import { vaultPlugin } from '@leasehold/fastify';
import type { RotatingPool } from '@leasehold/pg';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';

declare module '@leasehold/fastify' {
  interface VaultDatabases {
    notes: RotatingPool;
  }
}

/** Where the service connects; credentials come from Vault. */
export interface NotesDatabase {
  host: string;
  port: number;
  database: string;
  /** Pool size (default 10). */
  max?: number;
}

/** Options of {@link buildNotesApp}. */
export interface NotesAppOptions {
  /** A Vault client; default: `createVault(vaultOptions)` (everything from `VAULT_*` variables). Closed with the app. */
  vault?: Vault;
  /** Options of the client the app creates when `vault` is not given. */
  vaultOptions?: VaultOptions;
  database: NotesDatabase;
  /** Database role (default `notes-rw`), transit key (default `notes`), KV settings path (default `notes/config`). */
  names?: { databaseRole?: string; transitKey?: string; settingsPath?: string };
  /** Lease options of the database credentials (rotation margin, drain timeout, retry). */
  leaseOptions?: LeaseOptions;
  /** How long startup waits for Vault and the first credentials, ms (default 30 000). */
  readyTimeoutMs?: number;
  /** Fastify's logger option (default off). */
  logger?: FastifyServerOptions['logger'];
}

interface Settings {
  maxBodyLength: number;
  greeting: string;
}

interface NoteRow {
  id: string;
  title: string;
  body_ciphertext: string;
  created_at: Date;
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

/** Builds the app (not listening yet). `await app.listen()` logs in and opens the pool; `app.close()` revokes. */
export async function buildNotesApp(options: NotesAppOptions): Promise<FastifyInstance> {
  const databaseRole = options.names?.databaseRole ?? 'notes-rw';
  const transitKey = options.names?.transitKey ?? 'notes';
  const settingsPath = options.names?.settingsPath ?? 'notes/config';
  const vault = options.vault ?? createVault(options.vaultOptions);

  const app = Fastify({ logger: options.logger ?? false, forceCloseConnections: 'idle' });
  await app.register(vaultPlugin, {
    vault,
    closeClient: true,
    readyTimeoutMs: options.readyTimeoutMs ?? 30_000,
    databases: {
      notes: {
        driver: 'pg',
        role: databaseRole,
        host: options.database.host,
        port: options.database.port,
        database: options.database.database,
        max: options.database.max ?? 10,
        leaseOptions: options.leaseOptions,
      },
    },
  });

  const settings = async (): Promise<Settings> => {
    const { data } = await app.vault.kv.get<Settings>(settingsPath);
    return data.reveal();
  };

  app.setErrorHandler((error, _request, reply) => {
    if (VaultError.is(error)) {
      // The code and message name the problem; they never contain a secret.
      return reply.code(503).send({ error: 'vault_unavailable', code: error.code });
    }
    const status = (error as { statusCode?: number }).statusCode ?? 500;
    if (status >= 500) app.log.error({ err: error }, 'request failed');
    return reply
      .code(status)
      .send({ error: status >= 500 ? 'internal_error' : (error as Error).message || 'bad request' });
  });

  app.get('/settings', async () => {
    const { greeting, maxBodyLength } = await settings();
    return { greeting, maxBodyLength };
  });

  app.get('/notes', async () => {
    const { rows } = await app.db.notes.query<Omit<NoteRow, 'body_ciphertext'>>(
      'SELECT id, title, created_at FROM notes ORDER BY id DESC LIMIT 20',
    );
    return { notes: rows.map((r) => ({ id: Number(r.id), title: r.title, createdAt: r.created_at })) };
  });

  app.post<{ Body: { title?: unknown; body?: unknown } }>('/notes', async (request, reply) => {
    const { title, body } = request.body ?? {};
    if (typeof title !== 'string' || title.length === 0 || title.length > 200) {
      return reply.code(400).send({ error: 'title must be a string of 1 to 200 characters' });
    }
    const { maxBodyLength } = await settings();
    if (typeof body !== 'string' || body.length > maxBodyLength) {
      return reply.code(400).send({ error: `body must be a string of at most ${maxBodyLength} characters` });
    }
    const { ciphertext } = await app.vault.transit.encrypt(transitKey, body);
    const { rows } = await app.db.notes.query<Pick<NoteRow, 'id' | 'created_at'>>(
      'INSERT INTO notes (title, body_ciphertext) VALUES ($1, $2) RETURNING id, created_at',
      [title, ciphertext],
    );
    const row = rows[0] as Pick<NoteRow, 'id' | 'created_at'>;
    return reply.code(201).send({ id: Number(row.id), title, createdAt: row.created_at });
  });

  app.get<{ Params: { id: string } }>('/notes/:id', async (request, reply) => {
    const id = Number(request.params.id);
    if (!Number.isSafeInteger(id) || id <= 0) return reply.code(400).send({ error: 'id must be a positive integer' });
    const { rows } = await app.db.notes.query<NoteRow>(
      'SELECT id, title, body_ciphertext, created_at FROM notes WHERE id = $1',
      [id],
    );
    const row = rows[0];
    if (!row) return reply.code(404).send({ error: 'note not found' });
    const body = (await app.vault.transit.decrypt(transitKey, row.body_ciphertext)).reveal().toString('utf8');
    return { id, title: row.title, body, createdAt: row.created_at };
  });

  app.delete<{ Params: { id: string } }>('/notes/:id', async (request, reply) => {
    const id = Number(request.params.id);
    if (!Number.isSafeInteger(id) || id <= 0) return reply.code(400).send({ error: 'id must be a positive integer' });
    const { rowCount } = await app.db.notes.query('DELETE FROM notes WHERE id = $1', [id]);
    return rowCount ? reply.code(204).send() : reply.code(404).send({ error: 'note not found' });
  });

  // Liveness: the process serves requests.
  app.get('/health', async () => ({ status: 'ok' }));

  // Readiness: Vault is usable (ready, or degraded with a still-valid token) and the database answers.
  app.get('/ready', async (_request, reply) => {
    const health = app.vault.health();
    let database = 'ok';
    try {
      await app.db.notes.query('SELECT 1');
    } catch (error) {
      database = (error as { code?: string }).code ?? 'unavailable';
    }
    const ready = health.status !== 'down' && database === 'ok';
    return reply.code(ready ? 200 : 503).send({
      status: ready ? 'ready' : 'not_ready',
      vault: { status: health.status, reasons: health.reasons },
      database,
      credentials: { generation: app.db.notes.stats().generation },
    });
  });

  return app;
}
