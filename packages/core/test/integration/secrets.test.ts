/**
 * KV (cache, single flight, stale, watch), transit, PKI certificates as leases and sys against the dev server over
 * real HTTP.
 */
import { X509Certificate } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import { type DevServer, startDevServer } from '@leasehold/dev-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tlsOptions, type Vault, VaultErrorCode } from '../../src/index.js';
import { eventually, LeakRecorder, rootClient } from './helpers.js';

const recorder = new LeakRecorder();
let server: DevServer;
let root: Vault;
let vault: Vault;

beforeAll(async () => {
  server = await startDevServer();
  root = rootClient(server);
  vault = rootClient(server, {
    logger: recorder.logger(),
    retry: { maxRetries: 0 },
    circuitBreaker: false,
    cache: { ttlMs: 60_000, staleIfErrorMs: 60_000 },
  });
  recorder.watch(vault);
  recorder.secret(server.rootToken);
  await root.request('POST', 'sys/mounts/kv1', { body: { type: 'kv' } });
  await root.request('POST', 'sys/mounts/transit', { body: { type: 'transit' } });
  await root.request('POST', 'sys/mounts/pki', {
    body: { type: 'pki', config: { max_lease_ttl: '87600h' } },
  });
  await root.request('POST', 'pki/root/generate/internal', {
    body: { common_name: 'Leasehold Test Root', ttl: '87600h', key_type: 'ec' },
  });
  await root.request('POST', 'pki/roles/web', {
    body: { allowed_domains: 'example.test', allow_subdomains: true, max_ttl: '1h', key_type: 'ec' },
  });
  await root.request('POST', 'pki/roles/leased', {
    body: { allowed_domains: 'example.test', allow_subdomains: true, key_type: 'ec', generate_lease: true },
  });
});

afterAll(async () => {
  await vault?.close();
  await root?.close();
  await server?.close();
  expect(recorder.leaks()).toEqual([]);
});

describe('kv', () => {
  it('10,000 concurrent kv.get of one path send one request to Vault', async () => {
    await root.request('POST', 'secret/data/app/config', { body: { data: { apiKey: 'kv-secret-1234' } } });
    recorder.secret('kv-secret-1234');
    server.clearRequests();
    const results = await Promise.all(
      Array.from({ length: 10_000 }, () => vault.kv.get<{ apiKey: string }>('app/config')),
    );
    expect(results.every((r) => r.data.reveal().apiKey === 'kv-secret-1234')).toBe(true);
    expect(server.requests({ path: 'secret/data/app/config' })).toHaveLength(1);
    expect(server.requests({ path: 'sys/internal/ui/mounts/*' })).toHaveLength(1);
    expect(results[0]?.metadata?.version).toBe(1);
  });

  it('serves a stale value while Vault is sealed, within the stale window, and says so', async () => {
    await vault.kv.put('app/stale', { v: 'one' });
    const fresh = await vault.kv.get('app/stale', { ttlMs: 1 });
    expect(fresh.stale).toBe(false);
    await new Promise((r) => setTimeout(r, 5));
    server.seal();
    try {
      const stale = await vault.kv.get<{ v: string }>('app/stale', { ttlMs: 1 });
      expect(stale.stale).toBe(true);
      expect(stale.data.reveal().v).toBe('one');
      await expect(vault.kv.get('app/stale', { ttlMs: 1, staleIfErrorMs: 1 })).rejects.toMatchObject({
        code: VaultErrorCode.SEALED,
      });
    } finally {
      server.unseal();
    }
  });

  it('put (cas), patch, versions, delete/undelete/destroy, metadata and list on KV v2', async () => {
    const v1 = await vault.kv.put('crud/item', { a: '1' }, { cas: 0 });
    expect(v1?.version).toBe(1);
    await expect(vault.kv.put('crud/item', { a: 'x' }, { cas: 0 })).rejects.toMatchObject({
      code: VaultErrorCode.CAS_MISMATCH,
    });
    await vault.kv.patch('crud/item', { b: '2' });
    expect((await vault.kv.get('crud/item')).data.reveal()).toEqual({ a: '1', b: '2' });
    expect((await vault.kv.get('crud/item', { version: 1 })).data.reveal()).toEqual({ a: '1' });
    await vault.kv.delete('crud/item');
    await expect(vault.kv.get('crud/item')).rejects.toMatchObject({ code: VaultErrorCode.NOT_FOUND });
    await vault.kv.undelete('crud/item', [2]);
    expect((await vault.kv.get('crud/item')).data.reveal()).toEqual({ a: '1', b: '2' });
    await vault.kv.destroy('crud/item', [1]);
    await expect(vault.kv.get('crud/item', { version: 1 })).rejects.toThrow(/destroyed/);
    const meta = await vault.kv.metadata('crud/item');
    expect(meta.currentVersion).toBe(2);
    expect(meta.versions[1]?.destroyed).toBe(true);
    expect(await vault.kv.list('crud')).toEqual(['item']);
    expect(await vault.kv.list('nothing-here')).toEqual([]);
    await vault.kv.deleteMetadata('crud/item');
    await expect(vault.kv.metadata('crud/item')).rejects.toMatchObject({ code: VaultErrorCode.NOT_FOUND });
  });

  it('KV v1: detected from the mount, get/put/list/delete', async () => {
    await vault.kv.put('one', { k: 'v' }, { mount: 'kv1' });
    const r = await vault.kv.get('one', { mount: 'kv1' });
    expect(r.data.reveal()).toEqual({ k: 'v' });
    expect(r.metadata).toBeUndefined();
    expect(await vault.kv.list('', { mount: 'kv1' })).toEqual(['one']);
    await expect(vault.kv.metadata('one', { mount: 'kv1' })).rejects.toMatchObject({
      code: VaultErrorCode.CONFIG,
    });
    await vault.kv.delete('one', { mount: 'kv1' });
    await expect(vault.kv.get('one', { mount: 'kv1' })).rejects.toMatchObject({
      code: VaultErrorCode.NOT_FOUND,
    });
  });

  it('watch reports a write within two intervals', async () => {
    const intervalMs = 300;
    await vault.kv.put('watched', { n: 1 });
    const seen: Array<{ version: number; at: number }> = [];
    const watch = vault.kv.watch('watched', (c) => seen.push({ version: c.version, at: Date.now() }), {
      intervalMs,
    });
    await watch.ready;
    await new Promise((r) => setTimeout(r, 100));
    const wroteAt = Date.now();
    await root.request('POST', 'secret/data/watched', { body: { data: { n: 2 } } });
    await eventually(async () => expect(seen).toHaveLength(1), 3 * intervalMs);
    expect(seen[0]?.version).toBe(2);
    expect((seen[0]?.at ?? Number.POSITIVE_INFINITY) - wroteAt).toBeLessThanOrEqual(2 * intervalMs);
    expect((await vault.kv.get<{ n: number }>('watched')).data.reveal().n).toBe(2);
    watch.stop();
  });
});

