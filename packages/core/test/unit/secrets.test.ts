import type { DevServer } from '@leasehold/dev-server';
import {
  createDatabaseRole,
  createTestDatabase,
  mountDatabaseEngine,
  type TestDatabase,
} from '@leasehold/test-env';
// Brings the typing of vitest's `inject('pgSuperuserUrl')` into this package.
import type {} from '@leasehold/test-env/global-setup';
import { Registry } from 'prom-client';
import { afterAll, afterEach, describe, expect, inject, it } from 'vitest';
import { auth, type Vault, VaultErrorCode, type VaultEvents, type VaultOptions } from '../../src/index.js';
import { registerVaultMetrics } from '../../src/metrics/index.js';
import { appRole, clockedClient, type SettlingClock, startClockedServer } from '../helpers/dev-vault.js';
import { fixedRandom } from '../helpers/manual-clock.js';

// KV v2, transit and a database lease on the in-process dev server, the client and the server on one manual clock.

let open: Vault[] = [];
let servers: DevServer[] = [];
let db: TestDatabase | undefined;
afterEach(async () => {
  await Promise.all(open.map((v) => v.close({ revokeToken: false, timeoutMs: 50 })));
  await Promise.all(servers.map((s) => s.close()));
  open = [];
  servers = [];
});
afterAll(async () => {
  await db?.drop();
});

