/**
 * Test PKI for the cert auth method, on top of the dev server's X.509 helper (`src/util/x509.ts`).
 */
import { X509Certificate } from 'node:crypto';
import {
  type CertificateAuthority,
  type CertificateUsage,
  generateCertificateAuthority,
  issueCertificate,
} from '../../src/util/x509.js';

const DAY_SECONDS = 86_400;

/** A certificate (PEM and DER) with its PKCS#8 private key. */
export interface Issued {
  pem: string;
  der: Buffer;
  keyPem: string;
  serialNumber: string;
}

/** A CA plus the issuing handle. */
export interface TestCa extends Issued {
  authority: CertificateAuthority;
}

/** A CA valid from 20 days ago for 60 days (so backdated leaves can be issued). */
export async function makeCa(name: string): Promise<TestCa> {
  const authority = await generateCertificateAuthority({
    commonName: name,
    ttlSeconds: 60 * DAY_SECONDS,
    now: Date.now() - 20 * DAY_SECONDS * 1000,
  });
  return {
    authority,
    pem: authority.certificatePem,
    der: new X509Certificate(authority.certificatePem).raw,
    keyPem: authority.privateKeyPem,
    serialNumber: authority.serialNumber,
  };
}

/**
 * A leaf signed by `ca`, valid for `ttlDays` from `startDaysAgo` days ago (default: from now for 10 days);
 * `server` adds 127.0.0.1/localhost SANs and the serverAuth usage.
 */
export async function makeLeaf(
  ca: TestCa,
  cn: string,
  options: { startDaysAgo?: number; ttlDays?: number; server?: boolean } = {},
): Promise<Issued> {
  const usage: CertificateUsage = options.server ? 'server' : 'client';
  const issued = await issueCertificate({
    ca: ca.authority,
    commonName: cn,
    ttlSeconds: (options.ttlDays ?? 10) * DAY_SECONDS,
    now: Date.now() - (options.startDaysAgo ?? 0) * DAY_SECONDS * 1000,
    usage,
    ...(options.server ? { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] } : {}),
  });
  return {
    pem: issued.certificatePem,
    der: new X509Certificate(issued.certificatePem).raw,
    keyPem: issued.privateKeyPem,
    serialNumber: issued.serialNumber,
  };
}
