/**
 * Vault's PKI secrets engine, in memory: root CA generation or import, roles, `issue/:role` with real certificates
 * and Vault's name/TTL policy, optional leases (`generate_lease`) whose revocation revokes the certificate, `revoke`,
 * certificate fetch (`cert/:serial`, `certs/`, `ca`, `ca/pem`, `ca_chain`, `cert/ca`), CSR signing (`sign/:role`) and a
 * CRL of revoked certificates (`crl`, `crl/pem`, `cert/crl`).
 *
 * Not implemented: OCSP, delta CRLs, intermediates, `sign-verbatim`, tidy, ACME.
 */
import { isIP } from 'node:net';
import {
  type Backend,
  type BackendContext,
  type BackendFactory,
  compilePattern,
  dataResponse,
  getBool,
  getCommaStringSlice,
  getDuration,
  getInt,
  getString,
  has,
  type LeaseView,
  LogicalError,
  type LogicalRequest,
  type LogicalResponse,
  listResponse,
  NAME_PATTERN,
  Router,
} from '../../sdk/index.js';
import { formatGoDuration } from '../../util/duration.js';
import { uuid } from '../../util/random.js';
import {
  type CertificateAuthority,
  type CertificateUsage,
  createCrl,
  formatSerialNumber,
  generateCertificateAuthority,
  issueCertificate,
  loadCertificateAuthority,
  parseCertificateRequest,
  type SignedCertificate,
  signCertificateRequest,
  X509HelperError,
} from '../../util/x509.js';
import {
  applyRoleWrite,
  commonNameDisallowed,
  defaultRole,
  firstDisallowedName,
  globToRegExp,
  HOSTNAME_RE,
  type PkiRole,
  validateKeyTypeBits,
} from './roles.js';

const NAME = NAME_PATTERN;

const ROLE_PATH = compilePattern('roles/:name');

type Data = Record<string, unknown>;

/** One issuer (CA) of the mount. */
interface Issuer {
  readonly id: string;
  name: string;
  readonly keyId: string;
  readonly ca: CertificateAuthority;
  /** What to do when a leaf would outlive the issuer (Vault's `leaf_not_after_behavior`). */
  leafNotAfterBehavior: LeafNotAfterBehavior;
}

/**
 * Vault's `leaf_not_after_behavior`. The dev server defaults to `truncate` (Vault's own default for new issuers is
 * `err`); set it per issuer with `POST issuer/:ref`.
 */
type LeafNotAfterBehavior = 'err' | 'truncate' | 'permit';

/** A stored (issued) certificate. */
interface StoredCert {
  readonly serial: string;
  readonly certificatePem: string;
  readonly issuerId: string;
  /** Revocation time in ms, when revoked. */
  revokedAt: number | undefined;
}

const badRequest = (message: string) => new LogicalError(400, message);
const trimPem = (pem: string) => pem.trim();
/** A non-enveloped PEM answer (`ca/pem`, `ca_chain`, `crl/pem`, `issuer/:ref/pem`). */
const pemFile = (pem: string): LogicalResponse => ({
  raw: { status: 200, contentType: 'application/pem-file', body: pem },
});

/** Accepts `aa:bb:…`, `aa-bb-…` or plain hex and returns Vault's colon form. */
function normalizeSerial(serial: string): string {
  return formatSerialNumber(serial.trim().replace(/-/g, ':'));
}

function pemToDerBase64(pem: string): string {
  return pem
    .replace(/-----(BEGIN|END) [^-]+-----/g, '')
    .replace(/\s+/g, '')
    .trim();
}

function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace('.000Z', 'Z');
}

/** The in-memory PKI engine. */
export class PkiBackend implements Backend {
  readonly type = 'pki';
  readonly unauthenticatedPaths = ['cert/*', 'ca/pem', 'ca_chain', 'ca', 'crl', 'crl/pem', 'issuers/'];
  private readonly context: BackendContext;
  private readonly issuers: Issuer[] = [];
  private defaultIssuerId: string | undefined;
  private readonly roles = new Map<string, PkiRole>();
  private readonly certs = new Map<string, StoredCert>();
  private readonly crlCache = new Map<string, { pem: string; der: Buffer }>();

