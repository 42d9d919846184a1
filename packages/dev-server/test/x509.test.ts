import { createPrivateKey, createPublicKey, createSign, createVerify, X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createServer as createTlsServer, connect as tlsConnect } from 'node:tls';
import { describe, expect, it } from 'vitest';
import {
  certificateSerialNumber,
  createCertificateRequest,
  createCrl,
  formatSerialNumber,
  generateCertificateAuthority,
  issueCertificate,
  loadCertificateAuthority,
  parseCertificateRequest,
  signCertificateRequest,
  X509HelperError,
} from '../src/util/x509.js';

describe('x509 helper', () => {
  it('generates an EC CA and a server certificate that chains, matches host/IP and is valid now', async () => {
    const ca = await generateCertificateAuthority({
      commonName: 'Leasehold Dev Root',
      keyType: 'ec',
      ttlSeconds: 3600,
    });
    const caCert = new X509Certificate(ca.certificatePem);
    expect(caCert.ca).toBe(true);
    expect(caCert.subject).toContain('CN=Leasehold Dev Root');
    expect(caCert.verify(caCert.publicKey)).toBe(true);
    expect(ca.serialNumber).toMatch(/^[0-9a-f]{2}(:[0-9a-f]{2})+$/);
    expect(formatSerialNumber(caCert.serialNumber)).toBe(ca.serialNumber);

    const leaf = await issueCertificate({
      ca,
      commonName: 'localhost',
      dnsNames: ['localhost'],
      ipAddresses: ['127.0.0.1', '::1'],
      uriSans: ['spiffe://leasehold/test'],
      ttlSeconds: 600,
      usage: 'server',
    });
    const cert = new X509Certificate(leaf.certificatePem);
    expect(cert.verify(caCert.publicKey)).toBe(true);
    expect(cert.checkIssued(caCert)).toBe(true);
    expect(cert.ca).toBe(false);
    expect(cert.checkHost('localhost')).toBe('localhost');
    expect(cert.checkHost('evil.example')).toBeUndefined();
    expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(cert.checkIP('::1')).toBe('::1');
    expect(cert.checkIP('10.0.0.1')).toBeUndefined();
    expect(cert.subjectAltName).toContain('URI:spiffe://leasehold/test');
    expect(cert.keyUsage).toContain('1.3.6.1.5.5.7.3.1');
    expect(cert.keyUsage).not.toContain('1.3.6.1.5.5.7.3.2');
    const now = Date.now();
    expect(new Date(cert.validFrom).getTime()).toBeLessThanOrEqual(now);
    expect(new Date(cert.validTo).getTime()).toBe(leaf.notAfter.getTime());
    expect(leaf.expiration).toBe(Math.floor(leaf.notAfter.getTime() / 1000));
    expect(Math.abs(leaf.notAfter.getTime() - (now + 600_000))).toBeLessThan(5_000);
    expect(certificateSerialNumber(leaf.certificatePem)).toBe(leaf.serialNumber);
    expect(leaf.keyType).toBe('ec');
    expect(leaf.privateKeyPem).toContain('-----BEGIN PRIVATE KEY-----');
    expect(leaf.traditionalPrivateKeyPem).toContain('-----BEGIN EC PRIVATE KEY-----');

    // The private key belongs to the certificate: sign with it, verify with the certificate's public key.
    const signer = createSign('sha256');
    signer.update('hello');
    const signature = signer.sign(createPrivateKey(leaf.privateKeyPem));
    const verifier = createVerify('sha256');
    verifier.update('hello');
    expect(verifier.verify(cert.publicKey, signature)).toBe(true);
  });

  it('issues RSA client certificates from an RSA CA, with PKCS#1 keys', async () => {
    const ca = await generateCertificateAuthority({
      commonName: 'RSA Root',
      keyType: 'rsa',
      ttlSeconds: 3600,
    });
    expect(ca.traditionalPrivateKeyPem).toContain('-----BEGIN RSA PRIVATE KEY-----');
    const leaf = await issueCertificate({
      ca,
      commonName: 'alice',
      keyType: 'rsa',
      ttlSeconds: 60,
      usage: 'client',
    });
    const cert = new X509Certificate(leaf.certificatePem);
    expect(cert.checkIssued(new X509Certificate(ca.certificatePem))).toBe(true);
    expect(cert.verify(createPublicKey(ca.certificatePem))).toBe(true);
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
    expect(cert.subject).toContain('CN=alice');
    expect(leaf.traditionalPrivateKeyPem).toContain('-----BEGIN RSA PRIVATE KEY-----');
    expect(leaf.keyBits).toBe(2048);
  });

  it('caps a leaf at the CA NotAfter and honours an injected clock', async () => {
    const now = Date.UTC(2030, 0, 1);
    const ca = await generateCertificateAuthority({ commonName: 'Short Root', ttlSeconds: 120, now });
    const leaf = await issueCertificate({ ca, commonName: 'x', ttlSeconds: 3600, now, usage: 'both' });
    expect(leaf.notAfter.getTime()).toBe(ca.notAfter.getTime());
    expect(ca.notAfter.getTime()).toBe(now + 120_000);
    const cert = new X509Certificate(leaf.certificatePem);
    expect(new Date(cert.validTo).getTime()).toBe(now + 120_000);
    expect(cert.keyUsage?.sort()).toEqual(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
  });

  it('loads a CA from a PEM bundle (either key form) and signs with it', async () => {
    const original = await generateCertificateAuthority({ commonName: 'Imported Root', ttlSeconds: 3600 });
    const loaded = await loadCertificateAuthority(
      `${original.certificatePem}${original.traditionalPrivateKeyPem}`,
    );
    expect(loaded.serialNumber).toBe(original.serialNumber);
    expect(loaded.commonName).toBe('Imported Root');
    expect(loaded.keyType).toBe('ec');
    const leaf = await issueCertificate({ ca: loaded, commonName: 'svc', dnsNames: ['svc'], ttlSeconds: 60 });
    expect(
      new X509Certificate(leaf.certificatePem).checkIssued(new X509Certificate(original.certificatePem)),
    ).toBe(true);
    const other = await generateCertificateAuthority({ commonName: 'Other', ttlSeconds: 60 });
    await expect(loadCertificateAuthority(original.certificatePem, other.privateKeyPem)).rejects.toThrow(
      /does not match/,
    );
    await expect(loadCertificateAuthority(leaf.certificatePem, leaf.privateKeyPem)).rejects.toThrow(
      /not a CA/,
    );
    await expect(loadCertificateAuthority('garbage')).rejects.toBeInstanceOf(X509HelperError);
  });

  it('rejects bad key sizes, TTLs and IPs with typed errors', async () => {
    await expect(
      generateCertificateAuthority({ commonName: 'a', keyType: 'ec', keyBits: 1024, ttlSeconds: 60 }),
    ).rejects.toThrow(/unsupported key_bits 1024 for key_type ec/);
    await expect(generateCertificateAuthority({ commonName: 'a', ttlSeconds: 0 })).rejects.toThrow(
      /invalid ttlSeconds/,
    );
    const ca = await generateCertificateAuthority({ commonName: 'a', ttlSeconds: 60 });
    await expect(
      issueCertificate({ ca, commonName: 'b', ipAddresses: ['not-an-ip'], ttlSeconds: 60 }),
    ).rejects.toThrow(/invalid IP address/);
  });

  it('works for a real mutual-TLS handshake on loopback', async () => {
    const ca = await generateCertificateAuthority({ commonName: 'TLS Root', ttlSeconds: 600 });
    const server = await issueCertificate({
      ca,
      commonName: 'localhost',
      dnsNames: ['localhost'],
      ipAddresses: ['127.0.0.1'],
      ttlSeconds: 600,
      usage: 'server',
    });
    const client = await issueCertificate({ ca, commonName: 'client-a', ttlSeconds: 600, usage: 'client' });
    const tlsServer = createTlsServer(
      { cert: server.certificatePem, key: server.privateKeyPem, ca: ca.certificatePem, requestCert: true },
      (socket) => {
        const peer = socket.getPeerCertificate();
        socket.end(`${socket.authorized ? 'ok' : 'no'}:${peer.subject?.CN ?? ''}`);
      },
    );
    tlsServer.listen(0, '127.0.0.1');
    await once(tlsServer, 'listening');
    try {
      const { port } = tlsServer.address() as AddressInfo;
      const socket = tlsConnect({
        host: '127.0.0.1',
        port,
        ca: ca.certificatePem,
        cert: client.certificatePem,
        key: client.traditionalPrivateKeyPem,
      });
      let body = '';
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => {
        body += chunk;
      });
      await once(socket, 'end');
      expect(socket.authorized).toBe(true);
      expect(body).toBe('ok:client-a');
      socket.destroy();
    } finally {
      tlsServer.close();
    }
  });

  it('signs a PKCS#10 request with the requester’s key and builds a CRL', async () => {
    const ca = await generateCertificateAuthority({
      commonName: 'CSR Root',
      keyType: 'rsa',
      ttlSeconds: 600,
    });
    const request = await createCertificateRequest({
      commonName: 'svc.internal',
      dnsNames: ['svc.internal'],
      ipAddresses: ['10.1.2.3'],
      keyType: 'ec',
    });
    expect(await parseCertificateRequest(request.csrPem)).toEqual({
      commonName: 'svc.internal',
      dnsNames: ['svc.internal'],
      ipAddresses: ['10.1.2.3'],
      uriSans: [],
      keyType: 'ec',
      keyBits: 256,
    });
    const signed = await signCertificateRequest({
      ca,
      csrPem: request.csrPem,
      commonName: 'svc.internal',
      dnsNames: ['svc.internal'],
      ipAddresses: ['10.1.2.3'],
      ttlSeconds: 60,
      usage: 'server',
    });
    const cert = new X509Certificate(signed.certificatePem);
    expect(cert.checkIssued(new X509Certificate(ca.certificatePem))).toBe(true);
    expect(cert.checkPrivateKey(createPrivateKey(request.privateKeyPem))).toBe(true);
    expect(cert.checkIP('10.1.2.3')).toBe('10.1.2.3');
    expect(signed).not.toHaveProperty('privateKeyPem');
    await expect(parseCertificateRequest('nope')).rejects.toBeInstanceOf(X509HelperError);

    const crl = await createCrl({
      ca,
      revoked: [{ serialNumber: signed.serialNumber, revokedAt: Date.now() }],
    });
    expect(crl.pem).toMatch(/^-----BEGIN X509 CRL-----/);
    // The CRL's issuer is the CA and it lists the serial (DER contains the serial bytes).
    expect(crl.der.includes(Buffer.from(signed.serialNumber.replace(/:/g, ''), 'hex'))).toBe(true);
  });
});
