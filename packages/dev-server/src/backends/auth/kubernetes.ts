/**
 * Kubernetes auth method (`kubernetes`), https://developer.hashicorp.com/vault/api-docs/auth/kubernetes.
 *
 * Real Vault validates a service-account JWT by calling the cluster's TokenReview API (with
 * `token_reviewer_jwt`, `kubernetes_host`, `kubernetes_ca_cert`). The dev server has no cluster: it stores those
 * fields but verifies the JWT locally against `pem_keys` (a Vault config field too: the PEM public keys of the
 * cluster's service-account signer), then checks `exp`/`nbf`, the optional `issuer`, the role's `audience` and the
 * service-account claims — legacy secret-based tokens (`kubernetes.io/serviceaccount/*` claims) and projected
 * tokens (the `kubernetes.io` claim object) are both understood.
 */
import type { KeyObject } from 'node:crypto';
import type { JWTPayload } from 'jose';
import {
  type Backend,
  type BackendContext,
  badRequest,
  getBool,
  getCommaStringSlice,
  getString,
  LogicalError,
  type LogicalRequest,
  type LogicalResponse,
  type RouteParams,
  Router,
  type TokenView,
} from '../../sdk/index.js';
import { globMatches } from '../../util/glob.js';
import { Entries } from './entries.js';
import { parsePublicKeyPem, SIGNATURE_FAILED, verifyJwt } from './jwt-verify.js';
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

interface KubernetesConfig {
  host: string;
  caCert: string;
  /** Stored like Vault, never returned on read. */
  tokenReviewerJwt: string;
  pemKeys: string[];
  keys: KeyObject[];
  issuer: string;
  disableIssValidation: boolean;
  disableLocalCaJwt: boolean;
}

interface KubernetesRole {
  name: string;
  serviceAccountNames: string[];
  serviceAccountNamespaces: string[];
  audience: string;
  aliasNameSource: string;
  token: TokenFields;
}

/** The service account a token names. */
export interface ServiceAccount {
  namespace: string;
  name: string;
  uid: string;
  /** Legacy (secret-based) tokens only; `''` for projected tokens. */
  secretName: string;
}

const LEGACY = 'kubernetes.io/serviceaccount/';

/** Reads the service-account identity from legacy or projected token claims. */
export function serviceAccountFromClaims(payload: JWTPayload): ServiceAccount | undefined {
  const str = (value: unknown): string => (typeof value === 'string' ? value : '');
  const projected = payload['kubernetes.io'];
  if (typeof projected === 'object' && projected !== null && !Array.isArray(projected)) {
    const claims = projected as Record<string, unknown>;
    const sa = claims.serviceaccount;
    const account = typeof sa === 'object' && sa !== null ? (sa as Record<string, unknown>) : {};
    const result = {
      namespace: str(claims.namespace),
      name: str(account.name),
      uid: str(account.uid),
      secretName: '',
    };
    return result.namespace && result.name ? result : undefined;
  }
  const legacy = {
    namespace: str(payload[`${LEGACY}namespace`]),
    name: str(payload[`${LEGACY}service-account.name`]),
    uid: str(payload[`${LEGACY}service-account.uid`]),
    secretName: str(payload[`${LEGACY}secret.name`]),
  };
  return legacy.namespace && legacy.name ? legacy : undefined;
}