  constructor(context: BackendContext) {
    this.context = context;
  }

  async exists(request: LogicalRequest): Promise<boolean> {
    const m = ROLE_PATH.exec(request.path);
    return m ? this.roles.has(m.groups?.name ?? '') : true;
  }

  async handle(request: LogicalRequest): Promise<LogicalResponse | null> {
    try {
      return await this.route(request);
    } catch (error) {
      if (error instanceof LogicalError) throw error;
      if (error instanceof X509HelperError) throw badRequest(error.message);
      this.context.log('error', 'pki: unexpected error', { path: request.path, error: String(error) });
      throw new LogicalError(500, 'internal error');
    }
  }

  async revokeSecret(lease: LeaseView): Promise<void> {
    const serial = lease.internal.serial_number;
    if (typeof serial !== 'string') return;
    const cert = this.certs.get(normalizeSerial(serial));
    if (cert && cert.revokedAt === undefined) cert.revokedAt = this.context.now();
  }

  async close(): Promise<void> {
    this.certs.clear();
  }

  /**
   * Vault's PKI paths (https://github.com/hashicorp/vault/tree/main/builtin/logical/pki), first match wins:
   * `cert/ca_chain` and `cert/crl` come before `cert/:serial`.
   */
  private readonly router = new Router([
    {
      pattern: /^root\/generate\/(?<type>[^/]+)$/,
      operations: { update: (r, { type = '' }) => this.generateRoot(type, r.data) },
    },
    {
      pattern: 'root',
      operations: {
        delete: () => {
          this.issuers.length = 0;
          this.defaultIssuerId = undefined;
          return {
            warnings: [
              'DELETE /root deletes all keys and issuers; prefer the new DELETE /key/:key_ref and DELETE /issuer/:issuer_ref for finer granularity, unless removal of all keys and issuers is desired.',
            ],
          };
        },
      },
    },
    { pattern: 'config/ca', operations: { update: (r) => this.importCa(r.data) } },
    {
      pattern: 'ca/pem',
      operations: {
        read: () => {
          const issuer = this.requireIssuer('default');
          return pemFile(trimPem(issuer.ca.certificatePem));
        },
      },
    },
    {
      pattern: 'ca',
      operations: {
        read: () => {
          const issuer = this.requireIssuer('default');
          const der = Buffer.from(pemToDerBase64(issuer.ca.certificatePem), 'base64');
          return { raw: { status: 200, contentType: 'application/pkix-cert', body: der } };
        },
      },
    },
    {
      pattern: /^(?<form>ca_chain|cert\/ca_chain)$/,
      operations: {
        read: (_r, { form }) => {
          const pem = trimPem(this.requireIssuer('default').ca.certificatePem);
          return form === 'cert/ca_chain' ? dataResponse({ certificate: pem, ca_chain: pem }) : pemFile(pem);
        },
      },
    },
    {
      pattern: /^roles\/?$/,
      operations: {
        list: () => {
          const names = [...this.roles.keys()].sort();
          return names.length ? listResponse(names) : null;
        },
      },
    },
    {
      pattern: 'roles/:name',
      operations: {
        read: (_r, { name = '' }) => {
          const role = this.roles.get(name);
          return role ? dataResponse({ ...role }) : null;
        },
        update: (r, { name = '' }) => this.writeRole(name, r.data, false),
        patch: (r, { name = '' }) => this.writeRole(name, r.data, true),
        delete: (_r, { name = '' }) => {
          this.roles.delete(name);
          return null;
        },
      },
    },
    {
      pattern: new RegExp(`^(?:issuer/(?<issuer>[^/]+)/)?issue/(?<role>${NAME})$`),
      operations: { update: (r, { issuer, role = '' }) => this.issue(role, issuer, r.data, undefined) },
    },
    {
      pattern: new RegExp(`^(?:issuer/(?<issuer>[^/]+)/)?sign/(?<role>${NAME})$`),
      operations: {
        update: (r, { issuer, role = '' }) => {
          const csr = getString(r.data, 'csr') ?? '';
          if (csr.trim() === '') throw badRequest('"csr" is empty');
          return this.issue(role, issuer, r.data, csr);
        },
      },
    },
    { pattern: 'revoke', operations: { update: (r) => this.revoke(r.data) } },
    {
      pattern: /^certs\/?$/,
      operations: {
        list: () => {
          const keys = [...this.certs.keys()];
          for (const issuer of this.issuers) keys.push(issuer.ca.serialNumber);
          return keys.length ? listResponse([...new Set(keys)].sort()) : null;
        },
      },
    },
    {
      pattern: /^certs\/revoked\/?$/,
      operations: {
        list: () => {
          const keys = [...this.certs.values()].filter((c) => c.revokedAt !== undefined).map((c) => c.serial);
          return keys.length ? listResponse(keys.sort()) : null;
        },
      },
    },
    {
      pattern: /^(?<form>crl|crl\/pem|cert\/crl)$/,
      operations: { read: (_r, { form = '' }) => this.readCrl(form) },
    },
    {
      pattern: /^cert\/(?<serial>[^/]+)$/,
      operations: { read: (_r, { serial = '' }) => this.readCert(serial) },
    },
    {
      pattern: /^issuers\/?$/,
      operations: {
        list: () => {
          if (this.issuers.length === 0) return null;
          const keyInfo: Record<string, unknown> = {};
          for (const issuer of this.issuers)
            keyInfo[issuer.id] = { issuer_name: issuer.name, is_default: issuer.id === this.defaultIssuerId };
          return { data: { keys: this.issuers.map((i) => i.id), key_info: keyInfo } };
        },
      },
    },
    {
      pattern: /^issuer\/(?<ref>[^/]+)\/(?<format>pem|der|json)$/,
      operations: {
        read: (_r, { ref = '', format }) => {
          const issuer = this.requireIssuer(ref);
          const pem = trimPem(issuer.ca.certificatePem);
          if (format === 'pem') return pemFile(pem);
          if (format === 'der')
            return {
              raw: {
                status: 200,
                contentType: 'application/pkix-cert',
                body: Buffer.from(pemToDerBase64(pem), 'base64'),
              },
            };
          return dataResponse({
            certificate: pem,
            ca_chain: [pem],
            issuer_id: issuer.id,
            issuer_name: issuer.name,
          });
        },
      },
    },
    {
      pattern: /^issuer\/(?<ref>[^/]+)$/,
      operations: {
        read: (_r, { ref = '' }) => dataResponse(this.issuerData(this.requireIssuer(ref))),
        update: (r, { ref = '' }) => this.writeIssuer(ref, r.data),
        patch: (r, { ref = '' }) => this.writeIssuer(ref, r.data),
      },
    },
    {
      pattern: 'config/issuers',
      operations: {
        read: () => this.issuersConfig(),
        update: (r) => {
          const ref = getString(r.data, 'default') ?? '';
          if (ref === '' || ref === 'default')
            throw badRequest("Invalid issuer specification; must be non-empty and can't be 'default'.");
          this.defaultIssuerId = this.requireIssuer(ref).id;
          return this.issuersConfig();
        },
      },
    },
  ]);