async function rootCall(server: DevServer, method: string, path: string, body?: unknown): Promise<unknown> {
  const res = await fetch(`${server.url}/v1/${path}`, {
    method,
    headers: { 'X-Vault-Token': server.rootToken, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status >= 400) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

/** Writes a KV v2 version as an operator would (not through the client under test). */
function writeKv(server: DevServer, path: string, data: Record<string, unknown>): Promise<unknown> {
  return rootCall(server, 'POST', `secret/data/${path}`, { data });
}

async function harness(extra: VaultOptions = {}) {
  const { server, clock } = await startClockedServer();
  servers.push(server);
  const creds = await appRole(server, 'app', { token_ttl: '1h', token_max_ttl: '2h' });
  const client = clockedClient(server, clock, {
    random: fixedRandom(0.5),
    auth: auth.appRole(creds),
    ...extra,
  });
  open.push(client.vault);
  return { ...client, server, clock: clock as SettlingClock, creds };
}

describe('kv cache, transit batches and metrics (dev server on one manual clock)', () => {
  it('10,000 concurrent kv.get of one path cause one read; then hits until the TTL', async () => {
    const h = await harness({ cache: { ttlMs: 1000, staleIfErrorMs: 5000 } });
    await writeKv(h.server, 'app/config', { apiKey: 'kv-secret-value' });
    h.server.addLatency({ method: 'GET', path: 'secret/data/app/config', ms: 200, count: 1 });
    const reads = Array.from({ length: 10_000 }, () => h.vault.kv.get<{ apiKey: string }>('app/config'));
    const results = await Promise.all(reads);
    expect(results.every((r) => r.data.reveal().apiKey === 'kv-secret-value')).toBe(true);
    expect(h.count('secret/data/app/config')).toBe(1);
    expect(h.count('sys/internal/ui/mounts/secret')).toBe(1);
    expect(JSON.stringify(results[0])).not.toContain('kv-secret-value');
    const hit = await h.vault.kv.get('app/config');
    expect(hit.cached).toBe(true);
    expect(h.count('secret/data/app/config')).toBe(1);
    await h.clock.advance(999);
    expect((await h.vault.kv.get('app/config')).cached).toBe(true);
    await h.clock.advance(2);
    expect((await h.vault.kv.get('app/config')).cached).toBe(false);
    expect(h.count('secret/data/app/config')).toBe(2);
  });

  it('serves a stale value within the stale window while Vault is down, and says so', async () => {
    const h = await harness({ cache: { ttlMs: 1000, staleIfErrorMs: 5000 } });
    await writeKv(h.server, 'app/config', { apiKey: 'v1' });
    await h.vault.kv.get('app/config');
    const stale: Array<VaultEvents['cache:stale']> = [];
    h.vault.on('cache:stale', (e) => stale.push(e));
    h.server.dropConnections({ count: Number.POSITIVE_INFINITY });
    await h.clock.advance(3000);
    const r = await h.vault.kv.get('app/config');
    expect(r.stale).toBe(true);
    expect(r.data.reveal()).toEqual({ apiKey: 'v1' });
    expect(stale).toHaveLength(1);
    await h.clock.advance(3001);
    await expect(h.vault.kv.get('app/config')).rejects.toMatchObject({ code: VaultErrorCode.UNAVAILABLE });
    // a permanent error is never masked by the cache
    h.server.clearFaults();
    await expect(h.vault.kv.get('missing')).rejects.toMatchObject({ code: VaultErrorCode.NOT_FOUND });
  });

  it('put with cas, cache invalidation on write, CAS mismatch error, and watch reporting a new version', async () => {
    const h = await harness();
    expect((await h.vault.kv.put('w', { a: 1 }, { cas: 0 }))?.version).toBe(1);
    await expect(h.vault.kv.put('w', { a: 2 }, { cas: 0 })).rejects.toMatchObject({
      code: VaultErrorCode.CAS_MISMATCH,
    });
    expect((await h.vault.kv.get('w')).data.reveal()).toEqual({ a: 1 });
    await h.vault.kv.put('w', { a: 2 });
    expect((await h.vault.kv.get('w')).data.reveal()).toEqual({ a: 2 });

    const changes: Array<{ version: number; at: number }> = [];
    const watch = h.vault.kv.watch('w', (c) => changes.push({ version: c.version, at: h.clock.now() }), {
      intervalMs: 500,
    });
    await watch.ready;
    const watchedFrom = h.clock.now();
    await writeKv(h.server, 'w', { a: 3 });
    await h.clock.advance(500);
    expect(changes).toEqual([{ version: 3, at: watchedFrom + 500 }]);
    expect((await h.vault.kv.get('w')).data.reveal()).toEqual({ a: 3 });
    watch.stop();
    await writeKv(h.server, 'w', { a: 4 });
    await h.clock.advance(1000);
    expect(changes.map((c) => c.version)).toEqual([3]);
  });

  it('transit batch: the bad item carries its error, the others their results; big batches are split', async () => {
    const h = await harness();
    await rootCall(h.server, 'POST', 'sys/mounts/transit', { type: 'transit' });
    await rootCall(h.server, 'POST', 'transit/keys/k', {});
    const items = ['a', 'b', 'c', 'd', 'e'].map((p, i) => ({ plaintext: p, reference: `r${i}` }));
    const encrypted = await h.vault.transit.encryptBatch('k', items, { batchSize: 2 });
    expect(h.count('transit/encrypt/k')).toBe(3);
    expect(encrypted.map((r) => r.ok)).toEqual([true, true, true, true, true]);
    expect(encrypted.map((r) => r.reference)).toEqual(['r0', 'r1', 'r2', 'r3', 'r4']);
    const ciphertexts = encrypted.map((r) => (r.ok ? r.ciphertext : ''));
    expect(ciphertexts.every((c) => c.startsWith('vault:v1:'))).toBe(true);
    // one ciphertext that the key cannot open: only that item fails
    const tampered = ciphertexts.map((c, i) => ({
      ciphertext: i === 1 ? `vault:v1:${Buffer.from('not a ciphertext of k').toString('base64')}` : c,
      reference: `r${i}`,
    }));
    const decrypted = await h.vault.transit.decryptBatch('k', tampered, { batchSize: 2 });
    expect(decrypted.map((r) => r.ok)).toEqual([true, false, true, true, true]);
    const bad = decrypted[1];
    expect(bad?.ok === false && bad.error.message).toMatch(/item 1 failed: /);
    expect(bad?.reference).toBe('r1');
    const first = decrypted[0];
    expect(first?.ok === true && first.plaintext.reveal().toString()).toBe('a');
  });

  it('metrics: events become prom-client metrics without secret labels', async () => {
    const h = await harness({ leases: { rotationMarginMs: 1500 } });
    db ??= await createTestDatabase(inject('pgSuperuserUrl'));
    await mountDatabaseEngine(h.server, db);
    await createDatabaseRole(h.server, 'app', { defaultTtl: '3s', maxTtl: '9s' });
    const registry = new Registry();
    const metrics = registerVaultMetrics(h.vault, { registry });
    await writeKv(h.server, 'm', { x: 1 });
    await h.vault.kv.get('m');
    await h.vault.kv.get('m');
    const lease = h.vault.database.credentials('app');
    const first = await lease.ready();
    await h.clock.advance(9000);
    expect(lease.current().generation).toBe(2);
    const text = await registry.metrics();
    expect(text).toMatch(/leasehold_vault_logins_total\{method="approle",reason="initial"\} 1/);
    expect(text).toMatch(/leasehold_vault_cache_requests_total\{mount="secret",result="hit"\} 1/);
    expect(text).toMatch(/leasehold_vault_cache_requests_total\{mount="secret",result="miss"\} 1/);
    expect(text).toMatch(
      /leasehold_vault_lease_renewals_total\{path="database\/creds\/app",result="success"\}/,
    );
    expect(text).toMatch(
      /leasehold_vault_lease_rotations_total\{path="database\/creds\/app",reason="max-ttl"\} 1/,
    );
    expect(text).toMatch(/leasehold_vault_lease_ttl_seconds\{path="database\/creds\/app"/);
    expect(text).toMatch(
      /leasehold_vault_request_duration_seconds_count\{method="GET",template="database\/creds\/:role",status="200"\}/,
    );
    expect(text).toMatch(/leasehold_vault_token_ttl_seconds \d+/);
    expect(text).not.toContain(first.value.password.reveal());
    expect(text).not.toContain(first.leaseId);
    metrics.unregister();
    expect((await registry.metrics()).trim()).toBe('');
  });
});
