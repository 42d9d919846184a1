/**
 * AWS auth method (`aws`), IAM login only: https://developer.hashicorp.com/vault/api-docs/auth/aws and
 * https://github.com/hashicorp/vault/blob/main/builtin/credential/aws/path_login.go (`pathLoginUpdateIam`).
 *
 * As Vault does, the dev server forwards the client's signed `sts:GetCallerIdentity` request to the STS endpoint
 * of `config/client` (`sts_endpoint`, default `https://sts.amazonaws.com`), keeping the signed `Host`, reads the
 * caller's ARN from STS's answer and binds it to the role's `bound_iam_principal_arn` (exact canonical ARN, or a
 * glob ending in `*`). The EC2 login (`pkcs7` / `identity`) and the IAM API look-ups are not implemented: the dev
 * server compares ARNs as given (`resolve_aws_unique_ids` is stored but unique ids are not resolved) and uses the
 * canonical ARN (no path) as the "full" ARN that wildcards match.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import {
  type Backend,
  type BackendContext,
  badRequest,
  getBool,
  getCommaStringSlice,
  getString,
  type LogicalRequest,
  type LogicalResponse,
  type RouteParams,
  Router,
  type TokenView,
} from '../../sdk/index.js';
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

const SERVER_ID_HEADER = 'X-Vault-AWS-IAM-Server-ID';
const DEFAULT_STS = 'https://sts.amazonaws.com';
/** Bound on STS's answer (a GetCallerIdentity response is well under 1 KiB). */
const MAX_STS_BODY = 64 * 1024;
const STS_TIMEOUT_MS = 10_000;

interface ClientConfig {
  stsEndpoint: string;
  stsRegion: string;
  serverIdHeaderValue: string;
  accessKey: string;
  /** Stored like Vault, never returned on read. */
  secretKey: string;
}

interface AwsRole {
  name: string;
  authType: string;
  boundIamPrincipalArns: string[];
  resolveAwsUniqueIds: boolean;
  token: TokenFields;
}

/** An IAM entity parsed from an ARN, as Vault's `parseIamArn`. */
interface IamEntity {
  partition: string;
  account: string;
  type: string;
  friendlyName: string;
  sessionInfo: string;
}

/** Parses `arn:aws:iam::<account>:<type>/<path>/<name>` or `arn:aws:sts::<account>:assumed-role/<role>/<session>`. */
export function parseIamArn(arn: string): IamEntity {
  const full = arn.split(':');
  if (full.length !== 6)
    throw new Error(`unrecognized arn: contains ${full.length} colon-separated parts, expected 6`);
  if (full[0] !== 'arn') throw new Error('unrecognized arn: does not begin with "arn:"');
  if (full[2] !== 'iam' && full[2] !== 'sts')
    throw new Error(`unrecognized service: ${full[2]}, not one of iam or sts`);
  const parts = (full[5] ?? '').split('/');
  if (parts.length < 2)
    throw new Error(`unrecognized arn: "${full[5]}" contains fewer than 2 slash-separated parts`);
  const type = parts[0] ?? '';
  const entity = {
    partition: full[1] ?? '',
    account: full[4] ?? '',
    type,
    friendlyName: parts[parts.length - 1] ?? '',
    sessionInfo: '',
  };
  if (type === 'assumed-role') {
    entity.friendlyName = parts[1] ?? '';
    entity.sessionInfo = parts[2] ?? '';
  } else if (type !== 'user' && type !== 'role' && type !== 'instance-profile') {
    throw new Error(`unrecognized principal type: "${type}"`);
  }
  return entity;
}

/** Vault's canonical ARN: `assumed-role` becomes `role`, the path is dropped. */
export function canonicalArn(entity: IamEntity): string {
  const type = entity.type === 'assumed-role' ? 'role' : entity.type;
  return `arn:${entity.partition}:iam::${entity.account}:${type}/${entity.friendlyName}`;
}

