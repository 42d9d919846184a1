/**
 * Test support shared by the notes examples (TypeScript source, for Vitest only: `@leasehold/notes-common/testing`).
 *
 * - `startNotesFixture(pgSuperuserUrl)` — a dev server configured by the operator setup, and a fresh database with
 *   the notes schema.
 * - `describeNotesApi(getApp)` — the contract every example passes, over real HTTP: CRUD with transit-encrypted
 *   bodies, validation from KV settings, health/readiness, a credential rotation under concurrent requests, and a
 *   shutdown that drops the database user and revokes the token.
 */
import { type DevServer, startDevServer } from '@leasehold/dev-server';
import type { RotatingPool } from '@leasehold/pg';
import { createTestDatabase, roleExists, startLoad, type TestDatabase } from '@leasehold/test-env';
import { expect, it } from 'vitest';
import { createNotesSchema, type NotesVaultSetup, setupNotesVault } from '../src/setup.js';

/** The dev server and database of one test file. */
export interface NotesFixture {
  server: DevServer;
  db: TestDatabase;
  setup: NotesVaultSetup;
  /** Sets `VAULT_ADDR`, `VAULT_ROLE_ID`, `VAULT_SECRET_ID` (and clears `VAULT_TOKEN`) the way an operator hands them over. */
  env: Record<string, string>;
  close(): Promise<void>;
}

/** Starts the dev server and a fresh database, configured with short TTLs (3 s default, 8 s max) and maxBodyLength 64. */
export async function startNotesFixture(pgSuperuserUrl: string): Promise<NotesFixture> {
  const server = await startDevServer({ port: 0 });
  const db = await createTestDatabase(pgSuperuserUrl);
  try {
    await createNotesSchema(db.url);
    const setup = await setupNotesVault({
      address: server.url,
      operatorToken: server.rootToken,
      databaseUrl: db.url,
      ttls: { databaseDefault: '3s', databaseMax: '8s' },
      settings: { maxBodyLength: 64 },
    });
    return {
      server,
      db,
      setup,
      env: {
        VAULT_ADDR: server.url,
        VAULT_TOKEN: '',
        VAULT_ROLE_ID: setup.roleId,
        VAULT_SECRET_ID: setup.secretId,
      },
      async close() {
        await server.close();
        await db.drop();
      },
    };
  } catch (error) {
    await server.close();
    await db.drop();
    throw error;
  }
}

/** Lease options for tests: rotate 3 s before the end, quick retries. */
export const TEST_LEASE_OPTIONS = {
  rotationMarginMs: 3000,
  drainTimeoutMs: 3000,
  retry: { initialMs: 200, maxMs: 1000 },
};

/** What the contract needs of a running example. */
export interface NotesApiUnderTest {
  fixture: NotesFixture;
  /** `http://127.0.0.1:<port>` */
  base: string;
  pool: RotatingPool;
  /** The token accessor the app uses. */
  accessor(): string | undefined;
  /** Shuts the app down the way the example does on SIGTERM. */
  shutdown(): Promise<void>;
}

async function call(base: string, method: string, path: string, body?: unknown) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? (JSON.parse(text) as unknown) : undefined };
}

/** Registers the contract tests (call inside a `describe`; the last test shuts the app down). */
export function describeNotesApi(get: () => NotesApiUnderTest): void {
  it('stores note bodies encrypted by transit and serves them decrypted', async () => {
    const { base, fixture } = get();
    const created = await call(base, 'POST', '/notes', { title: 'groceries', body: 'milk, eggs' });
    expect(created.status).toBe(201);
    const { id } = created.json as { id: number };
    expect(id).toBeGreaterThan(0);

    const stored = await fixture.db.query<{ body_ciphertext: string }>(
      'SELECT body_ciphertext FROM notes WHERE id = $1',
      [id],
    );
    expect(stored.rows[0]?.body_ciphertext).toMatch(/^vault:v1:/);
    expect(stored.rows[0]?.body_ciphertext).not.toContain('milk');

    expect(await call(base, 'GET', `/notes/${id}`)).toMatchObject({
      status: 200,
      json: { id, title: 'groceries', body: 'milk, eggs' },
    });
    const list = await call(base, 'GET', '/notes');
    expect((list.json as { notes: Array<{ id: number }> }).notes.map((n) => n.id)).toContain(id);

    expect((await call(base, 'DELETE', `/notes/${id}`)).status).toBe(204);
    expect((await call(base, 'GET', `/notes/${id}`)).status).toBe(404);
    expect((await call(base, 'DELETE', `/notes/${id}`)).status).toBe(404);
  });

  it('validates input with the limit read from KV', async () => {
    const { base } = get();
    expect(await call(base, 'GET', '/settings')).toMatchObject({ status: 200, json: { maxBodyLength: 64 } });
    expect(await call(base, 'POST', '/notes', { body: 'no title' })).toMatchObject({
      status: 400,
      json: { error: 'title must be a string of 1 to 200 characters' },
    });
    expect(await call(base, 'POST', '/notes', { title: 'long', body: 'x'.repeat(65) })).toMatchObject({
      status: 400,
      json: { error: 'body must be a string of at most 64 characters' },
    });
    expect((await call(base, 'GET', '/notes/abc')).status).toBe(400);
  });

  it('answers health and readiness', async () => {
    const { base } = get();
    expect(await call(base, 'GET', '/health')).toEqual({ status: 200, json: { status: 'ok' } });
    expect(await call(base, 'GET', '/ready')).toMatchObject({
      status: 200,
      json: { status: 'ready', vault: { status: 'ready' }, database: 'ok' },
    });
  });

  it('keeps serving through a credential rotation under concurrent requests', async () => {
    const { base, pool } = get();
    const rotationsBefore = pool.stats().rotations;
    let n = 0;
    const load = startLoad(4, async () => {
      const res = await call(base, 'POST', '/notes', { title: `load ${++n}`, body: 'under rotation' });
      if (res.status !== 201) throw new Error(`POST /notes answered ${res.status}`);
      const read = await call(base, 'GET', `/notes/${(res.json as { id: number }).id}`);
      if (read.status !== 200) throw new Error(`GET /notes/:id answered ${read.status}`);
    });
    await expect
      .poll(() => pool.stats().rotations, { timeout: 20_000, interval: 200 })
      .toBeGreaterThan(rotationsBefore);
    const { ok, failures } = await load.stop({ minOk: 11 });
    expect(failures).toEqual([]);
    expect(ok).toBeGreaterThan(10);
  });

  it('shuts down cleanly: the database user is dropped and the token revoked', async () => {
    const { fixture, pool } = get();
    const username = pool.lease.current().value.username;
    const accessor = get().accessor();
    expect(accessor).toBeTruthy();
    expect(await roleExists(fixture.db, username)).toBe(true);
    await get().shutdown();
    expect(await roleExists(fixture.db, username)).toBe(false);
    const lookup = await fetch(`${fixture.server.url}/v1/auth/token/lookup-accessor`, {
      method: 'POST',
      headers: { 'x-vault-token': fixture.server.rootToken, 'content-type': 'application/json' },
      body: JSON.stringify({ accessor }),
    });
    expect(lookup.status).toBe(400); // Vault: "invalid accessor" — revoked
  });
}
