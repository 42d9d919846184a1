/**
 * End to end: the dev server configured by the operator setup, the test PostgreSQL, and the Fastify notes app
 * logged in with AppRole from the environment (as `pnpm start` does), checked against the notes contract.
 */
import {
  describeNotesApi,
  type NotesFixture,
  startNotesFixture,
  TEST_LEASE_OPTIONS,
} from '@leasehold/notes-common/testing';
import type {} from '@leasehold/test-env/global-setup';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { buildNotesApp, type NotesFastifyInstance } from '../src/app.js';

let fixture: NotesFixture;
let app: NotesFastifyInstance;
let base: string;

beforeAll(async () => {
  fixture = await startNotesFixture(inject('pgSuperuserUrl'));
  for (const [name, value] of Object.entries(fixture.env)) vi.stubEnv(name, value);
  app = await buildNotesApp({ database: fixture.setup.database, leaseOptions: TEST_LEASE_OPTIONS });
  await app.listen({ port: 0, host: '127.0.0.1' });
  base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
});

afterAll(async () => {
  await app?.close();
  await fixture?.close();
});

describe('fastify-notes', () => {
  it('logged in with AppRole from the environment', () => {
    expect(app.vault.authMethod).toBe('approle');
  });

  describeNotesApi(() => ({
    fixture,
    base,
    pool: app.db.notes,
    accessor: () => app.vault.health().token?.accessor,
    shutdown: async () => {
      await app.close();
      expect(app.vault.closed).toBe(true);
    },
  }));
});
