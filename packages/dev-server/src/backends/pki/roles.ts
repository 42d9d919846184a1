/**
 * PKI roles: the subset of Vault's role fields the dev server honours, their defaults, and Vault's name policy
 * (`validateNames` / `validateCommonName`).
 */
import {
  getBool,
  getCommaStringSlice,
  getDuration,
  getInt,
  getString,
  has,
  LogicalError,
} from '../../sdk/index.js';

/** A PKI role. Field names mirror Vault's role JSON. */
export interface PkiRole {
  ttl: number;
  max_ttl: number;
  allow_localhost: boolean;
  allowed_domains: string[];
  allow_bare_domains: boolean;
  allow_subdomains: boolean;
  allow_glob_domains: boolean;
  allow_wildcard_certificates: boolean;
  allow_any_name: boolean;
  enforce_hostnames: boolean;
  allow_ip_sans: boolean;
  allowed_uri_sans: string[];
  server_flag: boolean;
  client_flag: boolean;
  key_type: 'rsa' | 'ec' | 'any';
  key_bits: number;
  generate_lease: boolean;
  no_store: boolean;
  require_cn: boolean;
  use_csr_common_name: boolean;
  use_csr_sans: boolean;
  cn_validations: string[];
  issuer_ref: string;
}

/** Vault's role defaults. */
export function defaultRole(): PkiRole {
  return {
    ttl: 0,
    max_ttl: 0,
    allow_localhost: true,
    allowed_domains: [],
    allow_bare_domains: false,
    allow_subdomains: false,
    allow_glob_domains: false,
    allow_wildcard_certificates: true,
    allow_any_name: false,
    enforce_hostnames: true,
    allow_ip_sans: true,
    allowed_uri_sans: [],
    server_flag: true,
    client_flag: true,
    key_type: 'rsa',
    key_bits: 2048,
    generate_lease: false,
    no_store: false,
    require_cn: true,
    use_csr_common_name: true,
    use_csr_sans: true,
    cn_validations: ['email', 'hostname'],
    issuer_ref: 'default',
  };
}

/**
 * Validates `key_type`/`key_bits` as Vault's `ValidateDefaultOrValueKeyTypeSignatureLength`, returning the effective
 * bits (0 → 2048 for RSA, 256 for EC). Only `rsa` and `ec` keys are supported by the dev server.
 */
export function validateKeyTypeBits(keyType: string, keyBits: number, allowAny: boolean): number {
  switch (keyType) {
    case 'rsa':
      if (keyBits === 0) return 2048;
      if (![2048, 3072, 4096].includes(keyBits))
        throw new LogicalError(400, `unsupported bit length for RSA key: ${keyBits}`);
      return keyBits;
    case 'ec':
      if (keyBits === 0) return 256;
      if (![256, 384, 521].includes(keyBits))
        throw new LogicalError(400, `unsupported bit length for EC key: ${keyBits}`);
      return keyBits;
    case 'any':
      if (allowAny) return 0;
      break;
    case 'ed25519':
      throw new LogicalError(
        400,
        'key_type ed25519 is not supported by the Leasehold dev server; use rsa or ec',
      );
    default:
      break;
  }
  throw new LogicalError(400, `unknown key type: ${keyType}`);
}

/** Applies a role write (create or update) on top of `base`, validating as Vault's `validateRole` does. */
export function applyRoleWrite(base: PkiRole, data: Readonly<Record<string, unknown>>): PkiRole {
  const role: PkiRole = { ...base };
  const bool = (field: keyof PkiRole) => {
    if (has(data, field)) (role[field] as boolean) = getBool(data, field) ?? false;
  };
  const list = (field: 'allowed_domains' | 'allowed_uri_sans' | 'cn_validations') => {
    if (has(data, field)) role[field] = getCommaStringSlice(data, field) ?? [];
  };
  if (has(data, 'ttl')) role.ttl = getDuration(data, 'ttl') ?? 0;
  if (has(data, 'max_ttl')) role.max_ttl = getDuration(data, 'max_ttl') ?? 0;
  for (const field of [
    'allow_localhost',
    'allow_bare_domains',
    'allow_subdomains',
    'allow_glob_domains',
    'allow_wildcard_certificates',
    'allow_any_name',
    'enforce_hostnames',
    'allow_ip_sans',
    'server_flag',
    'client_flag',
    'generate_lease',
    'no_store',
    'require_cn',
    'use_csr_common_name',
    'use_csr_sans',
  ] as const)
    bool(field);
  list('allowed_domains');
  list('allowed_uri_sans');
  list('cn_validations');
  if (has(data, 'issuer_ref')) role.issuer_ref = (getString(data, 'issuer_ref') ?? '') || 'default';
  const keyType = has(data, 'key_type') ? (getString(data, 'key_type') ?? '') : role.key_type;
  const keyBits = has(data, 'key_bits')
    ? (getInt(data, 'key_bits') ?? 0)
    : has(data, 'key_type')
      ? 0
      : role.key_bits;
  role.key_bits = validateKeyTypeBits(keyType, keyBits, true);
  role.key_type = keyType as PkiRole['key_type'];
  if (role.max_ttl > 0 && role.ttl > role.max_ttl)
    throw new LogicalError(400, '"ttl" value must be less than "max_ttl" value');
  for (const validation of role.cn_validations) {
    if (!['email', 'hostname', 'disabled'].includes(validation))
      throw new LogicalError(400, `unknown cn_validation: ${validation}; use email, hostname or disabled`);
  }
  return role;
}