  private route(request: LogicalRequest): Promise<LogicalResponse | null> {
    return this.router.dispatch(request);
  }

  private writeRole(name: string, data: Data, patch: boolean): LogicalResponse | null {
    const existing = this.roles.get(name);
    if (patch && !existing) return null;
    const role = applyRoleWrite(existing ?? defaultRole(), data);
    this.roles.set(name, role);
    return dataResponse({ ...role });
  }

  private writeIssuer(ref: string, data: Data): LogicalResponse {
    const issuer = this.requireIssuer(ref);
    this.updateIssuer(issuer, data);
    return dataResponse(this.issuerData(issuer));
  }

  private issuersConfig(): LogicalResponse {
    return dataResponse({ default: this.defaultIssuerId ?? '', default_follows_latest_issuer: false });
  }

  /** `crl` (DER), `crl/pem` (PEM) or `cert/crl` (JSON) of the default issuer. */
  private async readCrl(form: string): Promise<LogicalResponse> {
    const issuer = this.requireIssuer('default');
    const revoked = [...this.certs.values()]
      .filter((c) => c.issuerId === issuer.id && c.revokedAt !== undefined)
      .map((c) => ({ serialNumber: c.serial, revokedAt: c.revokedAt as number }));
    const cacheKey = `${issuer.id}:${revoked.length}`;
    let crl = this.crlCache.get(cacheKey);
    if (!crl) {
      // Built once per set of revocations (Vault rebuilds its CRL on revocation, not per fetch).
      crl = await createCrl({ ca: issuer.ca, revoked, now: this.context.now() });
      this.crlCache.set(cacheKey, crl);
    }
    if (form === 'crl') return { raw: { status: 200, contentType: 'application/pkix-crl', body: crl.der } };
    if (form === 'crl/pem') return pemFile(crl.pem.trim());
    return dataResponse({ certificate: crl.pem.trim(), revocation_time: 0, revocation_time_rfc3339: '' });
  }

