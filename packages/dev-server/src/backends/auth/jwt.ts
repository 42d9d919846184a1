/**
 * JWT auth method (mount types `jwt` and `oidc`; only the JWT login flow),
 * https://developer.hashicorp.com/vault/api-docs/auth/jwt.
 *
 * - `config`: `jwt_validation_pubkeys` (PEM list) **or** `jwks_url` (fetched with `fetch` via jose's
 *   `createRemoteJWKSet`, which caches keys and refetches on an unknown `kid`), `bound_issuer`, `default_role`,
 *   `jwt_supported_algs`. `oidc_discovery_url` is refused: the dev server does not implement discovery.
 * - `role/:name`: `role_type` (`jwt` only), `user_claim` (required), `bound_audiences`, `bound_subject`,
 *   `bound_claims` (exact values; a list means any of), `claim_mappings` (claim → metadata key),
 *   `clock_skew_leeway` (default 60 s), token fields.
 * - `login {role, jwt}`: signature, `exp`/`nbf` (with `clock_skew_leeway`), `iss` (`bound_issuer`), `aud`
 *   (`bound_audiences`; a token with an `aud` needs a role with `bound_audiences`, as Vault), `sub`, bound claims.
 */
import type { KeyObject } from 'node:crypto';
import { createRemoteJWKSet, type JWTVerifyGetKey } from 'jose';
import {
  type Backend,
  type BackendContext,
  badRequest,
  getCommaStringSlice,
  getDuration,
  getMap,
  getString,
  type LogicalRequest,
  type LogicalResponse,
  type RouteParams,
  Router,
  type TokenView,
} from '../../sdk/index.js';
import { Entries } from './entries.js';
import { claimToString, getClaim, type KeySource, parsePublicKeyPem, verifyJwt } from './jwt-verify.js';
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

interface JwtConfig {
  pubkeyPems: string[];
  keys: KeyObject[];
  jwksUrl: string;
  jwksCaPem: string;
  jwks: JWTVerifyGetKey | undefined;
  boundIssuer: string;
  defaultRole: string;
  supportedAlgs: string[];
}

interface JwtRole {
  name: string;
  userClaim: string;
  boundAudiences: string[];
  boundSubject: string;
  boundClaims: Record<string, string[]>;
  claimMappings: Record<string, string>;
  groupsClaim: string;
  clockSkewLeeway: number;
  token: TokenFields;
}

const DEFAULT_CLOCK_SKEW_LEEWAY = 60;

function parseBoundClaims(raw: Record<string, unknown>): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [claim, value] of Object.entries(raw)) {
    const values = Array.isArray(value) ? value : [value];
    out[claim] = values.map((item) => {
      if (typeof item === 'string') return item;
      if (typeof item === 'number' || typeof item === 'boolean') return String(item);
      throw badRequest(`bound_claims: the values of "${claim}" must be strings, numbers or booleans`);
    });
  }
  return out;
}

