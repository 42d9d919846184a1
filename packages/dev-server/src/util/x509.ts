/**
 * X.509 helper shared by the dev server's PKI engine, its `--tls` listener, the `auth/cert` method and tests:
 * generate a self-signed certificate authority, load one from PEM, and issue leaf certificates signed by it.
 *
 * Built on `@peculiar/x509` with Node's WebCrypto. Keys are generated in memory; PEM private keys are returned to
 * the caller and never logged.
 */
import {
  createPrivateKey,
  createPublicKey,
  KeyObject,
  X509Certificate as NodeX509Certificate,
  randomBytes,
  webcrypto,
} from 'node:crypto';
import { isIP } from 'node:net';
// @peculiar/x509 (through tsyringe) needs a Reflect metadata polyfill loaded before it.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';

/** Key algorithm of a generated key: `ec` (ECDSA) or `rsa` (RSASSA-PKCS1-v1_5). */
export type X509KeyType = 'ec' | 'rsa';

/** Extended key usage of an issued certificate (`none` omits the extension). */
export type CertificateUsage = 'server' | 'client' | 'both' | 'none';

/** Default key sizes, as Vault's PKI engine: EC P-256, RSA 2048. */
export const DEFAULT_KEY_BITS: Readonly<Record<X509KeyType, number>> = { ec: 256, rsa: 2048 };

const EC_CURVES: Readonly<Record<number, string>> = { 256: 'P-256', 384: 'P-384', 521: 'P-521' };
const EC_HASHES: Readonly<Record<string, string>> = {
  'P-256': 'SHA-256',
  'P-384': 'SHA-384',
  'P-521': 'SHA-512',
};
const RSA_BITS = new Set([2048, 3072, 4096]);
/** Vault backdates NotBefore by 30 seconds to tolerate clock skew. */
const NOT_BEFORE_BACKDATE_MS = 30_000;

/** A certificate plus its private key in the PEM forms Vault hands out. */
export interface CertificateWithKey {
  /** PEM `CERTIFICATE`. */
  readonly certificatePem: string;
  /** PEM PKCS#8 `PRIVATE KEY` (Vault's `private_key_format=pkcs8`). Secret: never log it. */
  readonly privateKeyPem: string;
  /**
   * PEM private key in the traditional form Vault returns by default: PKCS#1 `RSA PRIVATE KEY` for RSA keys,
   * SEC 1 `EC PRIVATE KEY` for EC keys. Secret: never log it.
   */
  readonly traditionalPrivateKeyPem: string;
  /** `ec` or `rsa` (Vault's `private_key_type`). */
  readonly keyType: X509KeyType;
  /** Key size: curve bits for EC (256/384/521), modulus bits for RSA. */
  readonly keyBits: number;
  /** Serial number as Vault formats it: lowercase colon-separated hex pairs (`39:dd:2e:…`). */
  readonly serialNumber: string;
  /** Subject common name. */
  readonly commonName: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** NotAfter as unix seconds (Vault's `expiration`). */
  readonly expiration: number;
}

/** A certificate authority able to sign certificates. */
export interface CertificateAuthority extends CertificateWithKey {
  /** The CA's private key as a WebCrypto signing key (non-extractable use only). */
  readonly signingKey: webcrypto.CryptoKey;
  /** The CA certificate, parsed. */
  readonly certificate: x509.X509Certificate;
}

/** Options for {@link generateCertificateAuthority}. */
export interface GenerateCertificateAuthorityOptions {
  commonName: string;
  /** Default `ec`. */
  keyType?: X509KeyType;
  /** Default 256 for EC, 2048 for RSA. */
  keyBits?: number;
  /** Validity in seconds from now. */
  ttlSeconds: number;
  /** Clock (ms since epoch); default `Date.now()`. */
  now?: number;
}

/** Options for {@link issueCertificate}. */
export interface IssueCertificateOptions {
  ca: CertificateAuthority;
  commonName: string;
  /** DNS subject alternative names (the common name is NOT added automatically). */
  dnsNames?: readonly string[];
  /** IPv4/IPv6 subject alternative names. */
  ipAddresses?: readonly string[];
  /** URI subject alternative names. */
  uriSans?: readonly string[];
  /** Default `ec`. */
  keyType?: X509KeyType;
  /** Default 256 for EC, 2048 for RSA. */
  keyBits?: number;
  /** Validity in seconds from now; truncated so the certificate never outlives the CA. */
  ttlSeconds: number;
  /** Extended key usage; default `server`. */
  usage?: CertificateUsage;
  /** Let NotAfter go past the CA's NotAfter (Vault's `leaf_not_after_behavior=permit`); default false (truncate). */
  allowBeyondCa?: boolean;
  /** Clock (ms since epoch); default `Date.now()`. */
  now?: number;
  /** Authority information access URLs to embed (Vault's `config/urls`); empty lists add no extension. */
  urls?: AuthorityUrls;
}

/** Vault's `config/urls`: where relying parties find the issuer's certificate, its CRL and OCSP responder. */
export interface AuthorityUrls {
  readonly issuingCertificates: readonly string[];
  readonly crlDistributionPoints: readonly string[];
  readonly ocspServers: readonly string[];
}

/** Thrown for invalid input (bad key type/size, key that doesn't match the certificate, unparsable PEM). */
export class X509HelperError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'X509HelperError';
  }
}

