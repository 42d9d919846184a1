/**
 * Request-field parsing shared by the auth methods: typed readers for `data` values (JSON or form-encoded, so
 * numbers and booleans may arrive as strings) and Vault's token fields (`tokenutil.TokenParams`,
 * https://github.com/hashicorp/vault/blob/main/sdk/helper/tokenutil/tokenutil.go).
 */
import { isIP } from 'node:net';
import { type AuthSpec, badRequest, LogicalError } from '../../backend.js';
import { addressInCidrs } from '../../core/core.js';
import { parseDurationSeconds } from '../../util/duration.js';

/** A string field; absent/null → `undefined`. Numbers are stringified; anything else is a 400 naming the field. */
export function readString(data: Record<string, unknown>, field: string): string | undefined {
  const value = data[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  throw badRequest(`invalid value for "${field}": expected a string`);
}

/** A boolean field (Go's `strconv.ParseBool` spellings are accepted as strings). */
export function readBool(data: Record<string, unknown>, field: string): boolean | undefined {
  const value = data[field];
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value === 'boolean') return value;
  if (typeof value === 'number') return value !== 0;
  if (typeof value === 'string') {
    if (/^(1|t|true)$/i.test(value)) return true;
    if (/^(0|f|false)$/i.test(value)) return false;
  }
  throw badRequest(`invalid value for "${field}": expected a boolean`);
}

/** An integer field. */
export function readInt(data: Record<string, unknown>, field: string): number | undefined {
  const value = data[field];
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value === 'number' && Number.isInteger(value)) return value;
  if (typeof value === 'string' && /^-?\d+$/.test(value.trim())) return Number.parseInt(value, 10);
  throw badRequest(`invalid value for "${field}": expected an integer`);
}

/** A duration field (int seconds or Go duration string) in seconds. */
export function readDuration(data: Record<string, unknown>, field: string): number | undefined {
  const value = data[field];
  if (value === undefined || value === null || value === '') return undefined;
  const seconds = parseDurationSeconds(value, field);
  if (seconds < 0) throw badRequest(`"${field}" cannot be negative`);
  return seconds;
}

/**
 * A list-of-strings field (Vault's `TypeCommaStringSlice`): a JSON array or a comma-separated string. Entries are
 * trimmed; empty entries dropped.
 */
export function readStringList(data: Record<string, unknown>, field: string): string[] | undefined {
  const value = data[field];
  if (value === undefined || value === null) return undefined;
  let items: unknown[];
  if (Array.isArray(value)) items = value;
  else if (typeof value === 'string') items = value.split(',');
  else
    throw badRequest(`invalid value for "${field}": expected a list of strings or a comma-separated string`);
  const out: string[] = [];
  for (const item of items) {
    if (typeof item !== 'string' && typeof item !== 'number')
      throw badRequest(`invalid value for "${field}": expected a list of strings`);
    const text = String(item).trim();
    if (text !== '') out.push(text);
  }
  return out;
}

/** A map field: a JSON object, or a JSON string holding one. */
export function readMap(data: Record<string, unknown>, field: string): Record<string, unknown> | undefined {
  let value = data[field];
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value);
    } catch {
      throw badRequest(`invalid value for "${field}": expected a JSON object`);
    }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw badRequest(`invalid value for "${field}": expected a JSON object`);
  return value as Record<string, unknown>;
}

/** Policy names as Vault normalises them: lower-cased, trimmed, de-duplicated, sorted; `root` is refused. */
export function normalizePolicies(policies: readonly string[]): string[] {
  const set = new Set<string>();
  for (const policy of policies) {
    const name = policy.trim().toLowerCase();
    if (name !== '') set.add(name);
  }
  return [...set].sort();
}

// ---------------------------------------------------------------------------------------------------------------
// CIDR handling

/** Strips an IPv4-mapped IPv6 prefix (`::ffff:127.0.0.1` → `127.0.0.1`) and any zone id. */
export function normalizeAddress(address: string): string {
  const plain = address.replace(/%.*$/, '');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(plain);
  return mapped?.[1] ?? plain;
}

function parseCidr(cidr: string): { address: string; prefix: number; family: 4 | 6 } | undefined {
  const [rawAddress, rawPrefix, extra] = cidr.trim().split('/');
  if (rawAddress === undefined || extra !== undefined) return undefined;
  const address = normalizeAddress(rawAddress);
  const family = isIP(address);
  if (family !== 4 && family !== 6) return undefined;
  const max = family === 4 ? 32 : 128;
  if (rawPrefix === undefined) return { address, prefix: max, family };
  if (!/^\d+$/.test(rawPrefix)) return undefined;
  const prefix = Number.parseInt(rawPrefix, 10);
  if (prefix > max) return undefined;
  return { address, prefix, family };
}