/** Vault's `GlobbedStringsMatch` for a bind ending in `*`: `*` matches any run of characters. */
function globMatch(pattern: string, value: string): boolean {
  const source = pattern
    .split('*')
    .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${source}$`, 's').test(value);
}

/** `iam_request_headers`: base64 JSON, JSON, or an object; values a string or a list of strings (Vault's TypeHeader). */
function parseHeaders(raw: unknown): Map<string, string[]> | undefined {
  let value = raw;
  if (typeof value === 'string') {
    if (value === '') return undefined;
    let text = value;
    if (!value.trimStart().startsWith('{')) text = Buffer.from(value, 'base64').toString('utf8');
    try {
      value = JSON.parse(text);
    } catch {
      throw badRequest('error parsing iam_request_headers');
    }
  }
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value))
    throw badRequest('error parsing iam_request_headers');
  const headers = new Map<string, string[]>();
  for (const [name, v] of Object.entries(value as Record<string, unknown>)) {
    const list = Array.isArray(v) ? v : [v];
    if (!list.every((item) => typeof item === 'string'))
      throw badRequest('error parsing iam_request_headers');
    headers.set(name, list as string[]);
  }
  return headers;
}

function headerValue(headers: Map<string, string[]>, name: string): string | undefined {
  for (const [key, values] of headers) if (key.toLowerCase() === name.toLowerCase()) return values.join(',');
  return undefined;
}

/** Vault's `validateVaultHeaderValue`: the server-ID header is present, equal, and covered by the signature. */
function checkServerIdHeader(headers: Map<string, string[]>, required: string): string | undefined {
  const provided = headerValue(headers, SERVER_ID_HEADER) ?? '';
  if (provided === '') return `missing header "${SERVER_ID_HEADER}"`;
  if (provided !== required) return `expected "${required}" but got "${provided}"`;
  const authorization = headerValue(headers, 'Authorization');
  if (authorization === undefined) return 'missing Authorization header';
  const signed = /.*SignedHeaders=([^,]+)/.exec(authorization)?.[1];
  if (signed === undefined) return "vault header wasn't signed";
  return signed.split(';').includes(SERVER_ID_HEADER.toLowerCase())
    ? undefined
    : "vault header wasn't signed";
}

/** The caller STS names, read from `GetCallerIdentityResponse` XML. */
interface CallerIdentity {
  arn: string;
  userId: string;
  account: string;
}

function xmlField(xml: string, name: string): string {
  return new RegExp(`<${name}>([^<]*)</${name}>`).exec(xml)?.[1]?.trim() ?? '';
}

/** Sends the signed request to `endpoint` with the client's path, headers and signed Host (Vault's `buildHttpRequest`). */
function submitCallerIdentity(
  endpoint: string,
  requestUrl: URL,
  body: string,
  headers: Map<string, string[]>,
): Promise<CallerIdentity> {
  return new Promise((resolve, reject) => {
    let target: URL;
    try {
      target = new URL(`${endpoint.replace(/\/+$/, '')}${requestUrl.pathname}${requestUrl.search}`);
    } catch {
      reject(new Error(`invalid sts_endpoint "${endpoint}"`));
      return;
    }
    const outgoing: Record<string, string[] | string> = {};
    for (const [name, values] of headers) if (name.toLowerCase() !== 'host') outgoing[name] = values;
    outgoing.Host = requestUrl.host;
    outgoing['Content-Length'] = String(Buffer.byteLength(body));
    const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send(target, { method: 'POST', headers: outgoing, timeout: STS_TIMEOUT_MS }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_STS_BODY) req.destroy(new Error('STS answer too large'));
        else chunks.push(chunk);
      });
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode !== 200) {
          reject(new Error(`received error code ${res.statusCode} from STS: ${text}`));
          return;
        }
        const identity = {
          arn: xmlField(text, 'Arn'),
          userId: xmlField(text, 'UserId'),
          account: xmlField(text, 'Account'),
        };
        if (!text.includes('<GetCallerIdentityResponse') || identity.arn === '')
          reject(new Error('error parsing STS response'));
        else resolve(identity);
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from STS within ${STS_TIMEOUT_MS} ms`)));
    req.on('error', (error) => reject(new Error(`error making request: ${error.message}`)));
    req.end(body);
  });
}