  private findIssuer(ref: string): Issuer | undefined {
    if (ref === 'default' || ref === '') return this.issuers.find((i) => i.id === this.defaultIssuerId);
    return this.issuers.find((i) => i.id === ref || (i.name !== '' && i.name === ref));
  }

  private requireIssuer(ref: string): Issuer {
    const issuer = this.findIssuer(ref);
    if (issuer) return issuer;
    if (ref === 'default' || ref === '') throw badRequest('no default issuer currently configured');
    throw badRequest(`unable to find PKI issuer for reference: ${ref}`);
  }

  private addIssuer(ca: CertificateAuthority, name: string): { issuer: Issuer; warnings: string[] } {
    if (name !== '' && this.issuers.some((i) => i.name === name))
      throw badRequest(`issuer name already in use: ${name}`);
    const issuer: Issuer = { id: uuid(), name, keyId: uuid(), ca, leafNotAfterBehavior: 'truncate' };
    this.issuers.push(issuer);
    const warnings: string[] = [];
    if (this.defaultIssuerId === undefined) this.defaultIssuerId = issuer.id;
    else warnings.push('A default issuer already exists; this new issuer was not made the default issuer.');
    return { issuer, warnings };
  }

  /** `ttl` → effective seconds, capped by the mount max with Vault's warning. */
  private effectiveTtl(requested: number, roleTtl: number, roleMaxTtl: number, warnings: string[]): number {
    let ttl = requested > 0 ? requested : roleTtl;
    const maxTtl = roleMaxTtl > 0 ? roleMaxTtl : this.context.maxLeaseTtl();
    if (ttl === 0) ttl = this.context.defaultLeaseTtl();
    if (ttl > maxTtl) {
      warnings.push(
        `TTL "${formatGoDuration(ttl)}" is longer than permitted maxTTL "${formatGoDuration(maxTtl)}", so maxTTL is being used`,
      );
      ttl = maxTtl;
    }
    return ttl;
  }

  private issuerData(issuer: Issuer): Data {
    const pem = trimPem(issuer.ca.certificatePem);
    return {
      issuer_id: issuer.id,
      issuer_name: issuer.name,
      key_id: issuer.keyId,
      certificate: pem,
      ca_chain: [pem],
      leaf_not_after_behavior: issuer.leafNotAfterBehavior,
      manual_chain: null,
      usage: 'crl-signing,issuing-certificates,ocsp-signing,read-only',
      revoked: false,
      revocation_time: 0,
      revocation_time_rfc3339: '',
    };
  }