const LABEL = '([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
/** Vault's `hostnameRegex`. */
export const HOSTNAME_RE = new RegExp(`^(\\*\\.)?(${LABEL}\\.)*${LABEL}\\.?$`);
const LEFT_WILD_LABEL_RE = /^(\*|[a-zA-Z0-9-]*\*[a-zA-Z0-9-]*)$/;

/** A glob (only `*`) as a whole-string regular expression. */
export function globToRegExp(glob: string): RegExp {
  const escaped = glob.split('*').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${escaped.join('.*')}$`, 'i');
}

/** Vault's `validateNames`: returns the first name the role does not allow, or `''`. */
export function firstDisallowedName(role: PkiRole, names: readonly string[]): string {
  for (const name of names) {
    let reduced = name;
    let emailDomain = reduced;
    let isEmail = false;
    let isWildcard = false;
    let wildcardLabel = '';
    if (reduced.includes('@')) {
      const parts = reduced.split('@');
      if (parts.length !== 2) return name;
      reduced = parts[1] as string;
      emailDomain = reduced;
      isEmail = true;
    }
    if (reduced.includes('*')) {
      isWildcard = true;
      if (!role.allow_wildcard_certificates) return name;
      if ((reduced.match(/\*/g) ?? []).length > 1) return name;
      const dot = reduced.indexOf('.');
      wildcardLabel = dot < 0 ? reduced : reduced.slice(0, dot);
      reduced = dot < 0 ? '' : reduced.slice(dot + 1);
      if (reduced.includes('*')) return name;
    }
    if (isEmail && isWildcard) return name;
    if (role.enforce_hostnames) {
      if (reduced !== '' && !HOSTNAME_RE.test(reduced)) return name;
      if (isWildcard && !LEFT_WILD_LABEL_RE.test(wildcardLabel)) return name;
    }
    if (role.allow_any_name) continue;
    if (role.allow_localhost) {
      if (reduced === 'localhost' || reduced === 'localdomain') continue;
      if (isEmail && (emailDomain === 'localhost' || emailDomain === 'localdomain')) continue;
      if (role.allow_subdomains) {
        if (reduced.endsWith('.localhost') || (isWildcard && reduced === 'localhost')) continue;
        if (reduced.endsWith('.localdomain') || (isWildcard && reduced === 'localdomain')) continue;
      }
    }
    let valid = false;
    for (const domain of role.allowed_domains) {
      if (domain === '') continue;
      if (
        role.allow_bare_domains &&
        (name.toLowerCase() === domain.toLowerCase() ||
          (isEmail && emailDomain.toLowerCase() === domain.toLowerCase()))
      ) {
        valid = true;
        break;
      }
      if (
        role.allow_subdomains &&
        (reduced.endsWith(`.${domain}`) || (isWildcard && reduced.toLowerCase() === domain.toLowerCase()))
      ) {
        valid = true;
        break;
      }
      if (role.allow_glob_domains && domain.includes('*') && globToRegExp(domain).test(name)) {
        valid = true;
        break;
      }
    }
    if (valid) continue;
    return name;
  }
  return '';
}

/** Vault's `validateCommonName`. */
export function commonNameDisallowed(role: PkiRole, commonName: string): boolean {
  if (role.cn_validations.length === 1 && role.cn_validations[0] === 'disabled') return false;
  if (firstDisallowedName(role, [commonName]) !== '') return true;
  if (role.cn_validations.length === 0) return false;
  return commonName.includes('@')
    ? !role.cn_validations.includes('email')
    : !role.cn_validations.includes('hostname');
}
