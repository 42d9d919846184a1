import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { errorFromResponse } from '../../src/errors.js';
import {
  auth,
  createVault,
  type TransportRequestOptions,
  type Vault,
  VaultError,
  VaultErrorCode,
  type VaultEvents,
  type VaultMethod,
  type VaultResponse,
} from '../../src/index.js';
import { registerVaultMetrics } from '../../src/metrics/index.js';
import { FakeLeaseVault } from '../helpers/fake-lease-vault.js';
import { fixedRandom, flush, ManualClock } from '../helpers/manual-clock.js';

/** KV v2 at `secret/` and a transit engine that rejects a plaintext of "bad" (per-item batch error, status 400). */
class FakeSecrets extends FakeLeaseVault {
  kv = new Map<string, Array<Record<string, unknown>>>();
  gate: Promise<void> | undefined;

  override async request<TBody>(
    method: VaultMethod,
    path: string,
    options: TransportRequestOptions = {},
  ): Promise<VaultResponse<TBody>> {
    const handled = /^(secret|transit)\//.test(path) || path.startsWith('sys/internal/ui/mounts/');
    if (!handled) return super.request<TBody>(method, path, options);
    this.calls.push({ method, path, token: options.token?.reveal(), body: options.body });
    if (this.inner.down) {
      throw new VaultError(VaultErrorCode.UNAVAILABLE, `${method} ${path}: ECONNREFUSED`, { method, path });
    }
    if (this.gate) await this.gate;
    const ok = (data: unknown, status = 200) =>
      ({
        status,
        headers: {},
        body: { data, warnings: null, lease_id: '', auth: null },
      }) as VaultResponse<TBody>;
    if (path === 'sys/internal/ui/mounts/secret')
      return ok({ type: 'kv', options: { version: '2' }, path: 'secret/' });
    let m = /^secret\/data\/(.+)$/.exec(path);
    if (m) {
      const key = m[1] as string;
      const versions = this.kv.get(key) ?? [];
      if (method === 'PUT') {
        const body = options.body as { data: Record<string, unknown>; options?: { cas?: number } };
        if (body.options?.cas !== undefined && body.options.cas !== versions.length) {
          throw errorFromResponse(
            400,
            ['check-and-set parameter did not match the current version'],
            method,
            path,
          );
        }
        versions.push(body.data);
        this.kv.set(key, versions);
        return ok({ version: versions.length, created_time: 't', deletion_time: '', destroyed: false });
      }
      const data = versions.at(-1);
      if (!data) throw errorFromResponse(404, [], method, path);
      return ok({
        data,
        metadata: { version: versions.length, created_time: 't', deletion_time: '', destroyed: false },
      });
    }
    m = /^secret\/metadata\/(.+)$/.exec(path);
    if (m) {
      const versions = this.kv.get(m[1] as string);
      if (!versions) throw errorFromResponse(404, [], method, path);
      return ok({
        current_version: versions.length,
        oldest_version: 1,
        created_time: 't',
        updated_time: 't',
        max_versions: 0,
        cas_required: false,
        delete_version_after: '0s',
        custom_metadata: null,
        versions: {},
      });
    }
    m = /^transit\/encrypt\/(.+)$/.exec(path);
    if (m) {
      const body = options.body as { batch_input: Array<{ plaintext: string; reference?: string }> };
      const results = body.batch_input.map((i) =>
        Buffer.from(i.plaintext, 'base64').toString() === 'bad'
          ? { error: 'bad plaintext for this test', reference: i.reference }
          : { ciphertext: `vault:v1:${i.plaintext}`, key_version: 1, reference: i.reference },
      );
      const failed = results.some((r) => 'error' in r);
      return ok({ batch_results: results }, failed ? 400 : 200);
    }
    throw errorFromResponse(404, [], method, path);
  }
}

let open: Vault[] = [];
afterEach(async () => {
  await Promise.all(open.map((v) => v.close({ revokeToken: false, timeoutMs: 50 })));
  open = [];
});

function harness(extra: Parameters<typeof createVault>[0] = {}) {
  const clock = new ManualClock();
  const fake = new FakeSecrets(clock);
  const vault = createVault({
    env: {},
    clock,
    random: fixedRandom(0.5),
    transport: fake,
    auth: auth.appRole({ roleId: 'role-id-value', secretId: 'secret-id-value' }),
    ...extra,
  });
  open.push(vault);
  return { vault, clock, fake };
}

