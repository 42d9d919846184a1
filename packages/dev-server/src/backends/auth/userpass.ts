/**
 * Userpass auth method (`userpass`, https://developer.hashicorp.com/vault/api-docs/auth/userpass): users with a
 * password (stored as an scrypt hash, never in clear) and token fields; `login/:username {password}`.
 */
import { randomBytes, type ScryptOptions, scrypt, timingSafeEqual } from 'node:crypto';
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
import {
  buildAuth,
  checkLoginCidrs,
  defaultTokenFields,
  displayName,
  normalizePolicies,
  parseTokenFields,
  renewLimits,
  type TokenFields,
  tokenFieldsData,
} from './tokenutil.js';

/** The login error for an unknown user or a wrong password (the same text for both, as Vault). */
export const INVALID_USER_OR_PASSWORD = 'invalid username or password';

interface User {
  name: string;
  /** `scrypt$N$r$p$<salt b64>$<hash b64>` */
  passwordHash: string;
  token: TokenFields;
}

const SCRYPT = { N: 16384, r: 8, p: 1 } as const;
const KEY_LENGTH = 32;

function scryptAsync(password: string, salt: Buffer, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password, salt, KEY_LENGTH, options, (error, key) => (error ? reject(error) : resolve(key)));
  });
}

/** Hashes a password with scrypt and a random salt. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scryptAsync(password, salt, SCRYPT);
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

/** Checks a password against a {@link hashPassword} hash in constant time. */
export async function verifyPassword(password: string, encoded: string): Promise<boolean> {
  const [scheme, n, r, p, salt, hash] = encoded.split('$');
  if (scheme !== 'scrypt' || !n || !r || !p || salt === undefined || hash === undefined) return false;
  const expected = Buffer.from(hash, 'base64');
  const actual = await scryptAsync(password, Buffer.from(salt, 'base64'), {
    N: Number(n),
    r: Number(r),
    p: Number(p),
  });
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/** Creates a userpass backend for one mount. */
export function createUserpassBackend(context: BackendContext): Backend {
  const users = new Entries<User>('users');
  /** Compared against when the user does not exist, so unknown users cost the same time as wrong passwords. */
  let dummyHash: Promise<string> | undefined;
  const getDummyHash = (): Promise<string> => {
    dummyHash ??= hashPassword(randomBytes(16).toString('hex'));
    return dummyHash;
  };
  const userKey = Entries.key;

  /** The `password` field; `""` counts as missing, as Vault's `updateUserPassword` refuses it. */
  const readPassword = (data: Record<string, unknown>): string | undefined => {
    const password = getString(data, 'password');
    if (password === '') throw badRequest('missing password');
    return password;
  };

  async function writeUser(request: LogicalRequest, params: RouteParams): Promise<LogicalResponse | null> {
    const name = userKey(params.name ?? '');
    const existing = users.get(name);
    const password = readPassword(request.data);
    if (!existing && password === undefined) throw badRequest('missing password');
    const token = parseTokenFields(request.data, existing?.token ?? defaultTokenFields(), {
      policies: true,
      ttl: true,
      boundCidrs: true,
    });
    const passwordHash =
      password !== undefined ? await hashPassword(password) : (existing?.passwordHash ?? '');
    users.set(name, { name, passwordHash, token });
    return null;
  }

  async function login(request: LogicalRequest, params: RouteParams): Promise<LogicalResponse> {
    const name = userKey(params.name ?? '');
    const password = readPassword(request.data);
    if (password === undefined) throw badRequest('missing password');
    const user = users.get(name);
    const ok = await verifyPassword(password, user?.passwordHash ?? (await getDummyHash()));
    if (!user || !ok) throw badRequest(INVALID_USER_OR_PASSWORD);
    checkLoginCidrs(request.remoteAddress, user.token);
    return {
      auth: buildAuth(user.token, {
        displayName: displayName(context.mountPath, user.name),
        metadata: { username: user.name },
        internal: { username: user.name },
      }),
    };
  }

  const requireUser = (name: string): User => {
    const user = users.get(userKey(name));
    if (!user) throw badRequest('username does not exist');
    return user;
  };

  const router = new Router().add('login/:name', { update: login });
  users.addRoutes(router, { read: (user) => tokenFieldsData(user.token), write: writeUser });
  router
    .add('users/:name/password', {
      update: async (request, params) => {
        const user = requireUser(params.name ?? '');
        const password = readPassword(request.data);
        if (password === undefined) throw badRequest('missing password');
        user.passwordHash = await hashPassword(password);
        return null;
      },
    })
    .add('users/:name/policies', {
      update: async (request, params) => {
        const user = requireUser(params.name ?? '');
        const policies =
          getCommaStringSlice(request.data, 'token_policies') ??
          getCommaStringSlice(request.data, 'policies');
        user.token = { ...user.token, policies: normalizePolicies(policies ?? []) };
        return null;
      },
    });

  return {
    type: 'userpass',
    unauthenticatedPaths: ['login/*'],
    handle: (request) => router.dispatch(request),
    exists: async (request) => users.exists(request),
    renewAuth: async (token: TokenView) => {
      const name = String(token.internal.username ?? '');
      const user = users.get(name);
      if (!user) throw badRequest(`user "${name}" no longer exists`);
      // Compare without `default`, which the framework adds to the token unless token_no_default_policy.
      const comparable = (policies: readonly string[]): string =>
        normalizePolicies(policies.filter((policy) => policy !== 'default')).join(',');
      const current = comparable(user.token.policies);
      const onToken = comparable(token.policies);
      if (current !== onToken) throw badRequest('policies have changed, not renewing');
      return renewLimits(user.token);
    },
  };
}
