/**
 * The notes service on Fastify: `@leasehold/fastify`'s `vaultPlugin` logs in, opens the rotating pool (`app.db.notes`)
 * on `onReady` and drains it, revokes the leases and the token on `onClose`. The domain (`NotesService`: transit-
 * encrypted bodies, settings from KV v2) is shared by the three examples.
 *
 * Routes: `GET /notes`, `POST /notes` `{ title, body }`, `GET /notes/:id`, `DELETE /notes/:id`, `GET /settings`,
 * `GET /health` (liveness), `GET /ready` (Vault and the database answer).
 */
import { createVault, type LeaseOptions, type Vault, type VaultOptions } from '@leasehold/core';
import { registerVault, type VaultFastifyInstance } from '@leasehold/fastify';
import {
  type NotesDatabase,
  type NotesDatabaseOptions,
  NotesService,
  notesDatabaseOptions,
  notesErrorResponse,
  parseNoteId,
} from '@leasehold/notes-common';
import Fastify, { type FastifyServerOptions } from 'fastify';

export { databaseFromUrl } from '@leasehold/notes-common';

/** The notes app: `app.db.notes` is the `RotatingPool` its `createRotatingPool` driver opened. */
export type NotesFastifyInstance = VaultFastifyInstance<{ notes: NotesDatabaseOptions }>;

/** Options of {@link buildNotesApp}. */
export interface NotesAppOptions {
  /** A Vault client; default: `createVault(vaultOptions)` (everything from `VAULT_*` variables). Closed with the app. */
  vault?: Vault;
  /** Options of the client the app creates when `vault` is not given. */
  vaultOptions?: VaultOptions;
  /** Where the notes live (credentials come from Vault), and the pool size (default 10). */
  database: NotesDatabase & { max?: number };
  /** Lease options of the database credentials (rotation margin, drain timeout, retry). */
  leaseOptions?: LeaseOptions;
  /** How long startup waits for Vault and the first credentials, ms (default 30 000). */
  readyTimeoutMs?: number;
  /** Fastify's logger option (default off). */
  logger?: FastifyServerOptions['logger'];
}

/** Builds the app (not listening yet). `await app.listen()` logs in and opens the pool; `app.close()` revokes. */
export async function buildNotesApp(options: NotesAppOptions): Promise<NotesFastifyInstance> {
  const vault = options.vault ?? createVault(options.vaultOptions);
  const app = await registerVault(
    Fastify({ logger: options.logger ?? false, forceCloseConnections: 'idle' }),
    {
      vault,
      closeClient: true,
      readyTimeoutMs: options.readyTimeoutMs ?? 30_000,
      databases: { notes: notesDatabaseOptions(options.database, options.leaseOptions) },
    },
  );
  const notes = new NotesService(app.vault, () => app.db.notes);

  app.setErrorHandler((error, _request, reply) => {
    const { status, body } = notesErrorResponse(error);
    if (status === 500) {
      const statusCode = (error as { statusCode?: number }).statusCode;
      // Fastify's own client errors (bad JSON, …) keep their 4xx.
      if (statusCode && statusCode < 500)
        return reply.code(statusCode).send({ error: (error as Error).message });
      app.log.error({ err: error }, 'request failed');
    }
    return reply.code(status).send(body);
  });

  app.get('/settings', async () => {
    const { greeting, maxBodyLength } = await notes.settings();
    return { greeting, maxBodyLength };
  });
  app.get('/notes', async () => ({ notes: await notes.list() }));
  app.post('/notes', async (request, reply) => reply.code(201).send(await notes.create(request.body)));
  app.get<{ Params: { id: string } }>('/notes/:id', async (request, reply) => {
    const note = await notes.get(parseNoteId(request.params.id));
    return note ?? reply.code(404).send({ error: 'note not found' });
  });
  app.delete<{ Params: { id: string } }>('/notes/:id', async (request, reply) => {
    const deleted = await notes.delete(parseNoteId(request.params.id));
    return deleted ? reply.code(204).send() : reply.code(404).send({ error: 'note not found' });
  });

  // Liveness: the process serves requests.
  app.get('/health', async () => ({ status: 'ok' }));
  // Readiness: Vault usable and the database answering.
  app.get('/ready', async (_request, reply) => {
    const { status, body } = await notes.readiness();
    return reply.code(status).send(body);
  });

  return app;
}