let providerReady = false;
function ensureProvider(): void {
  if (providerReady) return;
  x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
  providerReady = true;
}

interface KeyAlgorithms {
  generate: webcrypto.RsaHashedKeyGenParams | webcrypto.EcKeyGenParams;
  import: webcrypto.RsaHashedImportParams | webcrypto.EcKeyImportParams;
  sign: webcrypto.Algorithm | webcrypto.EcdsaParams;
}

function algorithmsFor(keyType: X509KeyType, keyBits: number): KeyAlgorithms {
  if (keyType === 'ec') {
    const namedCurve = EC_CURVES[keyBits];
    if (!namedCurve)
      throw new X509HelperError(`unsupported key_bits ${keyBits} for key_type ec: use 256, 384 or 521`);
    const hash = EC_HASHES[namedCurve] ?? 'SHA-256';
    return {
      generate: { name: 'ECDSA', namedCurve },
      import: { name: 'ECDSA', namedCurve },
      sign: { name: 'ECDSA', hash } as webcrypto.EcdsaParams,
    };
  }
  if (keyType === 'rsa') {
    if (!RSA_BITS.has(keyBits))
      throw new X509HelperError(`unsupported key_bits ${keyBits} for key_type rsa: use 2048, 3072 or 4096`);
    return {
      generate: {
        name: 'RSASSA-PKCS1-v1_5',
        modulusLength: keyBits,
        publicExponent: new Uint8Array([1, 0, 1]),
        hash: 'SHA-256',
      },
      import: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
      sign: { name: 'RSASSA-PKCS1-v1_5' },
    };
  }
  throw new X509HelperError(`unsupported key_type ${String(keyType)}: use ec or rsa`);
}

/** A random positive 20-byte serial number as hex (no leading zero byte, high bit clear). */
function randomSerialHex(): string {
  const bytes = randomBytes(20);
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x01;
  return bytes.toString('hex');
}

/** Formats a hex serial number (any case, with or without colons) as Vault does: `39:dd:2e:…`. */
export function formatSerialNumber(hex: string): string {
  let clean = hex.replace(/:/g, '').toLowerCase();
  if (clean.length % 2 === 1) clean = `0${clean}`;
  return (clean.match(/../g) ?? []).join(':');
}

/** The Vault-formatted serial number of a PEM or DER certificate. */
export function certificateSerialNumber(certificate: string | Buffer): string {
  return formatSerialNumber(new NodeX509Certificate(certificate).serialNumber);
}

