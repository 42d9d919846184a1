/**
 * @packageDocumentation
 * Shared by the notes examples (`apps/fastify-notes`, `apps/express-notes`, `apps/nestjs-notes`) and the demo:
 *
 * - `NotesService` — the notes domain, framework-neutral (transit-encrypted bodies, settings from KV v2, queries on
 *   a rotating pool); each example only maps it onto its framework.
 * - `createNotesSchema()` / `setupNotesVault()` — the operator's side: the table, and Vault's policy, AppRole,
 *   database role, transit key and KV settings.
 */
export {
  databaseFromUrl,
  type Note,
  type NoteSummary,
  type NotesDatabase,
  type NotesDatabaseOptions,
  NotesInputError,
  NotesService,
  type NotesServiceOptions,
  notesDatabaseOptions,
  notesErrorResponse,
  parseNoteId,
} from './service.js';
export {
  createNotesSchema,
  DEFAULT_NOTES_SETTINGS,
  NOTES,
  NOTES_POLICY,
  type NotesSettings,
  type NotesTtls,
  type NotesVaultSetup,
  type NotesVaultSetupOptions,
  setupNotesVault,
} from './setup.js';