describe('transit', () => {
  it('encrypt/decrypt/rewrap single and batch; a bad item reports its own error next to the others', async () => {
    await vault.transit.createKey('orders');
    const c = await vault.transit.encrypt('orders', 'card-4242', { context: undefined });
    expect(c.ciphertext).toMatch(/^vault:v1:/);
    expect((await vault.transit.decrypt('orders', c.ciphertext)).reveal().toString()).toBe('card-4242');
    await vault.transit.rotateKey('orders');
    const rewrapped = await vault.transit.rewrap('orders', c.ciphertext);
    expect(rewrapped.ciphertext).toMatch(/^vault:v2:/);

    const batch = await vault.transit.encryptBatch(
      'orders',
      ['a', 'b', 'c', 'd', 'e'].map((p, i) => ({ plaintext: p, reference: `ref-${i}` })),
      { batchSize: 2 },
    );
    expect(batch.every((r) => r.ok)).toBe(true);
    expect(server.requests({ path: 'transit/encrypt/orders' }).length).toBeGreaterThanOrEqual(4);
    const inputs = batch.map((r) => ({ ciphertext: r.ok ? r.ciphertext : '' }));
    inputs[2] = { ciphertext: 'vault:v1:AAAAnotvalid' };
    const decrypted = await vault.transit.decryptBatch('orders', inputs);
    expect(decrypted.map((r) => r.ok)).toEqual([true, true, false, true, true]);
    const bad = decrypted[2];
    expect(bad?.ok === false && bad.error.code).toBe(VaultErrorCode.BAD_REQUEST);
    expect(bad?.ok === false && bad.error.message).toMatch(/item 2/);
    expect(decrypted.map((r) => (r.ok ? r.plaintext.reveal().toString() : null))).toEqual([
      'a',
      'b',
      null,
      'd',
      'e',
    ]);
  });

  it('datakey, hmac, sign/verify', async () => {
    const dk = await vault.transit.dataKey('orders', { type: 'plaintext', bits: 256 });
    expect(dk.plaintext?.reveal()).toHaveLength(32);
    const key = (await vault.transit.decrypt('orders', dk.ciphertext)).reveal();
    expect(dk.plaintext && key.equals(dk.plaintext.reveal())).toBe(true);
    const wrapped = await vault.transit.dataKey('orders', { type: 'wrapped' });
    expect(wrapped.plaintext).toBeUndefined();
    const mac = await vault.transit.hmac('orders', 'payload');
    expect(await vault.transit.verify('orders', 'payload', mac, { hmac: true })).toBe(true);
    expect(await vault.transit.verify('orders', 'tampered', mac, { hmac: true })).toBe(false);
    await vault.transit.createKey('signer', { type: 'ed25519' });
    const sig = await vault.transit.sign('signer', 'message');
    expect(await vault.transit.verify('signer', 'message', sig.signature)).toBe(true);
    expect(await vault.transit.verify('signer', 'other', sig.signature)).toBe(false);
  });
});

