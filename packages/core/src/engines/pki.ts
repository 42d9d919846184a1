/**
 * The PKI engine: `pki.certificate(role, request)` is a {@link Lease} of a certificate + private key that is
 * re-issued `rotationMarginMs` before NotAfter. Feed `tlsOptions(current.value)` to `server.setSecureContext()` on
 * every `rotate`.
 */
import { z } from 'zod';
import { VaultError, VaultErrorCode } from '../errors.js';
import type { LeaseIssuer } from '../lease/issuer.js';
import type { LeaseSource } from '../lease/lease.js';
import { stableKey } from '../lease/manager.js';
import type { Certificate, Lease, LeaseOptions } from '../lease/types.js';
import { Redacted } from '../redacted.js';
import { parseResponse } from '../validation.js';
import { checkLeaseOptions, checkName, splitMount } from './common.js';

/** What to issue (Vault's `pki/issue/:role` fields). */
export interface CertificateRequest {
  /** Requested CN (required). */
  commonName: string;
  /** Subject alternative names (DNS / email). */
  altNames?: readonly string[];
  ipSans?: readonly string[];
  uriSans?: readonly string[];
  /** Requested TTL: seconds or a Go duration (`"72h"`); capped by the role's max TTL. */
  ttl?: number | string;
  /** `rsa`/`ec`/`ed25519` choices are the role's; this picks `pkcs8` (default `der`-style PEM from Vault). */
  privateKeyFormat?: 'der' | 'pkcs8';
  excludeCnFromSans?: boolean;
}

/** Options of {@link PkiEngine.certificate}. */
export interface CertificateOptions extends LeaseOptions {
  /** Mount of the PKI engine (default `pki`). */
  mount?: string;
}

/** TLS options for `tls.createServer()` / `server.setSecureContext()`. */
export interface TlsContextOptions {
  cert: string;
  key: string;
  ca: string[];
}

const pem = z.string({ error: 'must be a PEM string' }).min(1, 'must be a PEM string');

/** `pki/issue/:role` (https://developer.hashicorp.com/vault/api-docs/secret/pki#generate-certificate-and-key). */
const issueAnswer = z.object({
  lease_id: z.string({ error: 'must be a string' }).optional(),
  data: z.object({
    certificate: pem,
    private_key: pem,
    private_key_type: z.string({ error: 'must be a string' }).optional(),
    issuing_ca: z.string({ error: 'must be a string' }).optional(),
    ca_chain: z.array(z.string(), { error: 'must be a list of PEM strings' }).nullish(),
    serial_number: z.string({ error: 'must be a string' }).optional(),
    expiration: z
      .number({ error: 'must be a Unix time in seconds' })
      .int('must be a Unix time in seconds')
      .positive('must be a Unix time in seconds'),
  }),
});

/** `vault.pki`. */
export class PkiEngine {
  readonly #issuer: LeaseIssuer;

  /** @internal */
  constructor(issuer: LeaseIssuer) {
    this.#issuer = issuer;
  }

  /**
   * A certificate from `role` as a lease handle, re-issued before it expires.
   *
   * @example
   * ```ts
   * const cert = vault.pki.certificate('web', { commonName: 'api.internal', ttl: '24h' });
   * const server = https.createServer(tlsOptions((await cert.ready()).value), app);
   * cert.on('rotated', ({ current }) => server.setSecureContext(tlsOptions(current.value)));
   * ```
   */
  certificate(
    role: string,
    request: CertificateRequest,
    options: CertificateOptions = {},
  ): Lease<Certificate> {
    const name = checkName(role, 'role');
    if (typeof request?.commonName !== 'string' || request.commonName.length === 0) {
      throw new VaultError(
        VaultErrorCode.CONFIG,
        'Invalid option "request.commonName": must be a non-empty string. Pass the certificate\'s CN.',
      );
    }
    const { mount, rest } = splitMount(options, 'pki', 'pki.certificate');
    const leaseOptions = checkLeaseOptions(rest, 'pki.certificate');
    const path = `${mount}/issue/${name}`;
    const body: Record<string, unknown> = {
      common_name: request.commonName,
      alt_names: request.altNames?.join(','),
      ip_sans: request.ipSans?.join(','),
      uri_sans: request.uriSans?.join(','),
      ttl: request.ttl,
      private_key_format: request.privateKeyFormat,
      exclude_cn_from_sans: request.excludeCnFromSans,
      format: 'pem',
    };
    const vault = this.#issuer.vault;
    const source = (): LeaseSource<Certificate> => ({
      path,
      kind: 'certificate',
      async issue(signal) {
        const res = await vault.request('POST', path, {
          body,
          signal,
          template: `${mount}/issue/:role`,
        });
        const env = parseResponse(issueAnswer, res.body, { method: 'POST', path, status: res.status });
        const cert = certificateFrom(env.data);
        const now = vault.clock.now();
        return {
          value: cert,
          leaseId: env.lease_id ?? '',
          leaseDurationMs: Math.max(0, cert.notAfter - now),
          renewable: false,
          expiresAt: cert.notAfter,
        };
      },
    });
    return this.#issuer.lease(
      `pki:${path}:${stableKey(body)}:${stableKey(leaseOptions)}`,
      source,
      leaseOptions,
    );
  }
}

/** TLS server options from a certificate (reveals the private key: pass it straight to `tls`). */
export function tlsOptions(cert: Certificate): TlsContextOptions {
  const ca = cert.caChain.length > 0 ? [...cert.caChain] : cert.issuingCa ? [cert.issuingCa] : [];
  return { cert: cert.certificate, key: cert.privateKey.reveal(), ca };
}

function certificateFrom(data: z.output<typeof issueAnswer>['data']): Certificate {
  return Object.freeze({
    certificate: data.certificate,
    privateKey: Redacted.of(data.private_key),
    privateKeyType: data.private_key_type ?? '',
    issuingCa: data.issuing_ca ?? '',
    caChain: data.ca_chain ?? [],
    serialNumber: data.serial_number ?? '',
    notAfter: data.expiration * 1000,
  });
}
