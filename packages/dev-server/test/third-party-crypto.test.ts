/**
 * Transit and PKI through an unmodified third-party Vault client (node-vault): its transit commands and generic
 * read/write/list must work against the dev server as against Vault.
 */
import { X509Certificate } from 'node:crypto';
import nodeVault from 'node-vault';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevServer, startDevServer } from '../src/index.js';

let server: DevServer;
let vault: ReturnType<typeof nodeVault>;
beforeAll(async () => {
  server = await startDevServer({ devMounts: false });
  vault = nodeVault({ endpoint: server.url, token: server.rootToken, apiVersion: 'v1' });
  await vault.mount({ mount_point: 'transit', type: 'transit' });
  await vault.mount({ mount_point: 'pki', type: 'pki', config: { max_lease_ttl: '87600h' } });
});
afterAll(async () => {
  await server.close();
});

describe('node-vault against transit and PKI', () => {
  it('transit: create, list, read, encrypt, decrypt, rewrap and delete keys with node-vault’s commands', async () => {
    await vault.transitCreateKey({ name: 'orders' });
    expect((await vault.transitListKeys({})).data.keys).toEqual(['orders']);
    expect((await vault.transitReadKey({ name: 'orders' })).data).toMatchObject({ type: 'aes256-gcm96' });
    const plaintext = Buffer.from('card 4242').toString('base64');
    const encrypted = await vault.encryptData({ name: 'orders', plaintext });
    expect(encrypted.data.ciphertext).toMatch(/^vault:v1:/);
    const decrypted = await vault.decryptData({ name: 'orders', ciphertext: encrypted.data.ciphertext });
    expect(Buffer.from(decrypted.data.plaintext, 'base64').toString()).toBe('card 4242');
    await vault.write('transit/keys/orders/rotate', {});
    const rewrapped = await vault.rewrapData({ name: 'orders', ciphertext: encrypted.data.ciphertext });
    expect(rewrapped.data.ciphertext).toMatch(/^vault:v2:/);
    await expect(vault.transitDeleteKey({ name: 'orders' })).rejects.toMatchObject({
      response: { statusCode: 400 },
    });
    await vault.write('transit/keys/orders/config', { deletion_allowed: true });
    await vault.transitDeleteKey({ name: 'orders' });
    await expect(vault.transitReadKey({ name: 'orders' })).rejects.toMatchObject({
      response: { statusCode: 404 },
    });
  });

  it('PKI: root, role and issue through generic writes; a bad CN is a 400 error', async () => {
    const root = await vault.write('pki/root/generate/internal', {
      common_name: 'Third Party Root',
      key_type: 'ec',
    });
    await vault.write('pki/roles/web', {
      allowed_domains: 'example.com',
      allow_subdomains: true,
      key_type: 'ec',
    });
    const issued = await vault.write('pki/issue/web', { common_name: 'api.example.com', ttl: '1h' });
    const cert = new X509Certificate(issued.data.certificate);
    expect(cert.checkIssued(new X509Certificate(root.data.certificate))).toBe(true);
    expect((await vault.read(`pki/cert/${issued.data.serial_number}`)).data.certificate).toBe(
      issued.data.certificate,
    );
    await expect(vault.write('pki/issue/web', { common_name: 'api.evil.com' })).rejects.toMatchObject({
      response: { statusCode: 400, body: { errors: ['common name api.evil.com not allowed by this role'] } },
    });
  });
});
