import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DevServerTlsMaterial } from './server.js';
import { generateCertificateAuthority, issueCertificate } from './util/x509.js';

/** Generated TLS material for the dev server (CA + server certificate for 127.0.0.1/localhost). */
export interface GeneratedTls {
  material: DevServerTlsMaterial;
  /** Temporary file holding the CA certificate (removed by the server's `close()`). */
  caCertPath: string;
  /** Issues a client certificate signed by the same CA (for mTLS). */
  issueClientCertificate(commonName: string): Promise<{ cert: string; key: string }>;
}

const DAY = 86_400;

/** Generates a CA and a server certificate for `127.0.0.1`, `localhost` and the listen host. */
export async function generateDevTls(host: string): Promise<GeneratedTls> {
  const ca = await generateCertificateAuthority({
    commonName: 'Leasehold Dev Server CA',
    ttlSeconds: 30 * DAY,
  });
  const ipAddresses = new Set(['127.0.0.1', '::1']);
  const dnsNames = new Set(['localhost']);
  if (/^[\d.]+$/.test(host) || host.includes(':')) ipAddresses.add(host);
  else dnsNames.add(host);
  const leaf = await issueCertificate({
    ca,
    commonName: 'localhost',
    dnsNames: [...dnsNames],
    ipAddresses: [...ipAddresses].filter((ip) => ip !== '0.0.0.0' && ip !== '::'),
    ttlSeconds: 30 * DAY - 60,
    usage: 'server',
  });
  const dir = await mkdtemp(join(tmpdir(), 'leasehold-dev-server-'));
  const caCertPath = join(dir, 'ca.pem');
  await writeFile(caCertPath, ca.certificatePem, { mode: 0o644 });
  return {
    material: { cert: leaf.certificatePem, key: leaf.privateKeyPem, ca: ca.certificatePem },
    caCertPath,
    async issueClientCertificate(commonName: string) {
      const client = await issueCertificate({ ca, commonName, ttlSeconds: DAY, usage: 'client' });
      return { cert: client.certificatePem, key: client.privateKeyPem };
    },
  };
}