  private updateIssuer(issuer: Issuer, data: Data): void {
    if (has(data, 'leaf_not_after_behavior')) {
      const behavior = getString(data, 'leaf_not_after_behavior') ?? '';
      if (behavior !== 'err' && behavior !== 'truncate' && behavior !== 'permit')
        throw badRequest(
          `Unknown value for field "leaf_not_after_behavior": ${behavior}; use err, truncate or permit`,
        );
      issuer.leafNotAfterBehavior = behavior;
    }
    if (has(data, 'issuer_name')) {
      const name = getString(data, 'issuer_name') ?? '';
      if (name === 'default') throw badRequest('reserved issuer name: default');
      if (name !== '' && this.issuers.some((i) => i !== issuer && i.name === name))
        throw badRequest(`issuer name already in use: ${name}`);
      issuer.name = name;
    }
  }

  private async generateRoot(kind: string, data: Data): Promise<LogicalResponse> {
    if (kind !== 'internal' && kind !== 'exported')
      throw badRequest(
        `unsupported root type ${kind}: the Leasehold dev server supports internal and exported`,
      );
    const commonName = getString(data, 'common_name') ?? '';
    if (commonName === '')
      throw badRequest('the common_name field is required to generate a root certificate');
    const keyType = (getString(data, 'key_type') ?? 'rsa') || 'rsa';
    const keyBits = validateKeyTypeBits(keyType, getInt(data, 'key_bits') ?? 0, false);
    const format = this.format(data);
    const warnings: string[] = [];
    const ttl = this.effectiveTtl(getDuration(data, 'ttl') ?? 0, 0, 0, warnings);
    const ca = await generateCertificateAuthority({
      commonName,
      keyType: keyType as 'rsa' | 'ec',
      keyBits,
      ttlSeconds: ttl,
      now: this.context.now(),
    });
    const added = this.addIssuer(ca, getString(data, 'issuer_name') ?? '');
    warnings.push(...added.warnings);
    const exported = kind === 'exported';
    const privateKey = this.privateKeyText(ca, format, getString(data, 'private_key_format') ?? '');
    const certificate = format === 'der' ? pemToDerBase64(ca.certificatePem) : trimPem(ca.certificatePem);
    const result: Data = {
      certificate: format === 'pem_bundle' && exported ? `${privateKey}\n${certificate}` : certificate,
      issuing_ca: certificate,
      serial_number: ca.serialNumber,
      expiration: ca.expiration,
      issuer_id: added.issuer.id,
      issuer_name: added.issuer.name,
      key_id: added.issuer.keyId,
      key_name: '',
    };
    if (exported) {
      result.private_key = privateKey;
      result.private_key_type = ca.keyType;
    }
    const response: LogicalResponse = { data: result };
    if (warnings.length) response.warnings = warnings;
    return response;
  }

  private async importCa(data: Data): Promise<LogicalResponse> {
    const bundle = getString(data, 'pem_bundle') ?? '';
    if (bundle.trim() === '') throw badRequest('"pem_bundle" must be provided');
    const ca = await loadCertificateAuthority(bundle);
    const existing = this.issuers.find((i) => i.ca.serialNumber === ca.serialNumber);
    if (existing)
      return {
        data: {
          imported_issuers: null,
          imported_keys: null,
          existing_issuers: [existing.id],
          existing_keys: [existing.keyId],
        },
      };
    const added = this.addIssuer(ca, '');
    const response: LogicalResponse = {
      data: {
        imported_issuers: [added.issuer.id],
        imported_keys: [added.issuer.keyId],
        mapping: { [added.issuer.id]: added.issuer.keyId },
        existing_issuers: null,
        existing_keys: null,
      },
    };
    if (added.warnings.length) response.warnings = added.warnings;
    return response;
  }

  private format(data: Data): 'pem' | 'der' | 'pem_bundle' {
    const format = (getString(data, 'format') ?? 'pem') || 'pem';
    if (format !== 'pem' && format !== 'der' && format !== 'pem_bundle')
      throw badRequest('the "format" path parameter must be "pem", "der", or "pem_bundle"');
    return format;
  }