/** Creates a JWT backend for one mount (`type` is `jwt` or `oidc`). */
export function createJwtBackend(context: BackendContext, type: 'jwt' | 'oidc' = 'jwt'): Backend {
  let config: JwtConfig | undefined;
  const roles = new Entries<JwtRole>('role');
  const roleKey = Entries.key;

  async function writeConfig(request: LogicalRequest): Promise<LogicalResponse | null> {
    const data = request.data;
    if (getString(data, 'oidc_discovery_url'))
      throw badRequest(
        'oidc_discovery_url is not supported by the dev server: set jwt_validation_pubkeys or jwks_url instead',
      );
    // A JSON array of PEM strings (PEM blocks contain no commas, so a comma-separated string also works).
    const pubkeyPems = getCommaStringSlice(data, 'jwt_validation_pubkeys') ?? [];
    const jwksUrl = getString(data, 'jwks_url') ?? '';
    if ((pubkeyPems.length > 0 ? 1 : 0) + (jwksUrl ? 1 : 0) !== 1)
      throw badRequest(
        "exactly one of 'jwt_validation_pubkeys', 'jwks_url' or 'oidc_discovery_url' must be set",
      );
    const keys = pubkeyPems.map((pem, index) => parsePublicKeyPem(pem, 'jwt_validation_pubkeys', index));
    let jwks: JWTVerifyGetKey | undefined;
    if (jwksUrl) {
      let url: URL;
      try {
        url = new URL(jwksUrl);
      } catch {
        throw badRequest('error checking jwks_url: not a valid URL');
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:')
        throw badRequest('error checking jwks_url: the URL must use http or https');
      const remote = createRemoteJWKSet(url, { timeoutDuration: 5000, cooldownDuration: 1000 });
      try {
        await remote.reload();
      } catch (error) {
        const reason = error instanceof Error ? error.message : 'unknown error';
        throw badRequest(`error checking jwks_url: fetching the key set failed: ${reason}`);
      }
      jwks = remote;
    }
    const supportedAlgs = getCommaStringSlice(data, 'jwt_supported_algs') ?? [];
    config = {
      pubkeyPems,
      keys,
      jwksUrl,
      jwksCaPem: getString(data, 'jwks_ca_pem') ?? '',
      jwks,
      boundIssuer: getString(data, 'bound_issuer') ?? '',
      defaultRole: getString(data, 'default_role') ?? '',
      supportedAlgs,
    };
    return null;
  }

  async function writeRole(request: LogicalRequest, params: RouteParams): Promise<LogicalResponse | null> {
    const name = roleKey(params.name ?? '');
    const existing = roles.get(name);
    const data = request.data;
    const roleType = getString(data, 'role_type');
    if (roleType !== undefined && roleType !== 'jwt')
      throw badRequest(`invalid role_type "${roleType}": the dev server supports only "jwt" roles`);
    const role: JwtRole = existing
      ? { ...existing }
      : {
          name,
          userClaim: '',
          boundAudiences: [],
          boundSubject: '',
          boundClaims: {},
          claimMappings: {},
          groupsClaim: '',
          clockSkewLeeway: DEFAULT_CLOCK_SKEW_LEEWAY,
          token: defaultTokenFields(),
        };
    const userClaim = getString(data, 'user_claim');
    if (userClaim !== undefined) role.userClaim = userClaim;
    if (!role.userClaim) throw badRequest('a user claim must be defined on the role');
    const audiences = getCommaStringSlice(data, 'bound_audiences');
    if (audiences !== undefined) role.boundAudiences = audiences;
    const subject = getString(data, 'bound_subject');
    if (subject !== undefined) role.boundSubject = subject;
    const claimsType = getString(data, 'bound_claims_type');
    if (claimsType !== undefined && claimsType !== 'string')
      throw badRequest('invalid bound_claims_type: the dev server supports only "string" (exact match)');
    const boundClaims = getMap(data, 'bound_claims');
    if (boundClaims !== undefined) role.boundClaims = parseBoundClaims(boundClaims);
    const mappings = getMap(data, 'claim_mappings');
    if (mappings !== undefined) {
      const out: Record<string, string> = {};
      const targets = new Set<string>();
      for (const [claim, target] of Object.entries(mappings)) {
        if (typeof target !== 'string' || target === '')
          throw badRequest(`claim_mappings: the metadata key for "${claim}" must be a non-empty string`);
        if (target === 'role')
          throw badRequest('metadata key "role" is reserved and may not be a mapping target');
        if (targets.has(target)) throw badRequest(`multiple keys are mapped to metadata key "${target}"`);
        targets.add(target);
        out[claim] = target;
      }
      role.claimMappings = out;
    }
    const groupsClaim = getString(data, 'groups_claim');
    if (groupsClaim !== undefined) role.groupsClaim = groupsClaim;
    const leeway = getDuration(data, 'clock_skew_leeway');
    if (leeway !== undefined) role.clockSkewLeeway = leeway;
    role.token = parseTokenFields(data, role.token);
    if (
      role.boundAudiences.length === 0 &&
      role.boundSubject === '' &&
      Object.keys(role.boundClaims).length === 0 &&
      role.token.boundCidrs.length === 0
    )
      throw badRequest('must have at least one bound constraint when creating/updating a role');
    roles.set(name, role);
    return null;
  }

  const roleData = (role: JwtRole): Record<string, unknown> => ({
    role_type: 'jwt',
    user_claim: role.userClaim,
    bound_audiences: [...role.boundAudiences],
    bound_subject: role.boundSubject,
    bound_claims: Object.keys(role.boundClaims).length > 0 ? structuredClone(role.boundClaims) : null,
    bound_claims_type: 'string',
    claim_mappings: Object.keys(role.claimMappings).length > 0 ? { ...role.claimMappings } : null,
    groups_claim: role.groupsClaim,
    clock_skew_leeway: role.clockSkewLeeway,
    ...tokenFieldsData(role.token),
  });

  async function login(request: LogicalRequest): Promise<LogicalResponse> {
    if (!config) throw badRequest('could not load configuration');
    const roleName = roleKey(getString(request.data, 'role') || config.defaultRole);
    if (!roleName) throw badRequest('missing role');
    const role = roles.get(roleName);
    if (!role) throw badRequest(`role "${roleName}" could not be found`);
    const token = getString(request.data, 'jwt');
    if (!token) throw badRequest('missing token');
    checkLoginCidrs(request.remoteAddress, role.token);

    const source: KeySource = config.jwks
      ? { kind: 'jwks', jwks: config.jwks }
      : { kind: 'keys', keys: config.keys };
    const payload = await verifyJwt(token, source, {
      issuer: config.boundIssuer || undefined,
      audiences: role.boundAudiences,
      clockToleranceSeconds: role.clockSkewLeeway,
      algorithms: config.supportedAlgs,
      now: context.now(),
    });

    // As Vault: a token needs iat, nbf or exp; without exp it is valid for 5 minutes from its latest start.
    const numeric = (value: unknown): number =>
      typeof value === 'number' && Number.isFinite(value) ? value : 0;
    const [iat, nbf, exp] = [numeric(payload.iat), numeric(payload.nbf), numeric(payload.exp)];
    if (iat === 0 && nbf === 0 && exp === 0)
      throw badRequest('no issue time, notbefore, or expiration time encoded in token');
    if (exp === 0 && Math.max(iat, nbf) + 300 + role.clockSkewLeeway < context.now() / 1000)
      throw badRequest('error validating claims: token is expired (exp)');

    if (role.boundAudiences.length === 0 && payload.aud !== undefined && payload.aud.length > 0)
      throw badRequest('audience claim found in JWT but no audiences bound to the role');
    if (role.boundSubject && payload.sub !== role.boundSubject)
      throw badRequest('error validating claims: invalid subject (sub claim)');
    for (const [claim, allowed] of Object.entries(role.boundClaims)) {
      const value = getClaim(payload, claim);
      if (value === undefined) throw badRequest(`error validating claims: claim "${claim}" is missing`);
      const actual = (Array.isArray(value) ? value : [value]).map(claimToString);
      if (!actual.some((item) => item !== undefined && allowed.includes(item)))
        throw badRequest(
          `error validating claims: claim "${claim}" does not match any associated bound claim values`,
        );
    }
    const user = getClaim(payload, role.userClaim);
    if (user === undefined || user === null || user === '')
      throw badRequest(`claim "${role.userClaim}" not found in token`);
    if (typeof user !== 'string' && typeof user !== 'number')
      throw badRequest(`claim "${role.userClaim}" could not be converted to string`);
    const userName = String(user);

    const metadata: Record<string, string> = { role: role.name };
    for (const [claim, target] of Object.entries(role.claimMappings)) {
      const value = claimToString(getClaim(payload, claim));
      if (value !== undefined) metadata[target] = value;
    }
    return {
      auth: buildAuth(role.token, {
        displayName: displayName(context.mountPath, userName),
        metadata,
        internal: { role: role.name, user: userName },
      }),
    };
  }

  const router = new Router().add('login', { update: login }).add('config', {
    read: async () =>
      config
        ? {
            data: {
              jwt_validation_pubkeys: [...config.pubkeyPems],
              jwks_url: config.jwksUrl,
              jwks_ca_pem: config.jwksCaPem,
              oidc_discovery_url: '',
              bound_issuer: config.boundIssuer,
              default_role: config.defaultRole,
              jwt_supported_algs: [...config.supportedAlgs],
            },
          }
        : null,
    update: writeConfig,
  });
  roles.addRoutes(router, { read: roleData, write: writeRole });

  return {
    type,
    unauthenticatedPaths: ['login'],
    handle: (request) => router.dispatch(request),
    exists: async (request) => (request.path === 'config' ? config !== undefined : roles.exists(request)),
    renewAuth: async (token: TokenView) => {
      const name = String(token.internal.role ?? '');
      const role = roles.get(name);
      if (!role) throw badRequest(`role ${name} does not exist during renewal`);
      return renewLimits(role.token);
    },
  };
}