/** Creates an AWS auth backend for one mount. */
export function createAwsBackend(context: BackendContext): Backend {
  let config: ClientConfig | undefined;
  const roles = new Entries<AwsRole>('role');

  async function writeConfig(request: LogicalRequest): Promise<LogicalResponse | null> {
    const data = request.data;
    const endpoint = getString(data, 'sts_endpoint') ?? config?.stsEndpoint ?? '';
    if (endpoint !== '' && !URL.canParse(endpoint)) throw badRequest(`invalid sts_endpoint "${endpoint}"`);
    config = {
      stsEndpoint: endpoint,
      stsRegion: getString(data, 'sts_region') ?? config?.stsRegion ?? '',
      serverIdHeaderValue: getString(data, 'iam_server_id_header_value') ?? config?.serverIdHeaderValue ?? '',
      accessKey: getString(data, 'access_key') ?? config?.accessKey ?? '',
      secretKey: getString(data, 'secret_key') ?? config?.secretKey ?? '',
    };
    return null;
  }

  async function writeRole(request: LogicalRequest, params: RouteParams): Promise<LogicalResponse | null> {
    const name = Entries.key(params.name ?? '');
    const data = request.data;
    const existing = roles.get(name);
    const role: AwsRole = existing
      ? { ...existing }
      : {
          name,
          authType: 'iam',
          boundIamPrincipalArns: [],
          resolveAwsUniqueIds: true,
          token: defaultTokenFields(),
        };
    const authType = getString(data, 'auth_type');
    if (authType !== undefined) {
      if (authType === 'ec2') throw badRequest('the dev server implements the iam auth_type only');
      if (authType !== 'iam') throw badRequest(`unrecognized auth_type: "${authType}"`);
      role.authType = authType;
    }
    const arns = getCommaStringSlice(data, 'bound_iam_principal_arn');
    if (arns !== undefined) {
      for (const arn of arns) {
        if (arn.endsWith('*')) continue;
        try {
          parseIamArn(arn);
        } catch (error) {
          throw badRequest(`unable to parse ARN "${arn}": ${(error as Error).message}`);
        }
      }
      role.boundIamPrincipalArns = arns;
    }
    const resolve = getBool(data, 'resolve_aws_unique_ids');
    if (resolve !== undefined) {
      if (existing && existing.resolveAwsUniqueIds === false && resolve)
        throw badRequest('changing resolve_aws_unique_ids from false to true is not allowed');
      role.resolveAwsUniqueIds = resolve;
    }
    if (role.boundIamPrincipalArns.length === 0)
      throw badRequest('at least one bound parameter should be specified on the role');
    role.token = parseTokenFields(data, role.token);
    roles.set(name, role);
    return null;
  }

  async function login(request: LogicalRequest): Promise<LogicalResponse> {
    const data = request.data;
    const method = getString(data, 'iam_http_request_method') ?? '';
    if (method === '') {
      if (data.pkcs7 !== undefined || data.identity !== undefined)
        throw badRequest('the dev server implements the iam auth_type only');
      throw badRequest('missing iam_http_request_method');
    }
    if (method !== 'POST')
      throw badRequest("invalid iam_http_request_method; currently only 'POST' is supported");
    const rawUrl = getString(data, 'iam_request_url') ?? '';
    if (rawUrl === '') throw badRequest('missing iam_request_url');
    let requestUrl: URL;
    try {
      requestUrl = new URL(Buffer.from(rawUrl, 'base64').toString('utf8'));
    } catch {
      throw badRequest('error parsing iam_request_url');
    }
    const rawBody = getString(data, 'iam_request_body') ?? '';
    if (rawBody === '') throw badRequest('missing iam_request_body');
    const body = Buffer.from(rawBody, 'base64').toString('utf8');
    const headers = parseHeaders(data.iam_request_headers);
    if (!headers || headers.size === 0) throw badRequest('missing iam_request_headers');

    if (config?.serverIdHeaderValue) {
      const problem = checkServerIdHeader(headers, config.serverIdHeaderValue);
      if (problem) throw badRequest(`error validating ${SERVER_ID_HEADER} header: ${problem}`);
    }
    const endpoint = config?.stsEndpoint || DEFAULT_STS;
    let caller: CallerIdentity;
    try {
      caller = await submitCallerIdentity(endpoint, requestUrl, body, headers);
    } catch (error) {
      throw badRequest(`error making upstream request: ${(error as Error).message}`);
    }
    let entity: IamEntity;
    try {
      entity = parseIamArn(caller.arn);
    } catch (error) {
      throw badRequest(`error parsing arn "${caller.arn}": ${(error as Error).message}`);
    }
    const roleName = Entries.key(getString(data, 'role') || entity.friendlyName);
    const role = roles.get(roleName);
    if (!role) throw badRequest(`entry for role ${roleName} not found`);
    if (role.authType !== 'iam') throw badRequest(`auth method iam not allowed for role ${roleName}`);
    checkLoginCidrs(request.remoteAddress, role.token);

    const canonical = canonicalArn(entity);
    const uniqueId = caller.userId.split(':')[0] ?? '';
    const bound =
      role.boundIamPrincipalArns.includes(canonical) ||
      role.boundIamPrincipalArns.some((arn) => arn.endsWith('*') && globMatch(arn, canonical));
    if (!bound) throw badRequest(`IAM Principal "${caller.arn}" does not belong to the role "${roleName}"`);

    return {
      auth: buildAuth(role.token, {
        displayName: displayName(context.mountPath, entity.friendlyName),
        metadata: {
          client_arn: caller.arn,
          canonical_arn: canonical,
          client_user_id: uniqueId,
          auth_type: 'iam',
          inferred_entity_type: '',
          inferred_entity_id: '',
          inferred_aws_region: '',
          account_id: entity.account,
          role_id: role.name,
        },
        internal: { role: role.name, canonicalArn: canonical },
      }),
    };
  }

  const router = new Router().add('login', { update: login }).add('config/client', {
    read: async () =>
      config
        ? {
            data: {
              sts_endpoint: config.stsEndpoint,
              sts_region: config.stsRegion,
              iam_server_id_header_value: config.serverIdHeaderValue,
              access_key: config.accessKey,
            },
          }
        : null,
    update: writeConfig,
    delete: async () => {
      config = undefined;
      return null;
    },
  });
  roles.addRoutes(router, {
    read: (role) => ({
      auth_type: role.authType,
      bound_iam_principal_arn: [...role.boundIamPrincipalArns],
      resolve_aws_unique_ids: role.resolveAwsUniqueIds,
      ...tokenFieldsData(role.token),
    }),
    write: writeRole,
  });

  return {
    type: 'aws',
    unauthenticatedPaths: ['login'],
    handle: (request) => router.dispatch(request),
    exists: async (request) =>
      request.path === 'config/client' ? config !== undefined : roles.exists(request),
    renewAuth: async (token: TokenView) => {
      const name = String(token.internal.role ?? '');
      const role = roles.get(name);
      if (!role) throw badRequest(`role ${name} does not exist during renewal`);
      const arn = String(token.internal.canonicalArn ?? '');
      const stillBound =
        role.boundIamPrincipalArns.includes(arn) ||
        role.boundIamPrincipalArns.some((b) => b.endsWith('*') && globMatch(b, arn));
      if (!stillBound) throw badRequest(`role no longer bound to ARN "${arn}"`);
      return renewLimits(role.token);
    },
  };
}