function toPem(der: ArrayBuffer | Buffer, label: string): string {
  const b64 = Buffer.from(der as ArrayBuffer).toString('base64');
  return `-----BEGIN ${label}-----\n${(b64.match(/.{1,64}/g) ?? []).join('\n')}\n-----END ${label}-----\n`;
}

function exportPrivateKey(key: KeyObject, keyType: X509KeyType): { pkcs8: string; traditional: string } {
  const pkcs8 = key.export({ type: 'pkcs8', format: 'pem' }).toString();
  const traditional = key.export({ type: keyType === 'rsa' ? 'pkcs1' : 'sec1', format: 'pem' }).toString();
  return { pkcs8, traditional };
}

function wholeSeconds(ms: number): Date {
  return new Date(Math.floor(ms / 1000) * 1000);
}

function cnName(commonName: string): x509.JsonName {
  return [{ CN: [commonName] }];
}

function resolveKey(keyType: X509KeyType | undefined, keyBits: number | undefined) {
  const type = keyType ?? 'ec';
  const bits = keyBits && keyBits > 0 ? keyBits : (DEFAULT_KEY_BITS[type] ?? 256);
  return { type, bits, algorithms: algorithmsFor(type, bits) };
}

function validateTtl(ttlSeconds: number): void {
  if (!Number.isFinite(ttlSeconds) || ttlSeconds <= 0)
    throw new X509HelperError(`invalid ttlSeconds ${ttlSeconds}: must be a positive number of seconds`);
}

/** The public fields of a certificate. */
function describeCertificate(
  cert: x509.X509Certificate,
  keyType: X509KeyType,
  keyBits: number,
  commonName: string,
): SignedCertificate {
  return {
    certificatePem: cert.toString('pem').concat('\n'),
    keyType,
    keyBits,
    serialNumber: formatSerialNumber(cert.serialNumber),
    commonName,
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    expiration: Math.floor(cert.notAfter.getTime() / 1000),
  };
}

/** The {@link CertificateWithKey} fields of a certificate and its private key. */
function describe(
  cert: x509.X509Certificate,
  key: KeyObject,
  keyType: X509KeyType,
  keyBits: number,
  commonName: string,
): CertificateWithKey {
  const exported = exportPrivateKey(key, keyType);
  return {
    ...describeCertificate(cert, keyType, keyBits, commonName),
    privateKeyPem: exported.pkcs8,
    traditionalPrivateKeyPem: exported.traditional,
  };
}

/**
 * Generates a self-signed certificate authority (BasicConstraints CA:true, keyCertSign + cRLSign).
 *
 * @example
 * const ca = await generateCertificateAuthority({ commonName: 'Dev Root', ttlSeconds: 86400 });
 */