/** Creates a Kubernetes backend for one mount. */
export function createKubernetesBackend(context: BackendContext): Backend {
  let config: KubernetesConfig | undefined;
  const roles = new Entries<KubernetesRole>('role');
  const roleKey = Entries.key;

  async function writeConfig(request: LogicalRequest): Promise<LogicalResponse | null> {
    const data = request.data;
    const host = getString(data, 'kubernetes_host') ?? config?.host ?? '';
    if (!host) throw badRequest('no host provided');
    const pemKeys = getCommaStringSlice(data, 'pem_keys') ?? config?.pemKeys ?? [];
    const keys = pemKeys.map((pem, index) => parsePublicKeyPem(pem, 'pem_keys', index));
    config = {
      host,
      caCert: getString(data, 'kubernetes_ca_cert') ?? config?.caCert ?? '',
      tokenReviewerJwt: getString(data, 'token_reviewer_jwt') ?? config?.tokenReviewerJwt ?? '',
      pemKeys,
      keys,
      issuer: getString(data, 'issuer') ?? config?.issuer ?? '',
      disableIssValidation: getBool(data, 'disable_iss_validation') ?? config?.disableIssValidation ?? true,
      disableLocalCaJwt: getBool(data, 'disable_local_ca_jwt') ?? config?.disableLocalCaJwt ?? false,
    };
    return null;
  }

  async function writeRole(request: LogicalRequest, params: RouteParams): Promise<LogicalResponse | null> {
    const name = roleKey(params.name ?? '');
    const existing = roles.get(name);
    const data = request.data;
    const role: KubernetesRole = existing
      ? { ...existing }
      : {
          name,
          serviceAccountNames: [],
          serviceAccountNamespaces: [],
          audience: '',
          aliasNameSource: 'serviceaccount_uid',
          token: defaultTokenFields(),
        };
    const names = getCommaStringSlice(data, 'bound_service_account_names');
    if (names !== undefined) role.serviceAccountNames = names;
    const namespaces = getCommaStringSlice(data, 'bound_service_account_namespaces');
    if (namespaces !== undefined) role.serviceAccountNamespaces = namespaces;
    if (role.serviceAccountNames.length === 0)
      throw badRequest('"bound_service_account_names" can not be empty');
    if (role.serviceAccountNamespaces.length === 0)
      throw badRequest('"bound_service_account_namespaces" can not be empty');
    // `*` may bind every name and every namespace at once, but not be mixed with other values (Vault's
    // https://github.com/hashicorp/vault-plugin-auth-kubernetes/blob/main/path_role.go).
    for (const list of [role.serviceAccountNames, role.serviceAccountNamespaces])
      if (list.length > 1 && list.includes('*')) throw badRequest('can not mix "*" with values');
    const audience = getString(data, 'audience');
    if (audience !== undefined) role.audience = audience;
    const aliasNameSource = getString(data, 'alias_name_source');
    if (aliasNameSource !== undefined) {
      if (aliasNameSource !== 'serviceaccount_uid' && aliasNameSource !== 'serviceaccount_name')
        throw badRequest(`invalid alias_name_source "${aliasNameSource}"`);
      role.aliasNameSource = aliasNameSource;
    }
    role.token = parseTokenFields(data, role.token);
    roles.set(name, role);
    return null;
  }

  async function login(request: LogicalRequest): Promise<LogicalResponse> {
    const roleName = roleKey(getString(request.data, 'role') ?? '');
    if (!roleName) throw badRequest('missing role');
    const token = getString(request.data, 'jwt');
    if (!token) throw badRequest('missing jwt');
    const role = roles.get(roleName);
    if (!role) throw badRequest(`invalid role name "${roleName}"`);
    if (!config) throw badRequest('could not load backend configuration');
    if (config.keys.length === 0)
      throw badRequest(
        'the dev server verifies service-account tokens locally: set pem_keys in the kubernetes config (it does not call the TokenReview API)',
      );
    checkLoginCidrs(request.remoteAddress, role.token);

    // A token the configured keys do not verify is refused with 403, as the plugin's `parseAndValidateJWT` codes
    // the validator's error (https://github.com/hashicorp/vault-plugin-auth-kubernetes/blob/main/path_login.go).
    const payload = await verifyJwt(
      token,
      { kind: 'keys', keys: config.keys },
      {
        issuer: !config.disableIssValidation && config.issuer ? config.issuer : undefined,
        audiences: role.audience ? [role.audience] : [],
        clockToleranceSeconds: 0,
        now: context.now(),
      },
    ).catch((error: unknown) => {
      if (error instanceof LogicalError && error.errors.some((e) => e.includes(SIGNATURE_FAILED)))
        throw new LogicalError(403, `error verifying token signature: ${SIGNATURE_FAILED}`);
      throw error;
    });
    const account = serviceAccountFromClaims(payload);
    if (!account)
      throw badRequest('service account token is missing the service-account namespace or name claims');
    // Names and namespaces match as globs (`*` alone binds all), as the plugin's `StrListContainsGlob`.
    const allowed = (list: readonly string[], value: string): boolean =>
      list.some((pattern) => globMatches(pattern, value));
    if (!allowed(role.serviceAccountNames, account.name))
      throw new LogicalError(403, 'service account name not authorized');
    if (!allowed(role.serviceAccountNamespaces, account.namespace))
      throw new LogicalError(403, 'namespace not authorized');

    return {
      auth: buildAuth(role.token, {
        displayName: displayName(context.mountPath, `${account.namespace}-${account.name}`),
        metadata: {
          role: role.name,
          service_account_name: account.name,
          service_account_namespace: account.namespace,
          service_account_secret_name: account.secretName,
          service_account_uid: account.uid,
        },
        internal: { role: role.name },
      }),
    };
  }

  const router = new Router().add('login', { update: login }).add('config', {
    read: async () =>
      config
        ? {
            data: {
              kubernetes_host: config.host,
              kubernetes_ca_cert: config.caCert,
              pem_keys: [...config.pemKeys],
              issuer: config.issuer,
              disable_iss_validation: config.disableIssValidation,
              disable_local_ca_jwt: config.disableLocalCaJwt,
            },
          }
        : null,
    update: writeConfig,
  });
  roles.addRoutes(router, {
    read: (role) => ({
      bound_service_account_names: [...role.serviceAccountNames],
      bound_service_account_namespaces: [...role.serviceAccountNamespaces],
      audience: role.audience,
      alias_name_source: role.aliasNameSource,
      ...tokenFieldsData(role.token),
    }),
    write: writeRole,
  });

  return {
    type: 'kubernetes',
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
