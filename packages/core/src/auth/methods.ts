/**
 * The built-in auth methods (`auth.*`). Each factory validates its options at once (a mistake throws
 * `VAULT_CONFIG` naming the option) and returns an {@link AuthMethod}. Credential files are re-read on every
 * login, so rotated secret ids and projected service-account tokens are picked up.
 */
import { z } from 'zod';
import { VaultError, VaultErrorCode } from '../errors.js';
import { Redacted, reveal } from '../redacted.js';
import type { VaultEnvelope } from '../transport/types.js';
import {
  authEnvelope,
  mountPath,
  parseOptions,
  parseResponse,
  seconds,
  secretString,
  strictBoolean,
} from '../validation.js';
import type { AuthMethod, LoginContext, LoginResult } from './types.js';

/** A secret given as a value: a string or a {@link Redacted} string. */
export type SecretInput = string | Redacted<string>;

/** Turns a login envelope into a {@link LoginResult}; `VAULT_INVALID_RESPONSE` naming the field when `auth` is malformed. */
export function loginResultFromEnvelope(
  envelope: VaultEnvelope | undefined,
  path: string,
  userProvided = false,
): LoginResult {
  const { auth } = parseResponse(authEnvelope, envelope, { method: 'POST', path });
  return {
    token: Redacted.of(auth.client_token),
    accessor: auth.accessor ?? '',
    ttl: auth.lease_duration,
    renewable: auth.renewable,
    policies: auth.policies ?? [],
    userProvided,
  };
}

/**
 * `auth/token/lookup-self` data (https://developer.hashicorp.com/vault/api-docs/auth/token#lookup-a-token-self):
 * `ttl` and `renewable` drive the schedule and are required; the rest is checked when present.
 */
const tokenLookup = z.object({
  data: z.object(
    {
      accessor: z.string({ error: 'must be a string' }).optional(),
      ttl: seconds,
      renewable: strictBoolean,
      policies: z.array(z.string(), { error: 'must be a list of strings' }).nullish(),
      creation_ttl: seconds.optional(),
      explicit_max_ttl: seconds.optional(),
      expire_time: z.string({ error: 'must be an RFC 3339 time or null' }).nullish(),
    },
    { error: 'must be an object' },
  ),
});

/** Sends a login request and maps a rejection (4xx) to `VAULT_LOGIN_FAILED`. */
export async function loginRequest(
  context: LoginContext,
  type: string,
  path: string,
  body: Record<string, unknown>,
): Promise<LoginResult> {
  try {
    const res = await context.request('POST', path, { body, retry: false, signal: context.signal });
    return loginResultFromEnvelope(res.body, path);
  } catch (error) {
    throw asLoginFailure(error, type, path);
  }
}

/**
 * Wraps a 4xx `VaultError` of a login into `VAULT_LOGIN_FAILED`; other errors (unreachable, sealed, an answer
 * that is not Vault's: `VAULT_INVALID_RESPONSE`) pass through.
 */
export function asLoginFailure(error: unknown, type: string, path: string): unknown {
  if (
    !VaultError.is(error) ||
    error.code === VaultErrorCode.INVALID_RESPONSE ||
    error.status === undefined ||
    error.status < 400 ||
    error.status >= 500 ||
    error.status === 429
  ) {
    return error;
  }
  const detail = error.errors.length > 0 ? error.errors.join('; ') : `HTTP ${error.status}`;
  return new VaultError(VaultErrorCode.LOGIN_FAILED, `${type} login at ${path} was rejected: ${detail}`, {
    status: error.status,
    errors: error.errors,
    method: error.method,
    path,
    cause: error,
    retryable: false,
  });
}

const tokenSchema = z
  .strictObject({
    token: secretString.optional(),
    tokenFile: z.string().min(1, 'must not be empty').optional(),
  })
  .refine((o) => (o.token === undefined) !== (o.tokenFile === undefined), {
    message: 'give exactly one of "token" or "tokenFile"',
  });

/** Options of {@link token}. */
export interface TokenAuthOptions {
  /** The token value. */
  token?: SecretInput;
  /** A file holding the token; re-read on every (re-)login, e.g. a Vault Agent sink file. */
  tokenFile?: string;
}

/**
 * Use an existing token (a value, or a file re-read on every login). The token's TTL and renewability are read
 * with `auth/token/lookup-self`. A token supplied by the user is never revoked by the library.
 */
