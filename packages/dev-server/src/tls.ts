import type { DevServerTlsMaterial } from './server.js';

/** Generated TLS material for the dev server (CA + server certificate for 127.0.0.1/localhost). */
export interface GeneratedTls {
  material: DevServerTlsMaterial;
  caCertPath: string;
  issueClientCertificate(commonName: string): Promise<{ cert: string; key: string }>;
}

/** Generates a CA and a server certificate. */
export async function generateDevTls(_host: string): Promise<GeneratedTls> {
  throw new Error('TLS generation is not available yet');
}
