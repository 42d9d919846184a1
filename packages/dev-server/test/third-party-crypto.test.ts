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

  it('transit: backup, restore under a new name and trim through generic reads and writes', async () => {
    await vault.write('transit/keys/ledger', { exportable: true, allow_plaintext_backup: true });
    await vault.write('transit/keys/ledger/rotate', {});
    await vault.write('transit/keys/ledger/rotate', {});
    const ciphertext = (
      await vault.write('transit/encrypt/ledger', { plaintext: Buffer.from('entry').toString('base64') })
    ).data.ciphertext;
    const backup = (await vault.read('transit/backup/ledger')).data.backup;
    await vault.write('transit/restore/ledger-copy', { backup });
    const decrypted = await vault.write('transit/decrypt/ledger-copy', { ciphertext });
    expect(Buffer.from(decrypted.data.plaintext, 'base64').toString()).toBe('entry');
    await expect(vault.write('transit/restore', { backup })).rejects.toMatchObject({
      response: { statusCode: 500, body: { errors: ['key "ledger" already exists'] } },
    });
    await vault.write('transit/keys/ledger/config', { min_decryption_version: 3, min_encryption_version: 3 });
    const trimmed = await vault.write('transit/keys/ledger/trim', { min_available_version: 3 });
    expect(trimmed.data).toMatchObject({ min_available_version: 3 });
    expect(Object.keys(trimmed.data.keys)).toEqual(['3']);
  });

  it('PKI: an intermediate signed by the root, sign-verbatim, CRL rotation and tidy', async () => {
    await vault.mount({ mount_point: 'pki_int', type: 'pki', config: { max_lease_ttl: '43800h' } });
    const rootPem = (await vault.read('pki/cert/ca')).data.certificate;
    const csr = await vault.write('pki_int/intermediate/generate/internal', {
      common_name: 'Third Party Intermediate',
      key_type: 'ec',
    });
    const signed = await vault.write('pki/root/sign-intermediate', {
      csr: csr.data.csr,
      ttl: '43800h',
    });
    const set = await vault.write('pki_int/intermediate/set-signed', {
      certificate: signed.data.certificate,
    });
    expect(set.data.imported_issuers).toHaveLength(1);
    const intermediate = new X509Certificate(signed.data.certificate);
    expect(intermediate.ca).toBe(true);
    expect(intermediate.checkIssued(new X509Certificate(rootPem))).toBe(true);

    const request = await vault.write('pki_int/intermediate/generate/exported', { common_name: 'leaf.test' });
    const leaf = await vault.write('pki_int/sign-verbatim', { csr: request.data.csr, ttl: '1h' });
    expect(new X509Certificate(leaf.data.certificate).checkIssued(intermediate)).toBe(true);
    await vault.write('pki_int/revoke', { serial_number: leaf.data.serial_number });
    expect((await vault.read('pki_int/crl/rotate')).data).toEqual({ success: true });
    // Vault answers tidy with 202 Accepted; node-vault treats every status but 200/204 as a failure (against a real
    // Vault too), so the answer arrives as a rejection carrying the 202 body.
    await expect(
      vault.write('pki_int/tidy', { tidy_cert_store: true, safety_buffer: '1h' }),
    ).rejects.toMatchObject({
      response: {
        statusCode: 202,
        body: {
          warnings: [
            "Tidy operation successfully started. Any information from the operation will be printed to Vault's server logs.",
          ],
        },
      },
    });
    expect((await vault.read('pki_int/tidy-status')).data).toMatchObject({ state: 'Finished' });
  });
});