export function token(options: TokenAuthOptions): AuthMethod {
  const o = parseOptions(tokenSchema, options, 'auth.token');
  const path = 'auth/token/lookup-self';
  return {
    type: 'token',
    mount: 'token',
    async login(context) {
      const value = o.tokenFile
        ? await context.readFile(o.tokenFile, 'auth.token.tokenFile')
        : Redacted.of(o.token as SecretInput);
      try {
        const res = await context.request<VaultEnvelope<Record<string, unknown>>>('GET', path, {
          token: value,
          retry: false,
          signal: context.signal,
        });
        const { data } = parseResponse(tokenLookup, res.body, { method: 'GET', path, status: res.status });
        return {
          token: value,
          accessor: data.accessor ?? '',
          ttl: data.ttl,
          renewable: data.renewable,
          policies: data.policies ?? [],
          userProvided: true,
          ...(data.creation_ttl ? { renewIncrement: data.creation_ttl } : {}),
        };
      } catch (error) {
        if (VaultError.is(error, VaultErrorCode.PERMISSION_DENIED)) {
          // The token is valid but may not look itself up: use it without lifetime information.
          return { token: value, accessor: '', ttl: 0, renewable: false, policies: [], userProvided: true };
        }
        throw asLoginFailure(error, 'token', path);
      }
    },
  };
}

const appRoleSchema = z
  .strictObject({
    roleId: secretString,
    secretId: secretString.optional(),
    secretIdFile: z.string().min(1, 'must not be empty').optional(),
    wrappedSecretId: secretString.optional(),
    mount: mountPath.default('approle'),
  })
  .refine((o) => [o.secretId, o.secretIdFile, o.wrappedSecretId].filter((v) => v !== undefined).length <= 1, {
    message: 'give at most one of "secretId", "secretIdFile" or "wrappedSecretId"',
  });

/** Options of {@link AuthMethods.appRole | auth.appRole()}. */
export interface AppRoleOptions {
  roleId: SecretInput;
  /** The secret id value. */
  secretId?: SecretInput;
  /** A file holding the secret id, re-read on every login (rotate it by rewriting the file). */
  secretIdFile?: string;
  /**
   * A response-wrapping token whose wrapped response holds `secret_id` (from `secret-id` with `X-Vault-Wrap-TTL`).
   * Unwrapped once through `sys/wrapping/unwrap`; the secret id is then kept in memory for re-logins.
   */
  wrappedSecretId?: SecretInput;
  /** Mount path (default `approle`). */
  mount?: string;
}

/** AppRole login (`POST auth/<mount>/login { role_id, secret_id }`). Omit the secret id for `bind_secret_id=false` roles. */
export function appRole(options: AppRoleOptions): AuthMethod {
  const o = parseOptions(appRoleSchema, options, 'auth.appRole');
  const path = `auth/${o.mount}/login`;
  let unwrapped: Redacted<string> | undefined;
  let unwrapping: Promise<Redacted<string>> | undefined;

  const unwrap = async (context: LoginContext): Promise<Redacted<string>> => {
    try {
      const res = await context.request<VaultEnvelope<{ secret_id?: string }>>(
        'POST',
        'sys/wrapping/unwrap',
        {
          token: Redacted.of(o.wrappedSecretId as SecretInput),
          retry: false,
          signal: context.signal,
        },
      );
      const secretId = res.body?.data?.secret_id;
      if (typeof secretId !== 'string' || secretId === '') {
        throw new VaultError(
          VaultErrorCode.INVALID_RESPONSE,
          'The wrapped response of "auth.appRole.wrappedSecretId" holds no secret_id: wrap the output of auth/<mount>/role/<role>/secret-id',
          { method: 'POST', path: 'sys/wrapping/unwrap' },
        );
      }
      return Redacted.of(secretId);
    } catch (error) {
      throw asLoginFailure(error, 'approle (unwrap secret id)', 'sys/wrapping/unwrap');
    }
  };

  return {
    type: 'approle',
    mount: o.mount,
    async login(context) {
      let secretId: Redacted<string> | undefined;
      if (o.secretIdFile) secretId = await context.readFile(o.secretIdFile, 'auth.appRole.secretIdFile');
      else if (o.secretId !== undefined) secretId = Redacted.of(o.secretId);
      else if (o.wrappedSecretId !== undefined) {
        if (!unwrapped) {
          unwrapping ??= unwrap(context).finally(() => {
            unwrapping = undefined;
          });
          unwrapped = await unwrapping;
        }
        secretId = unwrapped;
      }
      const body: Record<string, unknown> = { role_id: reveal(o.roleId) };
      if (secretId) body.secret_id = secretId.reveal();
      return loginRequest(context, 'approle', path, body);
    },
  };
}

/** Default service-account token path inside a Kubernetes pod. */
export const KUBERNETES_TOKEN_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/token';

const kubernetesSchema = z.strictObject({
  role: z.string().min(1, 'must name the Vault role'),
  tokenFile: z.string().min(1, 'must not be empty').default(KUBERNETES_TOKEN_FILE),
  mount: mountPath.default('kubernetes'),
});