export async function generateCertificateAuthority(
  options: GenerateCertificateAuthorityOptions,
): Promise<CertificateAuthority> {
  ensureProvider();
  validateTtl(options.ttlSeconds);
  if (!options.commonName) throw new X509HelperError('commonName is required for a certificate authority');
  const { type, bits, algorithms } = resolveKey(options.keyType, options.keyBits);
  const now = options.now ?? Date.now();
  const keys = (await webcrypto.subtle.generateKey(algorithms.generate, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  const serialHex = randomSerialHex();
  const notBefore = wholeSeconds(now - NOT_BEFORE_BACKDATE_MS);
  const notAfter = wholeSeconds(now + options.ttlSeconds * 1000);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialHex,
    name: cnName(options.commonName),
    notBefore,
    notAfter,
    keys: keys,
    signingAlgorithm: algorithms.sign,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return {
    ...describe(cert, KeyObject.from(keys.privateKey), type, bits, options.commonName),
    signingKey: keys.privateKey,
    certificate: cert,
  };
}

/** The key type and size of a Node key object (RSA, or EC on P-256/P-384/P-521). */
function keyTypeAndBits(key: KeyObject, what: string): { type: X509KeyType; bits: number } {
  if (key.asymmetricKeyType === 'rsa')
    return { type: 'rsa', bits: key.asymmetricKeyDetails?.modulusLength ?? 0 };
  if (key.asymmetricKeyType === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    const bits = curve === 'secp384r1' ? 384 : curve === 'secp521r1' ? 521 : curve === 'prime256v1' ? 256 : 0;
    if (bits === 0)
      throw new X509HelperError(
        `unsupported EC curve ${String(curve)} for the ${what}: use P-256, P-384 or P-521`,
      );
    return { type: 'ec', bits };
  }
  throw new X509HelperError(`unsupported ${what} type ${String(key.asymmetricKeyType)}: use ec or rsa`);
}

/**
 * Loads a certificate authority from a PEM certificate and its PEM private key (PKCS#8, PKCS#1 or SEC 1); both may
 * come in one bundle string (Vault's `config/ca` `pem_bundle`). Checks that the key matches the certificate and that
 * the certificate is a CA.
 */
export async function loadCertificateAuthority(
  certificatePem: string,
  privateKeyPem?: string,
): Promise<CertificateAuthority> {
  ensureProvider();
  const bundle = `${certificatePem}\n${privateKeyPem ?? ''}`;
  const certBlock = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(bundle)?.[0];
  const keyBlock =
    /-----BEGIN (?:RSA |EC )?PRIVATE KEY-----[\s\S]+?-----END (?:RSA |EC )?PRIVATE KEY-----/.exec(
      bundle,
    )?.[0];
  if (!certBlock) throw new X509HelperError('no certificate found in the PEM bundle');
  if (!keyBlock) throw new X509HelperError('no private key found in the PEM bundle');
  let nodeCert: NodeX509Certificate;
  let keyObject: KeyObject;
  try {
    nodeCert = new NodeX509Certificate(certBlock);
  } catch {
    throw new X509HelperError('the certificate in the PEM bundle could not be parsed');
  }
  try {
    keyObject = createPrivateKey(keyBlock);
  } catch {
    throw new X509HelperError('the private key in the PEM bundle could not be parsed');
  }
  if (!nodeCert.ca) throw new X509HelperError('the certificate in the PEM bundle is not a CA certificate');
  const publicFromKey = createPublicKey(keyObject).export({ type: 'spki', format: 'der' });
  const publicFromCert = nodeCert.publicKey.export({ type: 'spki', format: 'der' });
  if (!publicFromKey.equals(publicFromCert))
    throw new X509HelperError('the private key in the PEM bundle does not match the certificate');
  const { type, bits } = keyTypeAndBits(keyObject, 'CA key');
  const algorithms = algorithmsFor(type, bits);
  const pkcs8Der = keyObject.export({ type: 'pkcs8', format: 'der' });
  const signingKey = await webcrypto.subtle.importKey('pkcs8', pkcs8Der, algorithms.import, false, ['sign']);
  const cert = new x509.X509Certificate(certBlock);
  const cn = /(?:^|\n)CN=([^\n]*)/.exec(nodeCert.subject)?.[1] ?? '';
  return { ...describe(cert, keyObject, type, bits, cn), signingKey, certificate: cert };
}

/**
 * Issues a leaf certificate signed by `ca` with a freshly generated key pair. NotAfter is `now + ttlSeconds`,
 * truncated to the CA's NotAfter; NotBefore is backdated 30 s as Vault does.
 *
 * @example
 * const server = await issueCertificate({ ca, commonName: 'localhost', dnsNames: ['localhost'],
 *   ipAddresses: ['127.0.0.1'], ttlSeconds: 3600, usage: 'server' });
 */
export async function issueCertificate(options: IssueCertificateOptions): Promise<CertificateWithKey> {
  ensureProvider();
  validateTtl(options.ttlSeconds);
  const { type, bits, algorithms } = resolveKey(options.keyType, options.keyBits);
  const keys = (await webcrypto.subtle.generateKey(algorithms.generate, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  const cert = await signLeaf(options, keys.publicKey, type);
  return describe(cert, KeyObject.from(keys.privateKey), type, bits, options.commonName);
}

/** Signs a leaf certificate for `publicKey` with the CA (shared by issue and CSR signing). */
async function signLeaf(
  options: Omit<IssueCertificateOptions, 'keyType' | 'keyBits'>,
  publicKey: webcrypto.CryptoKey,
  keyType: X509KeyType,
  shape: { caPathLength?: number; subject?: x509.Name } = {},
): Promise<x509.X509Certificate> {
  const { ca } = options;
  const caAlgorithms = algorithmsFor(ca.keyType, ca.keyBits);
  const now = options.now ?? Date.now();
  const names: x509.JsonGeneralName[] = [];
  for (const dns of options.dnsNames ?? []) names.push({ type: 'dns', value: dns });
  for (const ip of options.ipAddresses ?? []) {
    if (isIP(ip) === 0) throw new X509HelperError(`invalid IP address ${ip} in ipAddresses`);
    names.push({ type: 'ip', value: ip });
  }
  for (const uri of options.uriSans ?? []) names.push({ type: 'url', value: uri });
  const usage = options.usage ?? 'server';
  const eku: string[] = [];
  if (usage === 'server' || usage === 'both') eku.push(x509.ExtendedKeyUsage.serverAuth);
  if (usage === 'client' || usage === 'both') eku.push(x509.ExtendedKeyUsage.clientAuth);
  const keyUsage =
    x509.KeyUsageFlags.digitalSignature |
    (keyType === 'rsa' ? x509.KeyUsageFlags.keyEncipherment : x509.KeyUsageFlags.keyAgreement);
  const isCa = shape.caPathLength !== undefined;
  const extensions: x509.Extension[] = [
    isCa
      ? new x509.BasicConstraintsExtension(
          true,
          (shape.caPathLength as number) >= 0 ? shape.caPathLength : undefined,
          true,
        )
      : new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(
      isCa
        ? x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature
        : keyUsage,
      true,
    ),
    await x509.SubjectKeyIdentifierExtension.create(publicKey),
    await x509.AuthorityKeyIdentifierExtension.create(ca.certificate.publicKey),
  ];
  if (eku.length > 0 && !isCa) extensions.push(new x509.ExtendedKeyUsageExtension(eku, false));
  const urls = options.urls;
  if (urls && (urls.issuingCertificates.length > 0 || urls.ocspServers.length > 0))
    extensions.push(
      new x509.AuthorityInfoAccessExtension({
        ocsp: [...urls.ocspServers],
        caIssuers: [...urls.issuingCertificates],
      }),
    );
  if (urls && urls.crlDistributionPoints.length > 0)
    extensions.push(new x509.CRLDistributionPointsExtension([...urls.crlDistributionPoints]));
  if (names.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(names, false));
  const notBefore = wholeSeconds(Math.max(now - NOT_BEFORE_BACKDATE_MS, ca.notBefore.getTime()));
  const requested = now + options.ttlSeconds * 1000;
  const notAfter = wholeSeconds(
    options.allowBeyondCa ? requested : Math.min(requested, ca.notAfter.getTime()),
  );
  return x509.X509CertificateGenerator.create({
    serialNumber: randomSerialHex(),
    subject: shape.subject ?? cnName(options.commonName),
    issuer: ca.certificate.subjectName,
    notBefore,
    notAfter,
    publicKey,
    signingKey: ca.signingKey,
    signingAlgorithm: caAlgorithms.sign,
    extensions,
  });
}

/**
 * Creates a PEM PKCS#10 certificate request with a fresh key (for tests of CSR signing, e.g. PKI `sign/:role`).
 * Returns the request and the PKCS#8 private key.
 */
export async function createCertificateRequest(options: {
  commonName: string;
  dnsNames?: readonly string[];
  ipAddresses?: readonly string[];
  keyType?: X509KeyType;
  keyBits?: number;
}): Promise<{
  csrPem: string;
  privateKeyPem: string;
  traditionalPrivateKeyPem: string;
  keyType: X509KeyType;
  keyBits: number;
}> {
  ensureProvider();
  const { type, bits, algorithms } = resolveKey(options.keyType, options.keyBits);
  const keys = (await webcrypto.subtle.generateKey(algorithms.generate, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  const names: x509.JsonGeneralName[] = [
    ...(options.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(options.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value })),
  ];
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: cnName(options.commonName),
    keys,
    signingAlgorithm: algorithms.sign,
    extensions: names.length ? [new x509.SubjectAlternativeNameExtension(names)] : [],
  });
  const exported = exportPrivateKey(KeyObject.from(keys.privateKey), type);
  return {
    csrPem: csr.toString('pem'),
    privateKeyPem: exported.pkcs8,
    traditionalPrivateKeyPem: exported.traditional,
    keyType: type,
    keyBits: bits,
  };
}

/** What a PKCS#10 certificate request asks for. */
export interface ParsedCertificateRequest {
  readonly commonName: string;
  readonly dnsNames: string[];
  readonly ipAddresses: string[];
  readonly uriSans: string[];
  readonly keyType: X509KeyType;
  readonly keyBits: number;
}

async function openCsr(
  csrPem: string,
): Promise<{ csr: x509.Pkcs10CertificateRequest; info: ParsedCertificateRequest }> {
  ensureProvider();
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(csrPem.trim());
  } catch {
    throw new X509HelperError(
      'certificate request could not be parsed: expected a PEM "CERTIFICATE REQUEST"',
    );
  }
  if (!(await csr.verify())) throw new X509HelperError('certificate request signature is invalid');
  const key = createPublicKey({ key: Buffer.from(csr.publicKey.rawData), format: 'der', type: 'spki' });
  const { type: keyType, bits: keyBits } = keyTypeAndBits(key, 'key in the certificate request');
  const dnsNames: string[] = [];
  const ipAddresses: string[] = [];
  const uriSans: string[] = [];
  const sanExtension = csr.getExtension('2.5.29.17');
  const san = sanExtension ? new x509.SubjectAlternativeNameExtension(sanExtension.rawData) : undefined;
  for (const name of san?.names.items ?? []) {
    if (name.type === 'dns') dnsNames.push(name.value);
    else if (name.type === 'ip') ipAddresses.push(name.value);
    else if (name.type === 'url') uriSans.push(name.value);
  }
  const commonName = csr.subjectName.getField('CN')[0] ?? '';
  return { csr, info: { commonName, dnsNames, ipAddresses, uriSans, keyType, keyBits } };
}

/** Parses and verifies a PEM PKCS#10 request: its CN, SANs and key (for role checks before signing). */
export async function parseCertificateRequest(csrPem: string): Promise<ParsedCertificateRequest> {
  return (await openCsr(csrPem)).info;
}

/** A certificate signed from a request (no private key: the requester holds it). */
export type SignedCertificate = Omit<CertificateWithKey, 'privateKeyPem' | 'traditionalPrivateKeyPem'>;

/**
 * Signs a PEM PKCS#10 request with `ca`: the request's public key, with the subject and SANs given in `options`
 * (the caller decides whether to take them from the request, as Vault's `use_csr_common_name`/`use_csr_sans`).
 */
export async function signCertificateRequest(
  options: Omit<IssueCertificateOptions, 'keyType' | 'keyBits'> & {
    csrPem: string;
    /** Sign a CA certificate (Vault's `root/sign-intermediate`): `-1` for no path length limit. */
    caPathLength?: number;
    /** Keep the request's whole subject instead of `CN=<commonName>` (Vault's `sign-verbatim`). */
    useCsrSubject?: boolean;
  },
): Promise<SignedCertificate> {
  validateTtl(options.ttlSeconds);
  const { csr, info } = await openCsr(options.csrPem);
  const algorithms = algorithmsFor(info.keyType, info.keyBits);
  const publicKey = await webcrypto.subtle.importKey('spki', csr.publicKey.rawData, algorithms.import, true, [
    'verify',
  ]);
  const shape: { caPathLength?: number; subject?: x509.Name } = {};
  if (options.caPathLength !== undefined) shape.caPathLength = options.caPathLength;
  if (options.useCsrSubject) shape.subject = csr.subjectName;
  const cert = await signLeaf(options, publicKey, info.keyType, shape);
  return describeCertificate(cert, info.keyType, info.keyBits, options.commonName);
}

/**
 * Whether a PEM certificate's public key is the public key of `privateKeyPem` (Vault's `intermediate/set-signed`
 * looks up the key generated for the CSR this way).
 */
export function certificateMatchesKey(certificatePem: string, privateKeyPem: string): boolean {
  try {
    const fromCert = new NodeX509Certificate(certificatePem).publicKey.export({
      type: 'spki',
      format: 'der',
    });
    const fromKey = createPublicKey(createPrivateKey(privateKeyPem)).export({ type: 'spki', format: 'der' });
    return fromCert.equals(fromKey);
  } catch {
    return false;
  }
}

/** A revoked certificate for {@link createCrl}. */
export interface RevokedEntry {
  /** Serial number in any hex form (`39:dd:…`, `39-dd-…`, `39dd…`). */
  serialNumber: string;
  /** Revocation time, ms since epoch. */
  revokedAt: number;
}

/**
 * Creates a CRL signed by `ca` listing `revoked`, valid for `ttlSeconds` (default 72 h, Vault's CRL expiry).
 * Returns PEM (`X509 CRL`) and DER.
 */
export async function createCrl(options: {
  ca: CertificateAuthority;
  revoked: readonly RevokedEntry[];
  ttlSeconds?: number;
  now?: number;
  /** The CRL number extension's value (RFC 5280, section 5.2.3); omitted when undefined. */
  crlNumber?: number;
}): Promise<{ pem: string; der: Buffer }> {
  ensureProvider();
  const now = options.now ?? Date.now();
  const extensions: x509.Extension[] = [
    await x509.AuthorityKeyIdentifierExtension.create(options.ca.certificate.publicKey),
  ];
  if (options.crlNumber !== undefined)
    extensions.push(new x509.Extension('2.5.29.20', false, derInteger(options.crlNumber)));
  const crl = await x509.X509CrlGenerator.create({
    extensions,
    issuer: options.ca.certificate.subjectName,
    thisUpdate: wholeSeconds(now),
    nextUpdate: wholeSeconds(now + (options.ttlSeconds ?? 72 * 3600) * 1000),
    entries: options.revoked.map((entry) => ({
      serialNumber: entry.serialNumber.replace(/[:-]/g, ''),
      revocationDate: wholeSeconds(entry.revokedAt),
    })),
    signingKey: options.ca.signingKey,
    signingAlgorithm: algorithmsFor(options.ca.keyType, options.ca.keyBits).sign,
  });
  const der = Buffer.from(crl.rawData);
  return { pem: toPem(der, 'X509 CRL'), der };
}

/** DER encoding of a non-negative INTEGER (hand-written: two's complement, minimal length). */
function derInteger(value: number): Buffer {
  if (!Number.isSafeInteger(value) || value < 0)
    throw new X509HelperError(`invalid CRL number ${value}: must be a non-negative integer`);
  let hex = value.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  let body = Buffer.from(hex, 'hex');
  if ((body[0] as number) & 0x80) body = Buffer.concat([Buffer.from([0]), body]);
  return Buffer.concat([Buffer.from([0x02, body.length]), body]);
}

/** PEM-encodes DER bytes with the given label (e.g. `CERTIFICATE`). */
export function derToPem(der: ArrayBuffer | Buffer, label = 'CERTIFICATE'): string {
  return toPem(der, label);
}
