/**
 * AppRole auth method (`approle`, https://developer.hashicorp.com/vault/api-docs/auth/approle): roles with a role ID,
 * secret IDs (generated or custom) with use counts, TTLs, CIDR restrictions and metadata, and
 * `login {role_id, secret_id}`.
 *
 * Secret IDs are stored only as an HMAC-SHA256 under a per-mount random key (as Vault does); the value itself
 * is returned once, by the generating request.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import {
  type Backend,
  type BackendContext,
  badRequest,
  getBool,
  getCommaStringSlice,
  getDuration,
  getInt,
  getString,
  LogicalError,
  type LogicalRequest,
  type LogicalResponse,
  type RouteParams,
  Router,
  type TokenView,
} from '../../sdk/index.js';
import { addressAllowed, cidrsSubset, validateCidrs } from '../../util/cidr.js';
import { uuid } from '../../util/random.js';
import { Entries } from './entries.js';
import {
  buildAuth,
  defaultTokenFields,
  mountDisplayPrefix,
  parseTokenFields,
  renewLimits,
  type TokenFields,
  tokenFieldsData,
} from './tokenutil.js';

/**
 * The login error for every credential problem, in Vault's wording
 * (https://github.com/hashicorp/vault/blob/main/builtin/credential/approle/path_login.go).
 */
export const INVALID_CREDENTIALS = 'invalid role or secret ID';

interface Role {
  name: string;
  roleId: string;
  bindSecretId: boolean;
  secretIdBoundCidrs: string[];
  secretIdNumUses: number;
  secretIdTtl: number;
  localSecretIds: boolean;
  token: TokenFields;
}

interface SecretIdEntry {
  /** HMAC of the secret ID (the map key too). */
  hmac: string;
  accessor: string;
  /** Remaining uses; 0 = unlimited. */
  numUses: number;
  ttl: number;
  creationTime: number;
  lastUpdatedTime: number;
  /** 0 = never expires. */
  expirationTime: number;
  cidrList: string[];
  tokenBoundCidrs: string[];
  metadata: Record<string, string>;
}

const ZERO_TIME = '0001-01-01T00:00:00Z';

/**
 * Vault's single-field role endpoints (`role/:role/<endpoint>`): read `{field}`, update from `field` (or its legacy
 * alias), delete resets the default.
 */
const FIELD_ENDPOINTS: Readonly<Record<string, { field: string; alias?: string; reset: unknown }>> = {
  policies: { field: 'token_policies', alias: 'policies', reset: [] },
  'secret-id-bound-cidrs': { field: 'secret_id_bound_cidrs', reset: [] },
  'token-bound-cidrs': { field: 'token_bound_cidrs', reset: [] },
  'bind-secret-id': { field: 'bind_secret_id', reset: true },
  'secret-id-num-uses': { field: 'secret_id_num_uses', reset: 0 },
  'secret-id-ttl': { field: 'secret_id_ttl', reset: 0 },
  period: { field: 'token_period', alias: 'period', reset: 0 },
  'token-num-uses': { field: 'token_num_uses', reset: 0 },
  'token-ttl': { field: 'token_ttl', reset: 0 },
  'token-max-ttl': { field: 'token_max_ttl', reset: 0 },
};