/** Options of {@link AuthMethods.kubernetes | auth.kubernetes()}. */
export interface KubernetesOptions {
  /** Vault role bound to the service account. */
  role: string;
  /** Service-account token file, re-read on every login (projected tokens rotate). Default: the pod's token. */
  tokenFile?: string;
  /** Mount path (default `kubernetes`). */
  mount?: string;
}

/** Kubernetes login (`POST auth/<mount>/login { role, jwt }`). */
export function kubernetes(options: KubernetesOptions): AuthMethod {
  const o = parseOptions(kubernetesSchema, options, 'auth.kubernetes');
  const path = `auth/${o.mount}/login`;
  return {
    type: 'kubernetes',
    mount: o.mount,
    async login(context) {
      const jwt = await context.readFile(o.tokenFile, 'auth.kubernetes.tokenFile');
      return loginRequest(context, 'kubernetes', path, { role: o.role, jwt: jwt.reveal() });
    },
  };
}

const jwtSchema = z
  .strictObject({
    role: z.string().min(1, 'must not be empty').optional(),
    jwt: secretString.optional(),
    jwtFile: z.string().min(1, 'must not be empty').optional(),
    mount: mountPath.default('jwt'),
  })
  .refine((o) => (o.jwt === undefined) !== (o.jwtFile === undefined), {
    message: 'give exactly one of "jwt" or "jwtFile"',
  });

/** Options of {@link jwt}. */
export interface JwtOptions {
  /** Vault role (default: the mount's `default_role`). */
  role?: string;
  /** The JWT value. */
  jwt?: SecretInput;
  /** A file holding the JWT, re-read on every login. */
  jwtFile?: string;
  /** Mount path (default `jwt`). */
  mount?: string;
}

/** JWT login (`POST auth/<mount>/login { role, jwt }`). */
export function jwt(options: JwtOptions): AuthMethod {
  const o = parseOptions(jwtSchema, options, 'auth.jwt');
  const path = `auth/${o.mount}/login`;
  return {
    type: 'jwt',
    mount: o.mount,
    async login(context) {
      const value = o.jwtFile
        ? await context.readFile(o.jwtFile, 'auth.jwt.jwtFile')
        : Redacted.of(o.jwt as SecretInput);
      const body: Record<string, unknown> = { jwt: value.reveal() };
      if (o.role) body.role = o.role;
      return loginRequest(context, 'jwt', path, body);
    },
  };
}

const userpassSchema = z.strictObject({
  username: z.string().min(1, 'must not be empty'),
  password: secretString,
  mount: mountPath.default('userpass'),
});

/** Options of {@link AuthMethods.userpass | auth.userpass()}. */
export interface UserpassOptions {
  username: string;
  password: SecretInput;
  /** Mount path (default `userpass`). */
  mount?: string;
}

/** Userpass login (`POST auth/<mount>/login/<username> { password }`). */
export function userpass(options: UserpassOptions): AuthMethod {
  const o = parseOptions(userpassSchema, options, 'auth.userpass');
  const path = `auth/${o.mount}/login/${encodeURIComponent(o.username)}`;
  return {
    type: 'userpass',
    mount: o.mount,
    login: (context) => loginRequest(context, 'userpass', path, { password: reveal(o.password) }),
  };
}

const certSchema = z.strictObject({
  name: z.string().min(1, 'must not be empty').optional(),
  mount: mountPath.default('cert'),
});

/** Options of {@link AuthMethods.cert | auth.cert()}. */
export interface CertOptions {
  /** Certificate role to log in against (default: any matching role). */
  name?: string;
  /** Mount path (default `cert`). */
  mount?: string;
}

/**
 * TLS client-certificate login (`POST auth/<mount>/login`): the client certificate configured in `tls`
 * (`cert`/`key`, `certFile`/`keyFile` or `VAULT_CLIENT_CERT`/`VAULT_CLIENT_KEY`) is the credential.
 */
export function cert(options: CertOptions = {}): AuthMethod {
  const o = parseOptions(certSchema, options, 'auth.cert');
  const path = `auth/${o.mount}/login`;
  return {
    type: 'cert',
    mount: o.mount,
    requiresClientCertificate: true,
    login: (context) => loginRequest(context, 'cert', path, o.name ? { name: o.name } : {}),
  };
}

/**
 * Vault Agent / Vault Proxy mode: no login. Point `address` at the agent (or set `VAULT_AGENT_ADDR`, possibly a
 * `unix://` socket) with `use_auto_auth_token` enabled; the agent holds and renews the token.
 */
export function agent(): AuthMethod {
  return {
    type: 'agent',
    mount: '',
    agent: true,
    async login() {
      throw new VaultError(
        VaultErrorCode.CONFIG,
        'auth.agent() never logs in: the agent injects its own token',
      );
    },
  };
}
