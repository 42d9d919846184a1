/**
 * The notes service on Express 5: one rotating pool (`@leasehold/pg`) and the `@leasehold/express` pieces — a
 * readiness gate (503 until logged in and while Vault is down), `req.vault`, and a graceful shutdown that stops
 * accepting, lets requests finish, drains the pool and revokes the leases and the token. The domain
 * (`NotesService`) is shared by the three examples.
 *
 * Routes: `GET /notes`, `POST /notes` `{ title, body }`, `GET /notes/:id`, `DELETE /notes/:id`, `GET /settings`,
 * `GET /health` (liveness), `GET /ready` (Vault and the database answer).
 */
import type { Server } from 'node:http';
import { createVault, type LeaseOptions, type Vault, type VaultOptions } from '@leasehold/core';
import { type GracefulShutdown, gracefulShutdown, vaultMiddleware, vaultReadiness } from '@leasehold/express';
import {
  NOTES,
  type NotesDatabase,
  NotesService,
  notesErrorResponse,
  parseNoteId,
} from '@leasehold/notes-common';
import { createRotatingPool, type RotatingPool } from '@leasehold/pg';
import express, { type Express, type NextFunction, type Request, type Response } from 'express';

export { databaseFromUrl } from '@leasehold/notes-common';

/** Options of {@link createNotesApp}. */
export interface NotesAppOptions {
  /** A Vault client; default: `createVault(vaultOptions)` (everything from `VAULT_*` variables). */
  vault?: Vault;
  /** Options of the client created when `vault` is not given. */
  vaultOptions?: VaultOptions;
  /** Where the notes live (credentials come from Vault), and the pool size (default 10). */
  database: NotesDatabase & { max?: number };
  /** Lease options of the database credentials. */
  leaseOptions?: LeaseOptions;
}

/** The app and what it owns. */
export interface NotesApp {
  app: Express;
  vault: Vault;
  pool: RotatingPool;
}

/** Builds the Express app, its Vault client and its rotating pool (nothing listens yet). */
export function createNotesApp(options: NotesAppOptions): NotesApp {
  const vault = options.vault ?? createVault(options.vaultOptions);
  const pool = createRotatingPool({
    vault,
    role: NOTES.databaseRole,
    host: options.database.host,
    port: options.database.port,
    database: options.database.database,
    max: options.database.max ?? 10,
    leaseOptions: options.leaseOptions,
  });
  // An idle connection that fails (database restart) must not crash the process.
  pool.on('error', (error: Error & { code?: string }) =>
    console.warn('idle database connection failed', error.code),
  );
  const notes = new NotesService(vault, pool);

  const app = express();
  app.disable('x-powered-by');
  // Liveness and readiness answer before the gate.
  app.get('/health', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/ready', async (_req, res) => {
    const { status, body } = await notes.readiness();
    res.status(status).json(body);
  });
  app.use(vaultReadiness(vault), vaultMiddleware(vault), express.json());

  app.get('/settings', async (_req, res) => {
    const { greeting, maxBodyLength } = await notes.settings();
    res.json({ greeting, maxBodyLength });
  });
  app.get('/notes', async (_req, res) => {
    res.json({ notes: await notes.list() });
  });
  app.post('/notes', async (req, res) => {
    res.status(201).json(await notes.create(req.body));
  });
  app.get('/notes/:id', async (req, res) => {
    const note = await notes.get(parseNoteId(req.params.id));
    if (note) res.json(note);
    else res.status(404).json({ error: 'note not found' });
  });
  app.delete('/notes/:id', async (req, res) => {
    if (await notes.delete(parseNoteId(req.params.id))) res.status(204).end();
    else res.status(404).json({ error: 'note not found' });
  });

  // Express 5 passes rejected promises of async handlers here.
  app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const clientStatus = (error as { status?: number }).status;
    if (clientStatus && clientStatus >= 400 && clientStatus < 500) {
      res.status(clientStatus).json({ error: (error as Error).message }); // e.g. invalid JSON from express.json()
      return;
    }
    const { status, body } = notesErrorResponse(error);
    if (status === 500) console.error('request failed', (error as Error).message);
    res.status(status).json(body);
  });

  return { app, vault, pool };
}

/** A listening notes server. */
export interface NotesServer extends NotesApp {
  server: Server;
  /** `http://host:port` */
  url: string;
  /** Graceful shutdown (also run by the signals given to {@link startNotesServer}). */
  shutdown(): Promise<void>;
}

/**
 * Logs in and gets the first database credentials (within `readyTimeoutMs`, default 30 s), then listens. `signals`
 * (default none) trigger the graceful shutdown.
 */
export async function startNotesServer(
  options: NotesAppOptions & {
    port?: number;
    host?: string;
    readyTimeoutMs?: number;
    signals?: NodeJS.Signals[];
  },
): Promise<NotesServer> {
  const notesApp = createNotesApp(options);
  const { app, vault, pool } = notesApp;
  const timeoutMs = options.readyTimeoutMs ?? 30_000;
  try {
    await vault.ready({ timeoutMs });
    await pool.lease.ready({ timeoutMs });
  } catch (error) {
    await pool.end().catch(() => undefined);
    await vault.close();
    throw error;
  }
  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(options.port ?? 3000, options.host ?? '127.0.0.1', (error?: Error) =>
      error ? reject(error) : resolve(s),
    );
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const graceful: GracefulShutdown = gracefulShutdown(server, vault, {
    pools: [pool],
    signals: options.signals ?? [],
  });
  return {
    ...notesApp,
    server,
    url: `http://${options.host ?? '127.0.0.1'}:${port}`,
    shutdown: graceful.shutdown,
  };
}
