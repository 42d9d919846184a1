/**
 * Vault's token fields shared by the auth methods (`tokenutil.TokenParams`,
 * https://github.com/hashicorp/vault/blob/main/sdk/helper/tokenutil/tokenutil.go), read with the SDK's field parser.
 */
import {
  type AuthSpec,
  badRequest,
  getBool,
  getCommaStringSlice,
  getDuration,
  getInt,
  getString,
  LogicalError,
} from '../../sdk/index.js';
import { addressAllowed, validateCidrs } from '../../util/cidr.js';

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
  if (ttl.present) out.ttl = getDuration(data, ttl.key) ?? 0;
  const maxTtl = pick(data, 'token_max_ttl', legacy.ttl ? 'max_ttl' : undefined);
  if (maxTtl.present) out.maxTtl = getDuration(data, maxTtl.key) ?? 0;
  const explicitMaxTtl = pick(data, 'token_explicit_max_ttl', undefined);
  if (explicitMaxTtl.present) out.explicitMaxTtl = getDuration(data, 'token_explicit_max_ttl') ?? 0;
  const period = pick(data, 'token_period', legacy.period ? 'period' : undefined);
  if (period.present) out.period = getDuration(data, period.key) ?? 0;

  const policies = pick(data, 'token_policies', legacy.policies ? 'policies' : undefined);
  if (policies.present) out.policies = normalizePolicies(getCommaStringSlice(data, policies.key) ?? []);
  const boundCidrs = pick(data, 'token_bound_cidrs', legacy.boundCidrs ? 'bound_cidrs' : undefined);
  if (boundCidrs.present)
    out.boundCidrs = validateCidrs(getCommaStringSlice(data, boundCidrs.key) ?? [], 'token_bound_cidrs');

  const noDefault = getBool(data, 'token_no_default_policy');
  if (noDefault !== undefined) out.noDefaultPolicy = noDefault;
  const numUses = getInt(data, 'token_num_uses');
  if (numUses !== undefined) {
    if (numUses < 0) throw badRequest('"token_num_uses" cannot be negative');
    out.numUses = numUses;
  }
  const type = getString(data, 'token_type');
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