describe('pki', () => {
  it('a certificate with a 6 s TTL is replaced before it expires and feeds a TLS context', async () => {
    const cert = vault.pki.certificate('web', { commonName: 'api.example.test', ttl: '6s' });
    const first = await cert.ready();
    const x509 = new X509Certificate(first.value.certificate);
    expect(x509.subject).toContain('api.example.test');
    expect(Math.abs(Date.parse(x509.validTo) - first.expiresAt)).toBeLessThan(1000);
    expect(() => createSecureContext(tlsOptions(first.value))).not.toThrow();
    recorder.secret(first.value.privateKey.reveal());
    const rotated = await new Promise<{ at: number; serial: string }>((resolve) => {
      cert.on('rotated', (e) => {
        recorder.secret(e.current.value.privateKey.reveal());
        resolve({ at: Date.now(), serial: e.current.value.serialNumber });
      });
    });
    expect(rotated.at).toBeLessThan(first.expiresAt);
    expect(rotated.serial).not.toBe(first.value.serialNumber);
    expect(cert.current().expiresAt).toBeGreaterThan(first.expiresAt);
    expect(() => createSecureContext(tlsOptions(cert.current().value))).not.toThrow();
    await cert.revoke();
  }, 15_000);

  it('a certificate lease (generate_lease) revoked out of band is found by the lookup poll and replaced', async () => {
    const cert = vault.pki.certificate(
      'leased',
      { commonName: 'svc.example.test', ttl: '1h' },
      { lookupIntervalMs: 200 },
    );
    const first = await cert.ready();
    recorder.secret(first.value.privateKey.reveal());
    expect(first.leaseId).toMatch(/^pki\/issue\/leased\//);
    const reasons: string[] = [];
    cert.on('rotated', (e) => {
      reasons.push(e.reason);
    });
    await server.revokeLease(first.leaseId);
    // the event is what is tested; the deadline only guards a busy machine
    await eventually(async () => expect(cert.current().generation).toBe(2), 15_000, 20);
    expect(reasons).toEqual(['lease-lost']);
    recorder.secret(cert.current().value.privateKey.reveal());
    const leaseId = cert.current().leaseId;
    await cert.revoke();
    await expect(vault.sys.lookupLease(leaseId)).rejects.toMatchObject({ code: VaultErrorCode.BAD_REQUEST });
  });
});

describe('sys', () => {
  it('health, seal status (also while sealed), lease lookup/renew/revoke errors, unwrap', async () => {
    expect((await vault.sys.health()).sealed).toBe(false);
    server.seal();
    try {
      expect((await vault.sys.health()).sealed).toBe(true);
      expect((await vault.sys.sealStatus()).sealed).toBe(true);
    } finally {
      server.unseal();
    }
    await expect(vault.sys.lookupLease('pki/issue/web/unknown')).rejects.toThrow(/invalid lease/);
    await expect(vault.sys.renewLease('pki/issue/web/unknown')).rejects.toThrow(/lease not found/);
    await vault.sys.revokeLease('pki/issue/web/unknown');
    const wrapped = await root.request('POST', 'sys/wrapping/wrap', {
      body: { secret: 'wrapped-secret-99' },
      headers: { 'X-Vault-Wrap-TTL': '60' },
    });
    recorder.secret('wrapped-secret-99');
    const token = wrapped.body?.wrap_info?.token ?? '';
    recorder.secret(token);
    const unwrapped = await vault.sys.unwrap<{ secret: string }>(token);
    expect(unwrapped.reveal().data?.secret).toBe('wrapped-secret-99');
    await expect(vault.sys.unwrap(token)).rejects.toThrow(/wrapping token is not valid/);
  });
});