describe('kv cache, transit batches and metrics (injected transport)', () => {
  it('10,000 concurrent kv.get of one path cause one read; then hits until the TTL', async () => {
    const h = harness({ cache: { ttlMs: 1000, staleIfErrorMs: 5000 } });
    h.fake.kv.set('app/config', [{ apiKey: 'kv-secret-value' }]);
    let release: () => void = () => {};
    h.fake.gate = new Promise<void>((r) => {
      release = r;
    });
    const reads = Array.from({ length: 10_000 }, () => h.vault.kv.get<{ apiKey: string }>('app/config'));
    await flush();
    release();
    h.fake.gate = undefined;
    const results = await Promise.all(reads);
    expect(results.every((r) => r.data.reveal().apiKey === 'kv-secret-value')).toBe(true);
    expect(h.fake.count('secret/data/app/config')).toBe(1);
    expect(h.fake.count('sys/internal/ui/mounts/secret')).toBe(1);
    expect(JSON.stringify(results[0])).not.toContain('kv-secret-value');
    const hit = await h.vault.kv.get('app/config');
    expect(hit.cached).toBe(true);
    expect(h.fake.count('secret/data/app/config')).toBe(1);
    await h.clock.advance(1001);
    await h.vault.kv.get('app/config');
    expect(h.fake.count('secret/data/app/config')).toBe(2);
  });

  it('serves a stale value within the stale window while Vault is down, and says so', async () => {
    const h = harness({ cache: { ttlMs: 1000, staleIfErrorMs: 5000 } });
    h.fake.kv.set('app/config', [{ apiKey: 'v1' }]);
    await h.vault.kv.get('app/config');
    const stale: Array<VaultEvents['cache:stale']> = [];
    h.vault.on('cache:stale', (e) => stale.push(e));
    h.fake.down = true;
    await h.clock.advance(3000);
    const r = await h.vault.kv.get('app/config');
    expect(r.stale).toBe(true);
    expect(r.data.reveal()).toEqual({ apiKey: 'v1' });
    expect(stale).toHaveLength(1);
    await h.clock.advance(3001);
    await expect(h.vault.kv.get('app/config')).rejects.toMatchObject({ code: VaultErrorCode.UNAVAILABLE });
    // a permanent error is never masked by the cache
    h.fake.down = false;
    await expect(h.vault.kv.get('missing')).rejects.toMatchObject({ code: VaultErrorCode.NOT_FOUND });
  });

  it('put with cas, cache invalidation on write, CAS mismatch error, and watch reporting a new version', async () => {
    const h = harness();
    expect((await h.vault.kv.put('w', { a: 1 }, { cas: 0 }))?.version).toBe(1);
    await expect(h.vault.kv.put('w', { a: 2 }, { cas: 0 })).rejects.toMatchObject({
      code: VaultErrorCode.CAS_MISMATCH,
    });
    expect((await h.vault.kv.get('w')).data.reveal()).toEqual({ a: 1 });
    await h.vault.kv.put('w', { a: 2 });
    expect((await h.vault.kv.get('w')).data.reveal()).toEqual({ a: 2 });

    const changes: number[] = [];
    const watch = h.vault.kv.watch('w', (c) => changes.push(c.version), { intervalMs: 500 });
    await watch.ready;
    h.fake.kv.get('w')?.push({ a: 3 });
    await h.clock.advance(500);
    expect(changes).toEqual([3]);
    expect((await h.vault.kv.get('w')).data.reveal()).toEqual({ a: 3 });
    watch.stop();
    h.fake.kv.get('w')?.push({ a: 4 });
    await h.clock.advance(1000);
    expect(changes).toEqual([3]);
  });

  it('transit batch: the bad item carries its error, the others their results; big batches are split', async () => {
    const h = harness();
    const items = ['a', 'bad', 'c', 'd', 'e'].map((p, i) => ({ plaintext: p, reference: `r${i}` }));
    const results = await h.vault.transit.encryptBatch('k', items, { batchSize: 2 });
    expect(h.fake.count('transit/encrypt/k')).toBe(3);
    expect(results.map((r) => r.ok)).toEqual([true, false, true, true, true]);
    const bad = results[1];
    expect(bad?.ok === false && bad.error.message).toMatch(/item 1 failed: bad plaintext/);
    expect(bad?.reference).toBe('r1');
    const first = results[0];
    expect(first?.ok === true && first.ciphertext).toBe(`vault:v1:${Buffer.from('a').toString('base64')}`);
  });

  it('metrics: events become prom-client metrics without secret labels', async () => {
    const h = harness({ leases: { rotationMarginMs: 1500 } });
    const registry = new Registry();
    const metrics = registerVaultMetrics(h.vault, { registry });
    h.fake.kv.set('m', [{ x: 1 }]);
    await h.vault.kv.get('m');
    await h.vault.kv.get('m');
    const lease = h.vault.database.credentials('app');
    const p = lease.ready();
    await flush();
    await p;
    await h.clock.advance(9000);
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
    expect(text).not.toMatch(/pw-secret|LEASE0000/);
    metrics.unregister();
    expect((await registry.metrics()).trim()).toBe('');
  });
});