/** Creates an AppRole backend for one mount. */
export function createAppRoleBackend(context: BackendContext): Backend {
  const roles = new Entries<Role>('role');
  /** role name → (secret-id HMAC → entry) */
  const secretIds = new Map<string, Map<string, SecretIdEntry>>();
  const hmacKey = randomBytes(32);

  const hmac = (value: string): string => createHmac('sha256', hmacKey).update(value).digest('hex');
  const roleKey = Entries.key;
  const roleSecrets = (name: string): Map<string, SecretIdEntry> => {
    let map = secretIds.get(name);
    if (!map) {
      map = new Map();
      secretIds.set(name, map);
    }
    return map;
  };
  const expired = (entry: SecretIdEntry): boolean =>
    entry.expirationTime > 0 && context.now() >= entry.expirationTime;

  const findRoleById = (roleId: string): Role | undefined => {
    const wanted = Buffer.from(roleId);
    for (const role of roles.values()) {
      const candidate = Buffer.from(role.roleId);
      if (candidate.length === wanted.length && timingSafeEqual(candidate, wanted)) return role;
    }
    return undefined;
  };

  const requireRole = (name: string): Role => {
    const role = roles.get(roleKey(name));
    if (!role) throw new LogicalError(404, `role "${roleKey(name)}" does not exist`);
    return role;
  };

  const roleData = (role: Role): Record<string, unknown> => ({
    bind_secret_id: role.bindSecretId,
    local_secret_ids: role.localSecretIds,
    secret_id_bound_cidrs: [...role.secretIdBoundCidrs],
    secret_id_num_uses: role.secretIdNumUses,
    secret_id_ttl: role.secretIdTtl,
    period: role.token.period,
    ...tokenFieldsData(role.token),
  });

  const secretIdData = (entry: SecretIdEntry): Record<string, unknown> => ({
    cidr_list: [...entry.cidrList],
    creation_time: new Date(entry.creationTime).toISOString(),
    expiration_time: entry.expirationTime > 0 ? new Date(entry.expirationTime).toISOString() : ZERO_TIME,
    last_updated_time: new Date(entry.lastUpdatedTime).toISOString(),
    metadata: { ...entry.metadata },
    secret_id_accessor: entry.accessor,
    secret_id_num_uses: entry.numUses,
    secret_id_ttl: entry.ttl,
    token_bound_cidrs: [...entry.tokenBoundCidrs],
  });

  /** Drops expired secret IDs of a role (Vault's tidy, done lazily). */
  const tidy = (name: string): void => {
    const map = secretIds.get(name);
    if (!map) return;
    for (const [key, entry] of map) if (expired(entry)) map.delete(key);
  };

  const findByAccessor = (name: string, accessor: string): SecretIdEntry | undefined => {
    tidy(name);
    for (const entry of secretIds.get(name)?.values() ?? []) if (entry.accessor === accessor) return entry;
    return undefined;
  };

  // --- roles -----------------------------------------------------------------------------------------------

  async function writeRole(request: LogicalRequest, params: RouteParams): Promise<LogicalResponse | null> {
    const name = roleKey(params.name ?? '');
    const existing = roles.get(name);
    const data = request.data;
    const role: Role = existing
      ? { ...existing, secretIdBoundCidrs: [...existing.secretIdBoundCidrs] }
      : {
          name,
          roleId: '',
          bindSecretId: true,
          secretIdBoundCidrs: [],
          secretIdNumUses: 0,
          secretIdTtl: 0,
          localSecretIds: false,
          token: defaultTokenFields(),
        };

    const roleId = getString(data, 'role_id');
    if (roleId !== undefined) {
      if (roleId === '') throw badRequest('role_id cannot be empty');
      const owner = findRoleById(roleId);
      if (owner && owner.name !== name) throw badRequest('role_id already in use');
      role.roleId = roleId;
    } else if (!existing) {
      role.roleId = uuid();
    }
    const bind = getBool(data, 'bind_secret_id');
    if (bind !== undefined) role.bindSecretId = bind;
    const cidrs =
      getCommaStringSlice(data, 'secret_id_bound_cidrs') ?? getCommaStringSlice(data, 'bound_cidr_list');
    if (cidrs !== undefined) role.secretIdBoundCidrs = validateCidrs(cidrs, 'secret_id_bound_cidrs');
    const numUses = getInt(data, 'secret_id_num_uses');
    if (numUses !== undefined) {
      if (numUses < 0) throw badRequest('secret_id_num_uses cannot be negative');
      role.secretIdNumUses = numUses;
    }
    const ttl = getDuration(data, 'secret_id_ttl');
    if (ttl !== undefined) role.secretIdTtl = ttl;
    const local = getBool(data, 'local_secret_ids');
    if (local !== undefined) {
      if (existing && local !== existing.localSecretIds)
        throw badRequest('local_secret_ids can only be modified during role creation');
      role.localSecretIds = local;
    }
    role.token = parseTokenFields(data, role.token, { policies: true, period: true });

    if (!role.bindSecretId && role.secretIdBoundCidrs.length === 0 && role.token.boundCidrs.length === 0)
      throw badRequest('at least one constraint should be enabled on the role');

    roles.set(name, role);
    return null;
  }

  // --- secret IDs ------------------------------------------------------------------------------------------

  function createSecretId(request: LogicalRequest, params: RouteParams, custom: boolean): LogicalResponse {
    const role = requireRole(params.name ?? '');
    if (!role.bindSecretId) throw badRequest('bind_secret_id is not set on the role');
    const data = request.data;

    let secretId: string;
    if (custom) {
      const given = getString(data, 'secret_id');
      if (!given) throw badRequest('missing secret_id');
      secretId = given;
    } else {
      secretId = uuid();
    }

    let metadata: Record<string, string> = {};
    const rawMetadata = data.metadata;
    if (rawMetadata !== undefined && rawMetadata !== null && rawMetadata !== '') {
      if (typeof rawMetadata !== 'string')
        throw badRequest(
          'failed to parse metadata: metadata must be a JSON string of string keys and values',
        );
      let parsed: unknown;
      try {
        parsed = JSON.parse(rawMetadata);
      } catch {
        throw badRequest('failed to parse metadata: metadata is not valid JSON');
      }
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
        throw badRequest('failed to parse metadata: metadata must be a JSON object');
      for (const [key, value] of Object.entries(parsed)) {
        if (typeof value !== 'string')
          throw badRequest(`failed to parse metadata: the value of "${key}" must be a string`);
      }
      metadata = { ...(parsed as Record<string, string>) };
    }

    const cidrList = validateCidrs(getCommaStringSlice(data, 'cidr_list') ?? [], 'cidr_list');
    if (
      cidrList.length > 0 &&
      role.secretIdBoundCidrs.length > 0 &&
      !cidrsSubset(role.secretIdBoundCidrs, cidrList)
    )
      throw badRequest(
        "failed to verify the CIDR restrictions set on the secret ID: cidr_list is not a subset of the role's secret_id_bound_cidrs",
      );
    const tokenBoundCidrs = validateCidrs(
      getCommaStringSlice(data, 'token_bound_cidrs') ?? [],
      'token_bound_cidrs',
    );
    if (
      tokenBoundCidrs.length > 0 &&
      role.token.boundCidrs.length > 0 &&
      !cidrsSubset(role.token.boundCidrs, tokenBoundCidrs)
    )
      throw badRequest(
        "failed to verify the CIDR restrictions set on the secret ID: token_bound_cidrs is not a subset of the role's token_bound_cidrs",
      );

    let numUses = role.secretIdNumUses;
    const requestedUses = getInt(data, 'num_uses');
    if (requestedUses !== undefined) {
      if (requestedUses < 0) throw badRequest('num_uses cannot be negative');
      if (role.secretIdNumUses > 0 && (requestedUses === 0 || requestedUses > role.secretIdNumUses))
        throw badRequest("num_uses cannot be higher than the role's secret_id_num_uses");
      numUses = requestedUses;
    }
    let ttl = role.secretIdTtl;
    const requestedTtl = getDuration(data, 'ttl');
    if (requestedTtl !== undefined) {
      if (role.secretIdTtl > 0 && (requestedTtl === 0 || requestedTtl > role.secretIdTtl))
        throw badRequest("ttl cannot be longer than the role's secret_id_ttl");
      ttl = requestedTtl;
    }

    const key = hmac(secretId);
    const secrets = roleSecrets(role.name);
    tidy(role.name);
    if (secrets.has(key)) throw badRequest('secret_id is already registered');
    const now = context.now();
    const entry: SecretIdEntry = {
      hmac: key,
      accessor: uuid(),
      numUses,
      ttl,
      creationTime: now,
      lastUpdatedTime: now,
      expirationTime: ttl > 0 ? now + ttl * 1000 : 0,
      cidrList,
      tokenBoundCidrs,
      metadata,
    };
    secrets.set(key, entry);
    return {
      data: {
        secret_id: secretId,
        secret_id_accessor: entry.accessor,
        secret_id_ttl: ttl,
        secret_id_num_uses: numUses,
      },
    };
  }

  async function lookupSecretId(
    request: LogicalRequest,
    params: RouteParams,
  ): Promise<LogicalResponse | null> {
    const role = requireRole(params.name ?? '');
    const secretId = getString(request.data, 'secret_id');
    if (!secretId) throw badRequest('missing secret_id');
    tidy(role.name);
    const entry = secretIds.get(role.name)?.get(hmac(secretId));
    return entry ? { data: secretIdData(entry) } : null;
  }

  async function destroySecretId(
    request: LogicalRequest,
    params: RouteParams,
  ): Promise<LogicalResponse | null> {
    const role = requireRole(params.name ?? '');
    const secretId = getString(request.data, 'secret_id');
    if (!secretId) throw badRequest('missing secret_id');
    secretIds.get(role.name)?.delete(hmac(secretId));
    return null;
  }

  const requireAccessor = (request: LogicalRequest, roleName: string): SecretIdEntry => {
    const accessor = getString(request.data, 'secret_id_accessor');
    if (!accessor) throw badRequest('missing secret_id_accessor');
    const entry = findByAccessor(roleName, accessor);
    if (!entry)
      throw new LogicalError(404, `failed to find accessor entry for secret_id_accessor: "${accessor}"`);
    return entry;
  };

  async function destroyByAccessor(request: LogicalRequest, params: RouteParams): Promise<null> {
    const role = requireRole(params.name ?? '');
    const entry = requireAccessor(request, role.name);
    secretIds.get(role.name)?.delete(entry.hmac);
    return null;
  }

  // --- login -----------------------------------------------------------------------------------------------

  async function login(request: LogicalRequest): Promise<LogicalResponse> {
    const roleId = getString(request.data, 'role_id');
    if (!roleId) throw badRequest('missing role_id');
    const role = findRoleById(roleId);
    if (!role) throw badRequest(INVALID_CREDENTIALS);

    const metadata: Record<string, string> = {};
    let tokenBoundCidrs: string[] | undefined;
    let accessor: string | undefined;
    if (role.bindSecretId) {
      const secretId = getString(request.data, 'secret_id');
      if (!secretId) throw badRequest('missing secret_id');
      const secrets = secretIds.get(role.name);
      const key = hmac(secretId);
      const entry = secrets?.get(key);
      if (!secrets || !entry) throw badRequest(INVALID_CREDENTIALS);
      if (expired(entry)) {
        secrets.delete(key);
        throw badRequest(INVALID_CREDENTIALS);
      }
      if (!addressAllowed(request.remoteAddress, entry.cidrList))
        throw badRequest(
          `source address "${request.remoteAddress}" unauthorized through CIDR restrictions on the secret ID`,
        );
      if (entry.numUses > 0) {
        entry.numUses -= 1;
        entry.lastUpdatedTime = context.now();
        if (entry.numUses === 0) secrets.delete(key);
      }
      Object.assign(metadata, entry.metadata);
      if (entry.tokenBoundCidrs.length > 0) tokenBoundCidrs = entry.tokenBoundCidrs;
      accessor = entry.accessor;
    }
    if (!addressAllowed(request.remoteAddress, role.secretIdBoundCidrs))
      throw badRequest(
        `source address "${request.remoteAddress}" unauthorized by CIDR restrictions on the role`,
      );
    metadata.role_name = role.name;

    const internal: Record<string, unknown> = { roleName: role.name, roleId: role.roleId };
    if (accessor) internal.secretIdAccessor = accessor;
    const auth = buildAuth(role.token, {
      displayName: mountDisplayPrefix(context.mountPath),
      metadata,
      internal,
      ...(tokenBoundCidrs ? { boundCidrs: tokenBoundCidrs } : {}),
    });
    return { auth };
  }

  const router = new Router().add('login', { update: login });
  for (const [endpoint, spec] of Object.entries(FIELD_ENDPOINTS)) {
    router.add(`role/:name/${endpoint}`, {
      read: async (_request, params) => {
        const role = roles.get(roleKey(params.name ?? ''));
        if (!role) return null;
        const data = roleData(role);
        return {
          data: {
            [spec.field]: data[spec.field],
            ...(spec.alias ? { [spec.alias]: data[spec.alias] } : {}),
          },
        };
      },
      update: async (request, params) => {
        requireRole(params.name ?? '');
        const value = request.data[spec.field] ?? (spec.alias ? request.data[spec.alias] : undefined);
        if (value === undefined || value === null) throw badRequest(`missing ${spec.field}`);
        return writeRole({ ...request, data: { [spec.field]: value } }, params);
      },
      delete: async (request, params) => {
        requireRole(params.name ?? '');
        return writeRole({ ...request, data: { [spec.field]: spec.reset } }, params);
      },
    });
  }
  router.add('role/:name/local-secret-ids', {
    read: async (_request, params) => {
      const role = roles.get(roleKey(params.name ?? ''));
      return role ? { data: { local_secret_ids: role.localSecretIds } } : null;
    },
  });
  roles.addRoutes(router, { read: roleData, write: writeRole, onDelete: (name) => secretIds.delete(name) });
  router
    .add('role/:name/role-id', {
      read: async (_request, params) => {
        const role = roles.get(roleKey(params.name ?? ''));
        return role ? { data: { role_id: role.roleId } } : null;
      },
      update: async (request, params) => {
        const role = requireRole(params.name ?? '');
        const roleId = getString(request.data, 'role_id');
        if (!roleId) throw badRequest('missing role_id');
        const owner = findRoleById(roleId);
        if (owner && owner.name !== role.name) throw badRequest('role_id already in use');
        role.roleId = roleId;
        return null;
      },
    })
    .add('role/:name/secret-id', {
      update: async (request, params) => createSecretId(request, params, false),
    })
    .add('role/:name/secret-id/', {
      list: async (_request, params) => {
        const role = requireRole(params.name ?? '');
        tidy(role.name);
        const keys = [...(secretIds.get(role.name)?.values() ?? [])].map((entry) => entry.accessor).sort();
        return keys.length > 0 ? { data: { keys } } : null;
      },
    })
    .add('role/:name/custom-secret-id', {
      update: async (request, params) => createSecretId(request, params, true),
    })
    .add('role/:name/secret-id/lookup', { update: lookupSecretId })
    .add('role/:name/secret-id/destroy', { update: destroySecretId, delete: destroySecretId })
    .add('role/:name/secret-id-accessor/lookup', {
      update: async (request, params) => {
        const role = requireRole(params.name ?? '');
        return { data: secretIdData(requireAccessor(request, role.name)) };
      },
    })
    .add('role/:name/secret-id-accessor/destroy', {
      update: destroyByAccessor,
      delete: destroyByAccessor,
    });

  return {
    type: 'approle',
    unauthenticatedPaths: ['login'],
    handle: (request) => router.dispatch(request),
    exists: async (request) => roles.exists(request),
    renewAuth: async (token: TokenView) => {
      const roleName = String(token.internal.roleName ?? '');
      const role = roles.get(roleName);
      if (!role) throw badRequest(`role "${roleName}" does not exist during renewal`);
      return renewLimits(role.token);
    },
  };
}
