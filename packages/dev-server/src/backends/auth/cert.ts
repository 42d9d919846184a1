/**
 * TLS certificate auth method (`cert`).
 *
 * `certs/:name` registers a trusted certificate: a CA (the client certificate must be issued and signed by it
 * directly — intermediate chains are not followed) or a leaf (the client must present exactly that certificate).
 * `login {name?}` uses the TLS client certificate the framework's mTLS listener hands over
 * (`request.clientCertificate`, DER), checks its validity period, the issuer signature with node:crypto's
 * `X509Certificate` (`checkIssued` + `verify`), and `allowed_common_names` (exact names or globs with `*`).
 */
import { X509Certificate } from 'node:crypto';
// @peculiar/x509 (through tsyringe) needs the Reflect metadata polyfill loaded before it.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import {
  type Backend,
  type BackendContext,
  badRequest,
  getBool,
  getCommaStringSlice,
  getInt,
  getString,
  type LogicalRequest,
  type LogicalResponse,
  type RouteParams,
  Router,
  type TokenView,
} from '../../sdk/index.js';
import { globMatches } from '../../util/glob.js';
import { Entries } from './entries.js';
import {
  buildAuth,
  checkLoginCidrs,
  defaultTokenFields,
  displayName,
  parseTokenFields,
  renewLimits,
  type TokenFields,
  tokenFieldsData,
} from './tokenutil.js';

/** The login error for a missing, invalid or untrusted client certificate. */
export const INVALID_CERTIFICATE = 'invalid certificate or no client certificate supplied';

interface CertEntry {
  name: string;
  pem: string;
  certificate: X509Certificate;
  allowedCommonNames: string[];
  displayName: string;
  token: TokenFields;
}

/** The subject CN of a certificate (`''` when none). */
export function commonName(certificate: X509Certificate): string {
  for (const line of certificate.subject.split('\n')) {
    if (line.startsWith('CN=')) return line.slice(3);
  }
  return '';
}

/** Colon-separated lower-case hex, as Vault's `certutil.GetHexFormatted`. */
const colonHex = (hex: string | undefined): string => (hex?.toLowerCase().match(/../g) ?? []).join(':');

/** Subject and authority key identifiers of a DER certificate (`''` when absent). */
function keyIdentifiers(der: Buffer): { subject: string; authority: string } {
  try {
    const parsed = new x509.X509Certificate(der);
    return {
      subject: colonHex(parsed.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId),
      authority: colonHex(parsed.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId),
    };
  } catch {
    return { subject: '', authority: '' };
  }
}

const validAt = (certificate: X509Certificate, now: number): boolean =>
  now >= Date.parse(certificate.validFrom) && now <= Date.parse(certificate.validTo);