/** A CIDR block with an IPv4-mapped IPv6 address rewritten to IPv4 (`::ffff:10.0.0.0/8` → `10.0.0.0/8`). */
function normalizeCidr(cidr: string): string {
  const block = parseCidr(cidr);
  return block ? `${block.address}/${block.prefix}` : cidr;
}

/** Validates a list of CIDR blocks (bare addresses are single-host blocks); 400 naming the field on a bad entry. */
export function validateCidrs(cidrs: readonly string[], field: string): string[] {
  for (const cidr of cidrs) {
    if (!parseCidr(cidr)) throw badRequest(`invalid CIDR block in "${field}": "${cidr}"`);
  }
  return [...cidrs];
}

/** True when `cidrs` is empty or `address` lies in one of them (Vault's `cidrutil.RemoteAddrIsOk`). */
export function addressAllowed(address: string, cidrs: readonly string[]): boolean {
  if (cidrs.length === 0) return true;
  return addressInCidrs(normalizeAddress(address), cidrs.map(normalizeCidr));
}

/** True when every block of `inner` lies inside some block of `outer` (Vault's `cidrutil.SubsetBlocks`). */
export function cidrsSubset(outer: readonly string[], inner: readonly string[]): boolean {
  return inner.every((cidr) => {
    const block = parseCidr(cidr);
    if (!block) return false;
    return outer.some((candidate) => {
      const parent = parseCidr(candidate);
      return (
        parent !== undefined &&
        parent.family === block.family &&
        parent.prefix <= block.prefix &&
        addressInCidrs(block.address, [normalizeCidr(candidate)])
      );
    });
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Token fields (`tokenutil.TokenParams`)

/** Vault's token fields as stored on a role/user/cert entry. All durations in seconds. */
export interface TokenFields {
  ttl: number;
  maxTtl: number;
  policies: string[];
  boundCidrs: string[];
  explicitMaxTtl: number;
  noDefaultPolicy: boolean;
  numUses: number;
  period: number;
  type: 'service' | 'batch' | 'default';
}

/** Token fields of a new entry before any request data is applied. */
export function defaultTokenFields(): TokenFields {
  return {
    ttl: 0,
    maxTtl: 0,
    policies: [],
    boundCidrs: [],
    explicitMaxTtl: 0,
    noDefaultPolicy: false,
    numUses: 0,
    period: 0,
    type: 'default',
  };
}

/** Which legacy (pre-tokenutil) field names an auth method still accepts as aliases of the `token_*` ones. */
export interface LegacyFieldNames {
  /** `policies` → `token_policies` (all methods). */
  policies?: boolean;
  /** `period` → `token_period` (approle, cert). */
  period?: boolean;
  /** `ttl` / `max_ttl` → `token_ttl` / `token_max_ttl` (userpass, cert). */
  ttl?: boolean;
  /** `bound_cidrs` → `token_bound_cidrs` (userpass). */
  boundCidrs?: boolean;
}

function pick(
  data: Record<string, unknown>,
  field: string,
  legacy: string | undefined,
): { key: string; present: boolean } {
  if (data[field] !== undefined) return { key: field, present: true };
  if (legacy !== undefined && data[legacy] !== undefined) return { key: legacy, present: true };
  return { key: field, present: false };
}

/**
 * Applies the token fields present in `data` on top of `current` (an update keeps what it does not mention, like
 * Vault's `ParseTokenFields`) and validates the result. Throws 400 with Vault's messages.
 */
export function parseTokenFields(
  data: Record<string, unknown>,
  current: TokenFields = defaultTokenFields(),
  legacy: LegacyFieldNames = { policies: true },
): TokenFields {
  const out: TokenFields = {
    ...current,
    policies: [...current.policies],
    boundCidrs: [...current.boundCidrs],
  };

  const ttl = pick(data, 'token_ttl', legacy.ttl ? 'ttl' : undefined);
  if (ttl.present) out.ttl = readDuration(data, ttl.key) ?? 0;
  const maxTtl = pick(data, 'token_max_ttl', legacy.ttl ? 'max_ttl' : undefined);
  if (maxTtl.present) out.maxTtl = readDuration(data, maxTtl.key) ?? 0;
  const explicitMaxTtl = pick(data, 'token_explicit_max_ttl', undefined);
  if (explicitMaxTtl.present) out.explicitMaxTtl = readDuration(data, 'token_explicit_max_ttl') ?? 0;
  const period = pick(data, 'token_period', legacy.period ? 'period' : undefined);
  if (period.present) out.period = readDuration(data, period.key) ?? 0;

  const policies = pick(data, 'token_policies', legacy.policies ? 'policies' : undefined);
  if (policies.present) out.policies = normalizePolicies(readStringList(data, policies.key) ?? []);
  const boundCidrs = pick(data, 'token_bound_cidrs', legacy.boundCidrs ? 'bound_cidrs' : undefined);
  if (boundCidrs.present)
    out.boundCidrs = validateCidrs(readStringList(data, boundCidrs.key) ?? [], 'token_bound_cidrs');

  const noDefault = readBool(data, 'token_no_default_policy');
  if (noDefault !== undefined) out.noDefaultPolicy = noDefault;
  const numUses = readInt(data, 'token_num_uses');
  if (numUses !== undefined) {
    if (numUses < 0) throw badRequest('"token_num_uses" cannot be negative');
    out.numUses = numUses;
  }
  const type = readString(data, 'token_type');
  if (type !== undefined) {
    const normalized = type === '' ? 'default' : type;
    if (normalized !== 'service' && normalized !== 'batch' && normalized !== 'default')
      throw badRequest(`invalid 'token_type' value "${type}": expected "service", "batch" or "default"`);
    out.type = normalized;
  }

  if (out.maxTtl > 0 && out.ttl > out.maxTtl)
    throw badRequest('"token_ttl" should not be greater than "token_max_ttl"');
  if (out.type === 'batch' && out.period > 0)
    throw badRequest("'token_type' cannot be 'batch' when set to generate periodic tokens");
  if (out.type === 'batch' && out.numUses > 0)
    throw badRequest("'token_type' cannot be 'batch' when set to generate tokens with limited use count");
  return out;
}

/** The token fields as a read returns them (durations in seconds), including Vault's legacy `policies`. */
export function tokenFieldsData(fields: TokenFields): Record<string, unknown> {
  return {
    token_ttl: fields.ttl,
    token_max_ttl: fields.maxTtl,
    token_policies: [...fields.policies],
    policies: [...fields.policies],
    token_bound_cidrs: [...fields.boundCidrs],
    token_explicit_max_ttl: fields.explicitMaxTtl,
    token_no_default_policy: fields.noDefaultPolicy,
    token_num_uses: fields.numUses,
    token_period: fields.period,
    token_type: fields.type,
  };
}

/** Builds the login's {@link AuthSpec} from an entry's token fields. */
export function buildAuth(
  fields: TokenFields,
  options: {
    displayName: string;
    metadata: Record<string, string>;
    internal: Record<string, unknown>;
    /** Overrides the entry's `token_bound_cidrs` (AppRole secret IDs may carry their own). */
    boundCidrs?: string[];
  },
): AuthSpec {
  const batch = fields.type === 'batch';
  const auth: AuthSpec = {
    policies: [...fields.policies],
    ttl: fields.ttl,
    maxTtl: fields.maxTtl,
    renewable: !batch,
    displayName: options.displayName,
    metadata: { ...options.metadata },
    tokenType: batch ? 'batch' : 'service',
    noDefaultPolicy: fields.noDefaultPolicy,
    internal: { ...options.internal },
  };
  if (fields.period > 0) auth.period = fields.period;
  if (fields.explicitMaxTtl > 0) auth.explicitMaxTtl = fields.explicitMaxTtl;
  if (fields.numUses > 0) auth.numUses = fields.numUses;
  const cidrs = options.boundCidrs ?? fields.boundCidrs;
  if (cidrs.length > 0) auth.boundCidrs = [...cidrs];
  return auth;
}

/**
 * What `renewAuth` returns for an entry: its current TTL limits, so a renewal is capped by the entry's current max
 * (as AppRole's `pathLoginRenew`,
 * https://github.com/hashicorp/vault/blob/main/builtin/credential/approle/path_login.go). `period` is always
 * returned (0 = not periodic), so a period removed from the entry stops applying to renewals, as in Vault.
 */
export function renewLimits(fields: TokenFields): { ttl: number; maxTtl: number; period: number } {
  return { ttl: fields.ttl, maxTtl: fields.maxTtl, period: fields.period };
}

/**
 * Refuses a login from outside the entry's `token_bound_cidrs` as Vault's auth methods do (403 `permission denied`).
 */
export function checkLoginCidrs(remoteAddress: string, fields: TokenFields): void {
  if (!addressAllowed(remoteAddress, fields.boundCidrs)) throw new LogicalError(403, 'permission denied');
}

/**
 * The token display-name prefix for a mount: `auth/userpass/` → `userpass`, `auth/team/jwt/` → `team-jwt`
 * (Vault prefixes login tokens' display names with the mount path).
 */
export function mountDisplayPrefix(mountPath: string): string {
  return mountPath
    .replace(/^auth\//, '')
    .replace(/\/+$/, '')
    .replace(/\//g, '-');
}

/** `<mount>-<name>` with Vault's display-name sanitising (characters outside `[A-Za-z0-9-]` become `-`). */
export function displayName(mountPath: string, name: string): string {
  const prefix = mountDisplayPrefix(mountPath);
  const suffix = name.replace(/[^A-Za-z0-9-]/g, '-');
  return suffix === '' ? prefix : `${prefix}-${suffix}`;
}
