/**
 * End to end: the dev server configured by the operator setup, the test PostgreSQL, and the Express notes server
 * logged in with AppRole from the environment (as `pnpm start` does), checked against the notes contract; plus the
 * readiness gate while Vault is sealed at startup.
 */
import { auth } from '@leasehold/core';
import {
  describeNotesApi,
  type NotesFixture,
  startNotesFixture,
  TEST_LEASE_OPTIONS,
} from '@leasehold/notes-common/testing';
import type {} from '@leasehold/test-env/global-setup';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { createNotesApp, type NotesServer, startNotesServer } from '../src/app.js';

let fixture: NotesFixture;
let notes: NotesServer;

beforeAll(async () => {
  fixture = await startNotesFixture(inject('pgSuperuserUrl'));
  for (const [name, value] of Object.entries(fixture.env)) vi.stubEnv(name, value);
  notes = await startNotesServer({
    database: fixture.setup.database,
    leaseOptions: TEST_LEASE_OPTIONS,
    port: 0,
  });
});

afterAll(async () => {
  await notes?.shutdown();
  await fixture?.close();
});

describe('express-notes', () => {
  it('logged in with AppRole from the environment', () => {
    expect(notes.vault.authMethod).toBe('approle');
  });

  it('the readiness gate answers 503 (not a crash) until Vault can be used', async () => {
    const gated = createNotesApp({
      database: fixture.setup.database,
      vaultOptions: {
        address: fixture.server.url,
        auth: auth.appRole({ roleId: fixture.setup.roleId, secretId: fixture.setup.secretId }),
      },
    });
    fixture.server.seal();
    const server = gated.app.listen(0, '127.0.0.1');
    try {
      await new Promise((resolve) => server.once('listening', resolve));
      const { port } = server.address() as { port: number };
      const res = await fetch(`http://127.0.0.1:${port}/notes`);
      expect(res.status).toBe(503);
      expect(await res.json()).toMatchObject({ error: 'vault_unavailable' });
      expect((await fetch(`http://127.0.0.1:${port}/health`)).status).toBe(200);
    } finally {
      fixture.server.unseal();
      await new Promise((resolve) => server.close(resolve));
      await gated.vx.close();
      expect(gated.vault.closed).toBe(true);
    }
  });

  describeNotesApi(() => ({
    fixture,
    base: notes.url,
    pool: notes.pool,
    accessor: () => notes.vault.health().token?.accessor,
    shutdown: async () => {
      await notes.shutdown();
      expect(notes.vault.closed).toBe(true);
      expect(notes.server.listening).toBe(false);
    },
  }));
});
