import { generateKeyPairSync, type KeyObject, randomUUID, sign } from 'node:crypto';
import type { DevServer } from '@leasehold/dev-server';
import {
  type AuthMethod,
  auth,
  createVault,
  type Logger,
  type Vault,
  VaultError,
  type VaultEvents,
  type VaultOptions,
} from '../../src/index.js';

/**
 * Captures everything the clients of a suite log, every event payload and every error message, and the secret
 * values used, so a test can prove none of the secrets leaked.
 */
export class LeakRecorder {
  readonly lines: string[] = [];
  readonly secrets = new Set<string>();

  logger(): Logger {
    const write = (level: string) => (obj: Record<string, unknown>, msg?: string) => {
      this.lines.push(`${level} ${msg ?? ''} ${safeJson(obj)}`);
    };
    return { debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error') };
  }

  /** Records every event of a client. */
  watch(vault: Vault): void {
    const events: Array<keyof VaultEvents> = [
      'login',
      'login:failed',
      'token:renewed',
      'token:renew-failed',
      'token:expiring',
      'token:expired',
      'token:invalid',
      'token:revoked',
      'request:retry',
      'circuit:open',
      'circuit:probe',
      'circuit:close',
    ];
    for (const event of events)
      vault.on(event, (payload) => this.lines.push(`event ${event} ${safeJson(payload)}`));
  }

  /** Records an error (message, JSON, cause chain). */
  error(error: unknown): unknown {
    let e: unknown = error;
    for (let depth = 0; e && depth < 5; depth++) {
      if (e instanceof Error) {
        this.lines.push(`error ${e.name} ${e.message} ${safeJson(e)} ${e.stack ?? ''}`);
        e = e.cause;
      } else {
        this.lines.push(`error ${String(e)}`);
        break;
      }
    }
    return error;
  }

  secret(...values: Array<string | undefined>): void {
    for (const v of values) if (v) this.secrets.add(v);
  }

  /** Secrets found in the captured output. */
  leaks(): string[] {
    const text = this.lines.join('\n');
    return [...this.secrets].filter((s) => text.includes(s));
  }

  /** Wraps an auth method so the tokens it obtains are recorded as secrets too. */
  recording(method: AuthMethod): AuthMethod {
    return {
      type: method.type,
      mount: method.mount,
      ...(method.requiresClientCertificate ? { requiresClientCertificate: true } : {}),
      login: async (ctx) => {
        const result = await method.login(ctx);
        this.secret(result.token.reveal());
        return result;
      },
    };
  }
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)) ?? '';
  } catch {
    return '[unserializable]';
  }
}

/** A root client for setting up the dev server over its HTTP API. */
export function rootClient(server: DevServer, extra: VaultOptions = {}): Vault {
  return createVault({
    env: {},
    address: server.url,
    auth: auth.token({ token: server.rootToken }),
    ...extra,
  });
}

/** Enables AppRole and creates a role; returns its role id and a fresh secret id. */
export async function setupAppRole(
  root: Vault,
  role: string,
  fields: Record<string, unknown>,
  mount = 'approle',
): Promise<{ roleId: string; secretId: string }> {
  await root.request('POST', `sys/auth/${mount}`, { body: { type: 'approle' } }).catch((e: unknown) => {
    if (!String((e as Error).message).includes('already in use')) throw e;
  });
  await root.request('POST', `auth/${mount}/role/${role}`, { body: fields });
  const idRes = await root.request<{ role_id: string }>('GET', `auth/${mount}/role/${role}/role-id`);
  const secretRes = await root.request<{ secret_id: string }>(
    'POST',
    `auth/${mount}/role/${role}/secret-id`,
    {
      body: {},
    },
  );
  return { roleId: idRes.body?.data?.role_id ?? '', secretId: secretRes.body?.data?.secret_id ?? '' };
}

/** Writes a policy through the API. */
export async function writePolicy(root: Vault, name: string, policy: string): Promise<void> {
  await root.request('PUT', `sys/policies/acl/${name}`, { body: { policy } });
}

/** An EC P-256 key pair for signing JWTs, with the public key as PEM. */
export function signingKey(): { privateKey: KeyObject; publicPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { privateKey, publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString() };
}

/** Signs an ES256 JWT with node:crypto. */
export function signJwt(claims: Record<string, unknown>, privateKey: KeyObject): string {
  const enc = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
  const input = `${enc({ alg: 'ES256', typ: 'JWT', kid: 'test' })}.${enc(claims)}`;
  const signature = sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' });
  return `${input}.${signature.toString('base64url')}`;
}

/** A projected Kubernetes service-account token (as the kubelet writes it). */
export function serviceAccountJwt(privateKey: KeyObject, namespace: string, name: string): string {
  const now = Math.floor(Date.now() / 1000);
  return signJwt(
    {
      iss: 'https://kubernetes.default.svc.cluster.local',
      sub: `system:serviceaccount:${namespace}:${name}`,
      aud: ['vault'],
      iat: now,
      nbf: now,
      exp: now + 600,
      jti: randomUUID(),
      'kubernetes.io': { namespace, serviceaccount: { name, uid: randomUUID() } },
    },
    privateKey,
  );
}

/** Polls `fn` until it resolves, up to `timeoutMs`. */
export async function eventually<T>(fn: () => Promise<T>, timeoutMs = 5000, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      return await fn();
    } catch (error) {
      last = error;
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  }
  throw last;
}

/**
 * Waits for a client's first login to fail and returns the error: the one `ready()` rejected with when the failure
 * is final, or — when the login backoff keeps retrying (a platform endpoint down) and `ready()` stays pending — the
 * first `login:failed` event's code and message. No fixed wait: a final failure rejects `ready()` in the same turn
 * as the event, which the `setImmediate` after the event lets through.
 */
export async function firstLoginError(vault: Vault, recorder: LeakRecorder): Promise<VaultError> {
  const failed = new Promise<VaultEvents['login:failed']>((resolve) => vault.once('login:failed', resolve));
  const outcome = vault.ready({ timeoutMs: 60_000 }).then(
    () => undefined,
    (e: unknown) => recorder.error(e),
  );
  const event = await failed;
  const error = await Promise.race([
    outcome,
    new Promise<undefined>((resolve) => setImmediate(() => resolve(undefined))),
  ]);
  if (VaultError.is(error) && error.code !== 'VAULT_TIMEOUT') return error;
  return new VaultError(event.code, event.message);
}

/**
 * The clients of a login suite: `client(method, extra)` builds one against `address()` with the recorder's logger and
 * recording around the method, watched for leaks and kept in `clients` (close them in the suite's hooks);
 * `loginError(vault)` is {@link firstLoginError} with the same recorder.
 */
export function recordedClients(
  recorder: LeakRecorder,
  address: () => string,
): {
  clients: Vault[];
  client(method: AuthMethod, extra?: VaultOptions): Vault;
  loginError(vault: Vault): Promise<VaultError>;
} {
  const clients: Vault[] = [];
  return {
    clients,
    client(method, extra = {}) {
      const vault = createVault({
        env: {},
        address: address(),
        auth: recorder.recording(method),
        logger: recorder.logger(),
        ...extra,
      });
      recorder.watch(vault);
      clients.push(vault);
      return vault;
    },
    loginError: (vault) => firstLoginError(vault, recorder),
  };
}