  private privateKeyText(
    key: { privateKeyPem: string; traditionalPrivateKeyPem: string },
    format: string,
    privateKeyFormat: string,
  ): string {
    if (privateKeyFormat !== '' && privateKeyFormat !== 'der' && privateKeyFormat !== 'pkcs8')
      throw badRequest('invalid private_key_format: must be "der" or "pkcs8"');
    const pem = privateKeyFormat === 'pkcs8' ? key.privateKeyPem : key.traditionalPrivateKeyPem;
    return format === 'der' ? pemToDerBase64(pem) : trimPem(pem);
  }

  /** `issue/:role` (generates a key) or, with `csrPem`, `sign/:role` (signs the request's key). */
  private async issue(
    roleName: string,
    issuerRef: string | undefined,
    data: Data,
    csrPem: string | undefined,
  ): Promise<LogicalResponse> {
    const role = this.roles.get(roleName);
    if (!role) throw badRequest(`unknown role: ${roleName}`);
    const issuer = this.requireIssuer(issuerRef ?? role.issuer_ref);
    const format = this.format(data);
    const warnings: string[] = [];
    const csr = csrPem === undefined ? undefined : await parseCertificateRequest(csrPem);
    const fromCsr = csr !== undefined && role.use_csr_sans;

    // Names (Vault's generateCreationBundle).
    let commonName = csr && role.use_csr_common_name ? csr.commonName : '';
    if (commonName === '') commonName = getString(data, 'common_name') ?? '';
    else if (has(data, 'common_name'))
      warnings.push(
        'the common_name field was provided but the role is set with "use_csr_common_name" set to true',
      );
    if (fromCsr && has(data, 'alt_names'))
      warnings.push('the alt_names field was provided but the role is set with "use_csr_sans" set to true');
    if (commonName === '' && role.require_cn)
      throw badRequest(
        'the common_name field is required, or must be provided in a CSR with "use_csr_common_name" set to true, unless "require_cn" is set to false',
      );
    const dnsNames: string[] = [];
    const emails: string[] = [];
    const addName = (name: string) => {
      if (name.includes('@')) emails.push(name);
      else if (HOSTNAME_RE.test(name)) dnsNames.push(name);
    };
    if (commonName !== '' && !(getBool(data, 'exclude_cn_from_sans') ?? false)) addName(commonName);
    for (const alt of fromCsr ? csr.dnsNames : (getCommaStringSlice(data, 'alt_names') ?? []))
      if (!dnsNames.includes(alt)) addName(alt);
    if (commonName !== '' && commonNameDisallowed(role, commonName))
      throw badRequest(`common name ${commonName} not allowed by this role`);
    const badDns = firstDisallowedName(role, dnsNames);
    if (badDns) throw badRequest(`subject alternate name ${badDns} not allowed by this role`);
    const badEmail = firstDisallowedName(role, emails);
    if (badEmail) throw badRequest(`email address ${badEmail} not allowed by this role`);
    if (emails.length > 0)
      warnings.push(
        'email subject alternative names are not supported by the Leasehold dev server and were omitted',
      );

    const ipSans = fromCsr ? csr.ipAddresses : (getCommaStringSlice(data, 'ip_sans') ?? []);
    const source = fromCsr ? 'CSR' : 'the API';
    for (const ip of ipSans)
      if (isIP(ip) === 0) throw badRequest(`the value "${ip}" is not a valid IP address`);
    if (ipSans.length > 0 && !role.allow_ip_sans)
      throw badRequest(
        `IP Subject Alternative Names are not allowed in this role, but was provided via ${source}`,
      );

    const uriSans = fromCsr ? csr.uriSans : (getCommaStringSlice(data, 'uri_sans') ?? []);
    if (uriSans.length > 0) {
      if (role.allowed_uri_sans.length === 0)
        throw badRequest(
          `URI Subject Alternative Names are not allowed in this role, but were provided via ${source}`,
        );
      for (const uri of uriSans) {
        if (!role.allowed_uri_sans.some((glob) => globToRegExp(glob).test(uri)))
          throw badRequest(`URI Subject Alternative Name ${uri} not allowed by this role`);
      }
    }

    // Validity (Vault's getCertificateNotAfter), truncated at the CA's NotAfter.
    const now = this.context.now();
    const requestedTtl = getDuration(data, 'ttl') ?? 0;
    const notAfterText = getString(data, 'not_after') ?? '';
    let ttlSeconds: number;
    if (notAfterText !== '') {
      if (requestedTtl > 0)
        throw badRequest(
          'Either ttl or not_after should be provided. Both should not be provided in the same request.',
        );
      const notAfter = Date.parse(notAfterText);
      if (Number.isNaN(notAfter)) throw badRequest(`parsing time "${notAfterText}" as RFC 3339 failed`);
      ttlSeconds = Math.floor((notAfter - now) / 1000);
      if (ttlSeconds <= 0)
        throw badRequest(`cannot satisfy request, as NotAfter date ${notAfterText} is in the past`);
    } else {
      ttlSeconds = this.effectiveTtl(requestedTtl, role.ttl, role.max_ttl, warnings);
    }

    const usage: CertificateUsage =
      role.server_flag && role.client_flag
        ? 'both'
        : role.server_flag
          ? 'server'
          : role.client_flag
            ? 'client'
            : 'none';
    const leaf = {
      ca: issuer.ca,
      commonName,
      dnsNames,
      ipAddresses: ipSans,
      uriSans,
      ttlSeconds,
      usage,
      now,
      allowBeyondCa: issuer.leafNotAfterBehavior === 'permit',
    };
    const requestedNotAfter = now + ttlSeconds * 1000;
    if (issuer.leafNotAfterBehavior === 'err' && requestedNotAfter > issuer.ca.notAfter.getTime())
      throw badRequest(
        `cannot satisfy request, as TTL would result in notAfter of ${new Date(requestedNotAfter).toISOString()} that is beyond the expiration of the CA certificate at ${issuer.ca.notAfter.toISOString()}`,
      );
    let issued: SignedCertificate & { privateKeyPem?: string; traditionalPrivateKeyPem?: string };
    if (csr && csrPem !== undefined) {
      // Vault's signCert: the request's key must match the role's key type and be at least key_bits.
      if (role.key_type !== 'any' && role.key_type !== csr.keyType)
        throw badRequest(`role requires keys of type ${role.key_type}`);
      if (role.key_type !== 'any' && csr.keyBits < role.key_bits)
        throw badRequest(
          `role requires a minimum of a ${role.key_bits}-bit key, but CSR's key is ${csr.keyBits} bits`,
        );
      issued = await signCertificateRequest({ ...leaf, csrPem });
    } else {
      // Key type: the role's, or the request's for roles with key_type "any".
      let keyType: 'rsa' | 'ec';
      let keyBits: number;
      if (role.key_type === 'any') {
        const requestedType = getString(data, 'key_type') ?? '';
        if (requestedType === '' || requestedType === 'any')
          throw badRequest(
            'role key type "any" not allowed for issuing certificates without providing key_type and/or key_bits request parameters',
          );
        keyBits = validateKeyTypeBits(requestedType, getInt(data, 'key_bits') ?? 0, false);
        keyType = requestedType as 'rsa' | 'ec';
      } else {
        keyType = role.key_type;
        keyBits = role.key_bits;
        if (has(data, 'key_type') || has(data, 'key_bits'))
          warnings.push('parameters key_type and key_bits ignored as role had specific values');
      }
      issued = await issueCertificate({ ...leaf, keyType, keyBits });
    }
    if (issued.notAfter.getTime() < now + ttlSeconds * 1000 - 1000)
      warnings.push(
        `the requested TTL would extend past the issuing CA's NotAfter; the certificate expires with the CA at ${rfc3339(issued.notAfter.getTime())}`,
      );

    const caPem = trimPem(issuer.ca.certificatePem);
    const certPem = trimPem(issued.certificatePem);
    const privateKey =
      issued.privateKeyPem !== undefined && issued.traditionalPrivateKeyPem !== undefined
        ? this.privateKeyText(
            {
              privateKeyPem: issued.privateKeyPem,
              traditionalPrivateKeyPem: issued.traditionalPrivateKeyPem,
            },
            format,
            getString(data, 'private_key_format') ?? '',
          )
        : undefined;
    let certificate: string;
    let issuingCa: string;
    if (format === 'der') {
      certificate = pemToDerBase64(certPem);
      issuingCa = pemToDerBase64(caPem);
    } else {
      certificate =
        format === 'pem_bundle'
          ? [privateKey, certPem, caPem].filter((p) => p !== undefined).join('\n')
          : certPem;
      issuingCa = caPem;
    }
    const result: Data = {
      certificate,
      issuing_ca: issuingCa,
      ca_chain: [issuingCa],
      serial_number: issued.serialNumber,
      expiration: issued.expiration,
    };
    if (privateKey !== undefined) {
      result.private_key = privateKey;
      result.private_key_type = issued.keyType;
    }
    if (!role.no_store) {
      this.certs.set(issued.serialNumber, {
        serial: issued.serialNumber,
        certificatePem: certPem,
        issuerId: issuer.id,
        revokedAt: undefined,
      });
    }
    const response: LogicalResponse = { data: result };
    if (role.generate_lease) {
      const ttl = Math.max(1, Math.floor((issued.notAfter.getTime() - now) / 1000));
      response.secret = {
        ttl,
        maxTtl: ttl,
        renewable: false,
        internal: { serial_number: issued.serialNumber },
      };
    }
    if (warnings.length) response.warnings = warnings;
    return response;
  }

