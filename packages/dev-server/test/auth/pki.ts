/**
 * Test PKI for the cert auth method: a CA and leaf certificates made with @peculiar/x509 (node:crypto cannot create
 * certificates).
 */
import { webcrypto } from 'node:crypto';
// @peculiar/x509 (through tsyringe) needs the Reflect metadata polyfill loaded first.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY = 86_400_000;

/** A certificate with its key pair. */
export interface Issued {
  pem: string;
  der: Buffer;
  /** PKCS#8 PEM of the private key. */
  keyPem: string;
  keys: webcrypto.CryptoKeyPair;
  cert: x509.X509Certificate;
}

const keyPair = async (): Promise<webcrypto.CryptoKeyPair> =>
  (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;

async function finish(cert: x509.X509Certificate, keys: webcrypto.CryptoKeyPair): Promise<Issued> {
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  const body = pkcs8.toString('base64').replace(/.{64}/g, '$&\n');
  return {
    pem: cert.toString('pem'),
    der: Buffer.from(cert.rawData),
    keyPem: `-----BEGIN PRIVATE KEY-----\n${body}\n-----END PRIVATE KEY-----\n`.replace(/\n\n/g, '\n'),
    keys,
    cert,
  };
}

let serial = 1;
const nextSerial = (): string => (serial++).toString(16).padStart(4, '0');

/** A self-signed CA certificate. */
export async function makeCa(name: string): Promise<Issued> {
  const keys = await keyPair();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: nextSerial(),
    name: `CN=${name}`,
    notBefore: new Date(Date.now() - DAY),
    notAfter: new Date(Date.now() + 30 * DAY),
    signingAlgorithm: ALG,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    ],
  });
  return finish(cert, keys);
}

/** A leaf certificate signed by `ca`; `server` adds SANs for 127.0.0.1/localhost. */
export async function makeLeaf(
  ca: Issued,
  cn: string,
  options: { notBefore?: Date; notAfter?: Date; server?: boolean } = {},
): Promise<Issued> {
  const keys = await keyPair();
  const extensions: x509.Extension[] = [new x509.BasicConstraintsExtension(false, undefined, true)];
  if (options.server)
    extensions.push(
      new x509.SubjectAlternativeNameExtension([
        { type: 'ip', value: '127.0.0.1' },
        { type: 'dns', value: 'localhost' },
      ]),
    );
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: nextSerial(),
    subject: `CN=${cn}`,
    issuer: ca.cert.subject,
    notBefore: options.notBefore ?? new Date(Date.now() - DAY),
    notAfter: options.notAfter ?? new Date(Date.now() + 10 * DAY),
    signingAlgorithm: ALG,
    publicKey: keys.publicKey,
    signingKey: ca.keys.privateKey,
    extensions,
  });
  return finish(cert, keys);
}
