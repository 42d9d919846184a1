/**
 * Azure auth method (`azure`), https://developer.hashicorp.com/vault/api-docs/auth/azure; the login follows
 * https://github.com/hashicorp/vault-plugin-auth-azure/blob/main/path_login.go.
 *
 * Real Vault verifies the managed identity's access token against the tenant's OIDC keys and asks Azure's compute
 * API whether the named VM (or scale set) carries that identity. The dev server has no Azure: it verifies the
 * token against `pem_keys` set in `config` (a dev-server field), checks issuer
 * (`https://sts.windows.net/<tenant_id>/`) and audience (`resource`), and binds the token's `oid` / `groups` and
 * the subscription, resource group and scale set the login names; it cannot check the VM's identity or location.
 */
import type { KeyObject } from 'node:crypto';
import {
  type Backend,
  type BackendContext,
  badRequest,
  getCommaStringSlice,
  getString,
  type LogicalRequest,
  type LogicalResponse,
  type RouteParams,
  Router,
  type TokenView,
} from '../../sdk/index.js';
import { Entries } from './entries.js';
import { parsePublicKeyPem, verifyJwt } from './jwt-verify.js';
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

interface AzureConfig {
  tenantId: string;
  resource: string;
  pemKeys: string[];
  keys: KeyObject[];
}

interface AzureRole {
  name: string;
  servicePrincipalIds: string[];
  groupIds: string[];
  subscriptionIds: string[];
  resourceGroups: string[];
  scaleSets: string[];
  token: TokenFields;
}

const has = (list: readonly string[], value: string): boolean => list.includes('*') || list.includes(value);

/** Creates an Azure auth backend for one mount. */
export function createAzureBackend(context: BackendContext): Backend {
  let config: AzureConfig | undefined;
  const roles = new Entries<AzureRole>('role');

  async function writeConfig(request: LogicalRequest): Promise<LogicalResponse | null> {
    const data = request.data;
    const tenantId = getString(data, 'tenant_id') ?? config?.tenantId ?? '';
    if (!tenantId) throw badRequest('tenant_id is required');
    const resource = getString(data, 'resource') ?? config?.resource ?? '';
    if (!resource) throw badRequest('resource is required');
    const pemKeys = getCommaStringSlice(data, 'pem_keys') ?? config?.pemKeys ?? [];
    config = {
      tenantId,
      resource,
      pemKeys,
      keys: pemKeys.map((pem, index) => parsePublicKeyPem(pem, 'pem_keys', index)),
    };
    return null;
  }

  async function writeRole(request: LogicalRequest, params: RouteParams): Promise<LogicalResponse | null> {
    const name = Entries.key(params.name ?? '');
    const data = request.data;
    const existing = roles.get(name);
    const role: AzureRole = existing
      ? { ...existing }
      : {
          name,
          servicePrincipalIds: [],
          groupIds: [],
          subscriptionIds: [],
          resourceGroups: [],
          scaleSets: [],
          token: defaultTokenFields(),
        };
    const lists: [keyof AzureRole, string][] = [
      ['servicePrincipalIds', 'bound_service_principal_ids'],
      ['groupIds', 'bound_group_ids'],
      ['subscriptionIds', 'bound_subscription_ids'],
      ['resourceGroups', 'bound_resource_groups'],
      ['scaleSets', 'bound_scale_sets'],
    ];
    for (const [key, field] of lists) {
      const value = getCommaStringSlice(data, field);
      if (value !== undefined) (role[key] as string[]) = value;
    }
    if (lists.every(([key]) => (role[key] as string[]).length === 0))
      throw badRequest('must have at least one bound constraint when creating/updating a role');
    role.token = parseTokenFields(data, role.token);
    roles.set(name, role);
    return null;
  }

  async function login(request: LogicalRequest): Promise<LogicalResponse> {
    const data = request.data;
    const roleName = Entries.key(getString(data, 'role') ?? '');
    if (!roleName) throw badRequest('role is required');
    const token = getString(data, 'jwt');
    if (!token) throw badRequest('jwt is required');
    const subscription = getString(data, 'subscription_id') ?? '';
    const resourceGroup = getString(data, 'resource_group_name') ?? '';
    const vmName = getString(data, 'vm_name') ?? '';
    const vmssName = getString(data, 'vmss_name') ?? '';
    const role = roles.get(roleName);
    if (!role) throw badRequest(`invalid role name "${roleName}"`);
    if (!config) throw badRequest('unable to retrieve backend configuration');
    if (config.keys.length === 0)
      throw badRequest(
        'the dev server verifies Azure tokens locally: set pem_keys in the azure config (it does not fetch the tenant keys)',
      );
    checkLoginCidrs(request.remoteAddress, role.token);
    const claims = await verifyJwt(
      token,
      { kind: 'keys', keys: config.keys },
      {
        issuer: `https://sts.windows.net/${config.tenantId}/`,
        audiences: [config.resource],
        clockToleranceSeconds: 0,
        now: context.now(),
      },
    );
    const oid = typeof claims.oid === 'string' ? claims.oid : '';
    if (!oid) throw badRequest('token object id is empty');
    const groups = Array.isArray(claims.groups) ? claims.groups.filter((g) => typeof g === 'string') : [];
    if (role.servicePrincipalIds.length > 0 && !has(role.servicePrincipalIds, oid))
      throw badRequest('service principal not authorized');
    if (role.groupIds.length > 0 && !groups.some((g) => has(role.groupIds, g)))
      throw badRequest('groups not authorized');
    if (role.subscriptionIds.length > 0 && !has(role.subscriptionIds, subscription))
      throw badRequest('subscription not authorized');
    if (role.resourceGroups.length > 0 && !has(role.resourceGroups, resourceGroup))
      throw badRequest('resource group not authorized');
    if (role.scaleSets.length > 0 && !has(role.scaleSets, vmssName))
      throw badRequest('scale set not authorized');
    return {
      auth: buildAuth(role.token, {
        displayName: displayName(context.mountPath, oid),
        metadata: {
          role: role.name,
          subscription_id: subscription,
          resource_group_name: resourceGroup,
          vm_name: vmName,
          vmss_name: vmssName,
        },
        internal: { role: role.name },
      }),
    };
  }

  const router = new Router().add('login', { update: login }).add('config', {
    read: async () =>
      config
        ? { data: { tenant_id: config.tenantId, resource: config.resource, pem_keys: [...config.pemKeys] } }
        : null,
    update: writeConfig,
    delete: async () => {
      config = undefined;
      return null;
    },
  });
  roles.addRoutes(router, {
    read: (role) => ({
      bound_service_principal_ids: [...role.servicePrincipalIds],
      bound_group_ids: [...role.groupIds],
      bound_subscription_ids: [...role.subscriptionIds],
      bound_resource_groups: [...role.resourceGroups],
      bound_scale_sets: [...role.scaleSets],
      ...tokenFieldsData(role.token),
    }),
    write: writeRole,
  });

  return {
    type: 'azure',
    unauthenticatedPaths: ['login'],
    handle: (request) => router.dispatch(request),
    exists: async (request) => (request.path === 'config' ? config !== undefined : roles.exists(request)),
    renewAuth: async (token: TokenView) => {
      const name = String(token.internal.role ?? '');
      const role = roles.get(name);
      if (!role) throw badRequest(`role "${name}" does not exist during renewal`);
      return renewLimits(role.token);
    },
  };
}
