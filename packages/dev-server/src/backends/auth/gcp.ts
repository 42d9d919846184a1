/**
 * GCP auth method (`gcp`), https://developer.hashicorp.com/vault/api-docs/auth/gcp; the login follows
 * https://github.com/hashicorp/vault-plugin-auth-gcp/blob/main/plugin/path_login.go.
 *
 * Real Vault fetches the signing keys from Google (OAuth2 certificates, service-account keys) and looks the
 * service account and the instance up through Google's APIs. The dev server has no Google: it verifies the JWT
 * against `pem_keys` set in `config` (a dev-server field: the PEM public keys of the signer the tests play), and
 * takes the service account, project and zone from the token's claims (`sub` / `email`, the
 * `google.compute_engine` claims of a `format=full` identity token).
 */
import type { KeyObject } from 'node:crypto';
import type { JWTPayload } from 'jose';
import {
  type Backend,
  type BackendContext,
  badRequest,
  getCommaStringSlice,
  getDuration,
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

interface GcpRole {
  name: string;
  type: 'iam' | 'gce';
  boundServiceAccounts: string[];
  boundProjects: string[];
  boundZones: string[];
  /** `iam`: seconds a service-account JWT may still be valid (default 900). */
  maxJwtExp: number;
  token: TokenFields;
}

/** Vault refuses JWTs valid for longer than this (plus a minute of tolerance); GCE identity tokens last an hour. */
const MAX_JWT_EXP_MINUTES = 60;
const EXP_TOLERANCE_S = 60;

interface GceClaims {
  projectId: string;
  zone: string;
  instanceId: string;
  instanceName: string;
}

function gceClaims(payload: JWTPayload): GceClaims | undefined {
  const google = payload.google;
  if (typeof google !== 'object' || google === null) return undefined;
  const compute = (google as Record<string, unknown>).compute_engine;
  if (typeof compute !== 'object' || compute === null) return undefined;
  const c = compute as Record<string, unknown>;
  const str = (v: unknown) => (typeof v === 'string' ? v : '');
  const claims = {
    projectId: str(c.project_id),
    zone: str(c.zone),
    instanceId: str(c.instance_id),
    instanceName: str(c.instance_name),
  };
  return claims.instanceId ? claims : undefined;
}

/** `name@project.iam.gserviceaccount.com` → `project` (the project a service account belongs to). */
function serviceAccountProject(email: string): string {
  return /@([^.]+)\.iam\.gserviceaccount\.com$/.exec(email)?.[1] ?? '';
}

/** Creates a GCP auth backend for one mount. */
export function createGcpBackend(context: BackendContext): Backend {
  let pemKeys: string[] = [];
  let keys: KeyObject[] = [];
  const roles = new Entries<GcpRole>('role');

  async function writeConfig(request: LogicalRequest): Promise<LogicalResponse | null> {
    const list = getCommaStringSlice(request.data, 'pem_keys');
    if (list !== undefined) {
      keys = list.map((pem, index) => parsePublicKeyPem(pem, 'pem_keys', index));
      pemKeys = list;
    }
    return null;
  }

  async function writeRole(request: LogicalRequest, params: RouteParams): Promise<LogicalResponse | null> {
    const name = Entries.key(params.name ?? '');
    const data = request.data;
    const existing = roles.get(name);
    const type = getString(data, 'type') ?? existing?.type;
    if (type === undefined || type === '') throw badRequest('role type must be provided');
    if (type !== 'iam' && type !== 'gce') throw badRequest(`role type "${type}" is invalid`);
    if (existing && existing.type !== type)
      throw badRequest('role type cannot be changed for an existing role');
    const role: GcpRole = existing
      ? { ...existing }
      : {
          name,
          type,
          boundServiceAccounts: [],
          boundProjects: [],
          boundZones: [],
          maxJwtExp: 900,
          token: defaultTokenFields(),
        };
    const accounts = getCommaStringSlice(data, 'bound_service_accounts');
    if (accounts !== undefined) role.boundServiceAccounts = accounts;
    const projects = getCommaStringSlice(data, 'bound_projects');
    if (projects !== undefined) role.boundProjects = projects;
    const zones = getCommaStringSlice(data, 'bound_zones');
    if (zones !== undefined) role.boundZones = zones;
    const maxJwtExp = getDuration(data, 'max_jwt_exp');
    if (maxJwtExp !== undefined) role.maxJwtExp = maxJwtExp;
    if (role.type === 'iam' && role.boundServiceAccounts.length === 0)
      throw badRequest('IAM role type must have at least one service account');
    role.token = parseTokenFields(data, role.token);
    roles.set(name, role);
    return null;
  }

  function authorizeServiceAccount(role: GcpRole, email: string, uniqueId: string): void {
    const project = serviceAccountProject(email);
    if (role.boundProjects.length > 0 && !role.boundProjects.includes(project))
      throw badRequest(`service account "${email}" not in bound projects [${role.boundProjects.join(' ')}]`);
    if (role.boundServiceAccounts.length === 1 && role.boundServiceAccounts[0] === '*') return;
    if (
      role.boundServiceAccounts.includes(email) ||
      (uniqueId && role.boundServiceAccounts.includes(uniqueId))
    )
      return;
    throw badRequest(`service account ${email} (id: ${uniqueId}) is not authorized for role`);
  }

  async function login(request: LogicalRequest): Promise<LogicalResponse> {
    const roleName = Entries.key(getString(request.data, 'role') ?? '');
    if (!roleName) throw badRequest('role is required');
    const role = roles.get(roleName);
    if (!role) throw badRequest(`role "${roleName}" not found`);
    const token = getString(request.data, 'jwt');
    if (!token) throw badRequest('jwt argument is required');
    if (keys.length === 0)
      throw badRequest(
        'the dev server verifies GCP JWTs locally: set pem_keys in the gcp config (it does not fetch Google certificates)',
      );
    const now = context.now();
    const payload = await verifyJwt(
      token,
      { kind: 'keys', keys },
      { clockToleranceSeconds: EXP_TOLERANCE_S, algorithms: ['RS256', 'ES256'], now },
    );
    const nowS = Math.floor(now / 1000);
    if (typeof payload.exp !== 'number' || payload.exp < nowS - EXP_TOLERANCE_S)
      throw badRequest("JWT is expired or does not have proper 'exp' claim");
    if (payload.exp - nowS > MAX_JWT_EXP_MINUTES * 60 + EXP_TOLERANCE_S)
      throw badRequest(
        `JWT must expire in ${MAX_JWT_EXP_MINUTES} minutes, expires in ${payload.exp - nowS}s`,
      );
    const subject = typeof payload.sub === 'string' ? payload.sub : '';
    if (!subject) throw badRequest("expected JWT to have 'sub' claim with service account id or email");
    const suffix = `vault/${roleName}`;
    const audiences = Array.isArray(payload.aud) ? payload.aud : payload.aud ? [payload.aud] : [];
    for (const aud of audiences)
      if (!aud.endsWith(suffix))
        throw badRequest(`at least one of the JWT claim 'aud' must end in "${suffix}"`);
    checkLoginCidrs(request.remoteAddress, role.token);

    const email = typeof payload.email === 'string' ? payload.email : subject;
    const gce = gceClaims(payload);
    const metadata: Record<string, string> = { role: role.name, service_account_email: email };
    if (role.type === 'gce') {
      if (!gce) throw badRequest('expected JWT to have claims with GCE metadata');
      if (role.boundProjects.length > 0 && !role.boundProjects.includes(gce.projectId))
        throw badRequest(
          `instance "${gce.instanceId}" (project "${gce.projectId}") not in bound projects [${role.boundProjects.join(' ')}]`,
        );
      if (role.boundZones.length > 0 && !role.boundZones.includes(gce.zone))
        throw badRequest(`instance zone ${gce.zone} is not in role zones [${role.boundZones.join(' ')}]`);
      if (
        role.boundServiceAccounts.length > 0 &&
        !(role.boundServiceAccounts.length === 1 && role.boundServiceAccounts[0] === '*') &&
        !role.boundServiceAccounts.includes(email) &&
        !role.boundServiceAccounts.includes(subject)
      )
        throw badRequest(`service account ${email} (id: ${subject}) is not authorized for role`);
      Object.assign(metadata, {
        project_id: gce.projectId,
        zone: gce.zone,
        instance_id: gce.instanceId,
        instance_name: gce.instanceName,
      });
    } else {
      if (gce) throw badRequest(`Got GCE token but IAM role "${roleName}" does not allow GCE inference`);
      if (payload.exp > nowS + role.maxJwtExp)
        throw badRequest(`role requires that service account JWTs expire within ${role.maxJwtExp} seconds`);
      authorizeServiceAccount(role, email, /^\d+$/.test(subject) ? subject : '');
      metadata.project_id = serviceAccountProject(email);
    }
    return {
      auth: buildAuth(role.token, {
        displayName: displayName(context.mountPath, email),
        metadata,
        internal: { role: role.name },
      }),
    };
  }

  const router = new Router().add('login', { update: login }).add('config', {
    read: async () => ({ data: { pem_keys: [...pemKeys] } }),
    update: writeConfig,
  });
  roles.addRoutes(router, {
    read: (role) => ({
      type: role.type,
      bound_service_accounts: [...role.boundServiceAccounts],
      bound_projects: [...role.boundProjects],
      bound_zones: [...role.boundZones],
      max_jwt_exp: role.maxJwtExp,
      ...tokenFieldsData(role.token),
    }),
    write: writeRole,
  });

  return {
    type: 'gcp',
    unauthenticatedPaths: ['login'],
    handle: (request) => router.dispatch(request),
    exists: async (request) => (request.path === 'config' ? true : roles.exists(request)),
    renewAuth: async (token: TokenView) => {
      const name = String(token.internal.role ?? '');
      const role = roles.get(name);
      if (!role) throw badRequest(`role "${name}" no longer exists`);
      return renewLimits(role.token);
    },
  };
}