  private revoke(data: Data): LogicalResponse {
    const serialText = getString(data, 'serial_number') ?? '';
    if (serialText === '' && (getString(data, 'certificate') ?? '') === '')
      throw badRequest('The serial number or certificate to revoke must be provided.');
    if (serialText === '')
      throw badRequest('revoking by certificate is not supported by the Leasehold dev server');
    const serial = normalizeSerial(serialText);
    const issuer = this.issuers.find((i) => i.ca.serialNumber === serial);
    if (issuer) throw badRequest(`adding issuer (id: ${issuer.id}) to its own CRL is not allowed`);
    const cert = this.certs.get(serial);
    if (!cert) throw badRequest(`certificate with serial ${serial} not found.`);
    if (cert.revokedAt === undefined) cert.revokedAt = this.context.now();
    return {
      data: {
        revocation_time: Math.floor(cert.revokedAt / 1000),
        revocation_time_rfc3339: rfc3339(cert.revokedAt),
        state: 'revoked',
      },
    };
  }

  private readCert(serialText: string): LogicalResponse | null {
    const serial = serialText === 'ca' ? '' : normalizeSerial(serialText);
    const issuer =
      serialText === 'ca'
        ? this.requireIssuer('default')
        : this.issuers.find((i) => i.ca.serialNumber === serial);
    if (issuer)
      return {
        data: {
          certificate: trimPem(issuer.ca.certificatePem),
          revocation_time: 0,
          revocation_time_rfc3339: '',
          issuer_id: issuer.id,
        },
      };
    const cert = this.certs.get(serial);
    if (!cert) return null;
    return {
      data: {
        certificate: cert.certificatePem,
        revocation_time: cert.revokedAt === undefined ? 0 : Math.floor(cert.revokedAt / 1000),
        revocation_time_rfc3339: cert.revokedAt === undefined ? '' : rfc3339(cert.revokedAt),
        issuer_id: cert.issuerId,
      },
    };
  }
}

/** Creates a PKI backend for a mount. */
export function createPkiBackend(context: BackendContext): PkiBackend {
  return new PkiBackend(context);
}

/** {@link BackendFactory} for the `pki` mount type. */
export const pkiBackendFactory: BackendFactory = (context) => createPkiBackend(context);
