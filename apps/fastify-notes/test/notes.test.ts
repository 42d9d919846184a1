/**
 * End to end: the dev server configured by the operator setup, the test PostgreSQL, and the Fastify notes app logged
 * in with AppRole from the environment (as `pnpm start` does) — CRUD with transit-encrypted bodies, settings from
 * KV, health/readiness, a credential rotation under concurrent requests, and a clean shutdown that revokes.
 */

import { type DevServer, startDevServer } from '@leasehold/dev-server';
import { createNotesSchema, setupNotesVault } from '@leasehold/notes-common';
import { createTestDatabase, roleExists, startLoad, type TestDatabase } from '@leasehold/test-env';
import type {} from '@leasehold/test-env/global-setup';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { buildNotesApp } from '../src/app.js';

let server: DevServer;
let db: TestDatabase;
let app: FastifyInstance;
let base: string;

beforeAll(async () => {
  server = await startDevServer({ port: 0 });
  db = await createTestDatabase(inject('pgSuperuserUrl'));
  await createNotesSchema(db.url);
  const setup = await setupNotesVault({
    address: server.url,
    operatorToken: server.rootToken,
    databaseUrl: db.url,
    ttls: { databaseDefault: '3s', databaseMax: '8s' },
    settings: { maxBodyLength: 64 },
  });
  // What `pnpm --filter @leasehold/fastify-notes start` reads.
  vi.stubEnv('VAULT_ADDR', server.url);
  vi.stubEnv('VAULT_TOKEN', '');
  vi.stubEnv('VAULT_ROLE_ID', setup.roleId);
  vi.stubEnv('VAULT_SECRET_ID', setup.secretId);
  app = await buildNotesApp({
    database: setup.database,
    leaseOptions: { rotationMarginMs: 3000, drainTimeoutMs: 3000, retry: { initialMs: 200, maxMs: 1000 } },
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
});

afterAll(async () => {
  await app?.close();
  await server?.close();
  await db?.drop();
});

async function call(
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}

describe('fastify-notes', () => {
  it('stores note bodies encrypted by transit and serves them decrypted', async () => {
    const created = await call('POST', '/notes', { title: 'groceries', body: 'milk, eggs' });
    expect(created.status).toBe(201);
    const { id } = created.json as { id: number };
    expect(id).toBeGreaterThan(0);

    const stored = await db.query<{ body_ciphertext: string }>(
      'SELECT body_ciphertext FROM notes WHERE id = $1',
      [id],
    );
    expect(stored.rows[0]?.body_ciphertext).toMatch(/^vault:v1:/);
    expect(stored.rows[0]?.body_ciphertext).not.toContain('milk');

    expect(await call('GET', `/notes/${id}`)).toMatchObject({
      status: 200,
      json: { id, title: 'groceries', body: 'milk, eggs' },
    });
    const list = await call('GET', '/notes');
    expect((list.json as { notes: Array<{ id: number }> }).notes.map((n) => n.id)).toContain(id);

    expect((await call('DELETE', `/notes/${id}`)).status).toBe(204);
    expect((await call('GET', `/notes/${id}`)).status).toBe(404);
    expect((await call('DELETE', `/notes/${id}`)).status).toBe(404);
  });

  it('validates input with the limit read from KV', async () => {
    expect(await call('GET', '/settings')).toMatchObject({ status: 200, json: { maxBodyLength: 64 } });
    expect(await call('POST', '/notes', { body: 'no title' })).toMatchObject({
      status: 400,
      json: { error: 'title must be a string of 1 to 200 characters' },
    });
    expect(await call('POST', '/notes', { title: 'long', body: 'x'.repeat(65) })).toMatchObject({
      status: 400,
      json: { error: 'body must be a string of at most 64 characters' },
    });
    expect((await call('GET', '/notes/abc')).status).toBe(400);
  });

  it('answers health and readiness', async () => {
    expect(await call('GET', '/health')).toEqual({ status: 200, json: { status: 'ok' } });
    expect(await call('GET', '/ready')).toMatchObject({
      status: 200,
      json: { status: 'ready', vault: { status: 'ready' }, database: 'ok' },
    });
  });

  it('keeps serving through a credential rotation under concurrent requests', async () => {
    const pool = app.db.notes;
    const rotationsBefore = pool.stats().rotations;
    let n = 0;
    const load = startLoad(4, async () => {
      const res = await call('POST', '/notes', { title: `load ${++n}`, body: 'under rotation' });
      if (res.status !== 201) throw new Error(`POST /notes answered ${res.status}`);
      const read = await call('GET', `/notes/${(res.json as { id: number }).id}`);
      if (read.status !== 200) throw new Error(`GET /notes/:id answered ${read.status}`);
    });
    await expect
      .poll(() => pool.stats().rotations, { timeout: 20_000, interval: 200 })
      .toBeGreaterThan(rotationsBefore);
    const { ok, failures } = await load.stop();
    expect(failures).toEqual([]);
    expect(ok).toBeGreaterThan(10);
  });

  it('closes cleanly: the database user is dropped and the token revoked', async () => {
    const username = app.db.notes.lease.current().value.username;
    const accessor = app.vault.health().token?.accessor;
    expect(await roleExists(db, username)).toBe(true);
    await app.close();
    expect(app.vault.closed).toBe(true);
    expect(await roleExists(db, username)).toBe(false);
    const lookup = await fetch(`${server.url}/v1/auth/token/lookup-accessor`, {
      method: 'POST',
      headers: { 'x-vault-token': server.rootToken, 'content-type': 'application/json' },
      body: JSON.stringify({ accessor }),
    });
    expect(lookup.status).toBe(400); // Vault: "invalid accessor"
  });
});