/** Creates a cert backend for one mount. */
export function createCertBackend(context: BackendContext): Backend {
  const certs = new Entries<CertEntry>('certs');
  const certKey = Entries.key;

  async function writeCert(request: LogicalRequest, params: RouteParams): Promise<LogicalResponse | null> {
    const name = certKey(params.name ?? '');
    const existing = certs.get(name);
    const data = request.data;
    const pem = getString(data, 'certificate') ?? existing?.pem;
    if (!pem) throw badRequest('missing certificate');
    let certificate: X509Certificate;
    try {
      certificate = new X509Certificate(pem);
    } catch {
      throw badRequest('failed to parse certificate: expected a PEM-encoded X.509 certificate');
    }
    certs.set(name, {
      name,
      pem,
      certificate,
      allowedCommonNames:
        getCommaStringSlice(data, 'allowed_common_names') ?? existing?.allowedCommonNames ?? [],
      // Vault defaults an empty display name to the certificate entry's name
      // (https://github.com/hashicorp/vault/blob/main/builtin/credential/cert/path_certs.go).
      displayName: (getString(data, 'display_name') ?? existing?.displayName ?? '') || name,
      token: parseTokenFields(data, existing?.token ?? defaultTokenFields(), {
        policies: true,
        ttl: true,
        period: true,
      }),
    });
    return null;
  }

  /** True when `client` is trusted by `entry` at `now`. */
  const trusts = (entry: CertEntry, client: X509Certificate, now: number): boolean => {
    if (!validAt(entry.certificate, now)) return false;
    const pinned = entry.certificate.raw.equals(client.raw);
    const issued =
      entry.certificate.ca &&
      client.checkIssued(entry.certificate) &&
      client.verify(entry.certificate.publicKey);
    if (!pinned && !issued) return false;
    if (entry.allowedCommonNames.length > 0) {
      const cn = commonName(client);
      if (!entry.allowedCommonNames.some((pattern) => globMatches(pattern, cn))) return false;
    }
    return true;
  };

  async function login(request: LogicalRequest): Promise<LogicalResponse> {
    const der = request.clientCertificate;
    if (!der || der.length === 0) throw badRequest(INVALID_CERTIFICATE);
    let client: X509Certificate;
    try {
      client = new X509Certificate(der);
    } catch {
      throw badRequest(INVALID_CERTIFICATE);
    }
    const now = context.now();
    if (!validAt(client, now)) throw badRequest(INVALID_CERTIFICATE);
    const wanted = getString(request.data, 'name');
    const candidates = wanted
      ? [certs.get(certKey(wanted))].filter((entry): entry is CertEntry => entry !== undefined)
      : certs.sorted();
    const entry = candidates.find((candidate) => trusts(candidate, client, now));
    if (!entry) throw badRequest(INVALID_CERTIFICATE);
    checkLoginCidrs(request.remoteAddress, entry.token);
    const ids = keyIdentifiers(client.raw);

    return {
      auth: buildAuth(entry.token, {
        displayName: displayName(context.mountPath, entry.displayName),
        metadata: {
          cert_name: entry.name,
          common_name: commonName(client),
          serial_number: BigInt(`0x${client.serialNumber}`).toString(10),
          subject_key_id: ids.subject,
          authority_key_id: ids.authority,
        },
        internal: { certName: entry.name, fingerprint: client.fingerprint256 },
      }),
    };
  }

  // `config` (Vault's https://github.com/hashicorp/vault/blob/main/builtin/credential/cert/path_config.go): stored
  // and read back; the dev server has no OCSP, role cache or identity store for the values to act on.
  const certConfig = {
    disable_binding: false,
    enable_identity_alias_metadata: false,
    enable_metadata_on_failures: false,
    ocsp_cache_size: 100,
    role_cache_size: 200,
  };
  async function writeConfig(request: LogicalRequest): Promise<LogicalResponse | null> {
    const data = request.data;
    const ocspCacheSize = getInt(data, 'ocsp_cache_size');
    if (ocspCacheSize !== undefined && (ocspCacheSize < 2 || ocspCacheSize > 100_000))
      throw badRequest('invalid ocsp cache size, must be >= 2 and <= 100000');
    const roleCacheSize = getInt(data, 'role_cache_size');
    if (roleCacheSize !== undefined && (roleCacheSize === 0 || roleCacheSize < -1 || roleCacheSize > 100_000))
      throw badRequest(
        'invalid role cache size, must be <= 100000 and a positive number, or -1 to disable caching',
      );
    certConfig.disable_binding = getBool(data, 'disable_binding') ?? certConfig.disable_binding;
    certConfig.enable_identity_alias_metadata =
      getBool(data, 'enable_identity_alias_metadata') ?? certConfig.enable_identity_alias_metadata;
    certConfig.enable_metadata_on_failures =
      getBool(data, 'enable_metadata_on_failures') ?? certConfig.enable_metadata_on_failures;
    if (ocspCacheSize !== undefined) certConfig.ocsp_cache_size = ocspCacheSize;
    if (roleCacheSize !== undefined) certConfig.role_cache_size = roleCacheSize;
    return null;
  }

  const router = new Router()
    .add('login', { update: login })
    .add('config', { read: async () => ({ data: { ...certConfig } }), update: writeConfig });
  certs.addRoutes(router, {
    read: (entry) => ({
      certificate: entry.pem,
      allowed_common_names: [...entry.allowedCommonNames],
      display_name: entry.displayName,
      ...tokenFieldsData(entry.token),
    }),
    write: writeCert,
  });

  return {
    type: 'cert',
    unauthenticatedPaths: ['login'],
    handle: (request) => router.dispatch(request),
    exists: async (request) => certs.exists(request),
    renewAuth: async (token: TokenView) => {
      const name = String(token.internal.certName ?? '');
      const entry = certs.get(name);
      if (!entry) throw badRequest(`certificate "${name}" no longer exists`);
      return renewLimits(entry.token);
    },
  };
}
