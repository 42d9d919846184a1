/**
 * The notes service on Express 5: `createVaultExpress()` (`@leasehold/express`) holds the client and the rotating
 * pool (`databases.notes`, driver `createRotatingPool`), plus a readiness gate (503 until started and while Vault
 * is down), `req.vault`, and a graceful shutdown that stops accepting, lets requests finish, drains the pool and
 * revokes the leases and the token. The domain (`NotesService`) is shared by the three examples.
 *
 * Routes: `GET /notes`, `POST /notes` `{ title, body }`, `GET /notes/:id`, `DELETE /notes/:id`, `GET /settings`,
 * `GET /health` (liveness), `GET /ready` (Vault and the database answer).
 */
import type { Server } from 'node:http';
import { createVault, type LeaseOptions, type Vault, type VaultOptions } from '@leasehold/core';
import {
  createVaultExpress,
  type GracefulShutdown,
  gracefulShutdown,
  type VaultExpress,
  vaultMiddleware,
  vaultReadiness,
} from '@leasehold/express';
import {
  type NotesDatabase,
  type NotesDatabaseOptions,
  NotesService,
  notesDatabaseOptions,
  notesErrorResponse,
  parseNoteId,
} from '@leasehold/notes-common';
import type { RotatingPool } from '@leasehold/pg';
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
  /** How long startup waits for Vault and the first credentials, ms (default 30 000). */
  readyTimeoutMs?: number;
}

/** The app and what it owns. */
export interface NotesApp {
  app: Express;
  vault: Vault;
  /** The client and the rotating pool (`db.notes`, opened by `start()`). */
  vx: VaultExpress<{ notes: NotesDatabaseOptions }>;
  /** The rotating pool (after `vx.start()`). */
  readonly pool: RotatingPool;
}

/** Builds the Express app, its Vault client and its rotating pool (nothing runs until `vx.start()`). */
export function createNotesApp(options: NotesAppOptions): NotesApp {
  const vault = options.vault ?? createVault(options.vaultOptions);
  const vx = createVaultExpress({
    vault,
    closeClient: true,
    readyTimeoutMs: options.readyTimeoutMs ?? 30_000,
    databases: { notes: notesDatabaseOptions(options.database, options.leaseOptions) },
  });
  // The host listens for the pool's idle-connection errors, so a database restart does not crash the process.
  const notes = new NotesService(vault, () => vx.db.notes);

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
  app.use(vaultReadiness(vx), vaultMiddleware(vx), express.json());

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

  return {
    app,
    vault,
    vx,
    get pool() {
      return vx.db.notes;
    },
  };
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
    signals?: NodeJS.Signals[];
  },
): Promise<NotesServer> {
  const notesApp = createNotesApp(options);
  const { app, vx } = notesApp;
  await vx.start(); // on failure the pool's lease is revoked and the client closed

  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(options.port ?? 3000, options.host ?? '127.0.0.1', (error?: Error) =>
      error ? reject(error) : resolve(s),
    );
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const graceful: GracefulShutdown = gracefulShutdown(server, vx, { signals: options.signals ?? [] });
  return {
    ...notesApp,
    get pool() {
      return vx.db.notes;
    },
    server,
    url: `http://${options.host ?? '127.0.0.1'}:${port}`,
    shutdown: graceful.shutdown,
  };
}
