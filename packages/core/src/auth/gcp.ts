/**
 * Google Cloud login (`auth.gcp()`), https://developer.hashicorp.com/vault/docs/auth/gcp: the identity token comes
 * from the platform, no secret is delivered.
 * - `gce`: the metadata server's instance identity token
 *   (https://cloud.google.com/compute/docs/instances/verifying-instance-identity), `format=full`, audience
 *   `http://vault/<role>`;
 * - `iam`: a JWT `{ sub: <service account>, aud: vault/<role>, exp }` signed by the IAM Credentials API
 *   (`projects/-/serviceAccounts/<email>:signJwt`) with the metadata server's access token.
 * The metadata host follows `GCE_METADATA_HOST` (as Google's client libraries do) and can be given as an option.
 */
import { z } from 'zod';
import { VaultError, VaultErrorCode } from '../errors.js';
import { mountPath, parseOptions, positiveInt } from '../validation.js';
import { loginRequest } from './methods.js';
import type { AuthMethod, LoginContext } from './types.js';

/** Options of {@link AuthMethods.gcp | auth.gcp()}. */
export interface GcpAuthOptions {
  /** Vault role. */
  role: string;
  /** `gce` (instance identity token) or `iam` (a service-account JWT signed by the IAM Credentials API). */
  type: 'gce' | 'iam';
  /** Mount path (default `gcp`). */
  mount?: string;
  /** `iam`: the service account to sign as (default: the instance's default service account). */
  serviceAccount?: string;
  /** `iam`: lifetime of the signed JWT in seconds (default 900, Vault's maximum). */
  jwtExpSeconds?: number;
  /** Metadata server `host[:port]` or URL (default `GCE_METADATA_HOST`, then `metadata.google.internal`). */
  metadataHost?: string;
  /** `iam`: IAM Credentials API base URL (default `https://iamcredentials.googleapis.com`). */
  iamCredentialsEndpoint?: string;
  /** Bound of each metadata / IAM request in ms (default 10000). */
  timeoutMs?: number;
}

const gcpSchema = z.strictObject({
  role: z.string().min(1, 'must name the Vault role'),
  type: z.enum(['gce', 'iam'], { error: 'must be "gce" or "iam"' }),
  mount: mountPath.default('gcp'),
  serviceAccount: z.string().min(1, 'must not be empty').optional(),
  jwtExpSeconds: positiveInt
    .max(900, 'must be at most 900 (Vault refuses JWTs valid longer than 15 minutes)')
    .optional(),
  metadataHost: z.string().min(1, 'must not be empty').optional(),
  iamCredentialsEndpoint: z
    .string()
    .refine((v) => URL.canParse(v) && /^https?:$/.test(new URL(v).protocol), 'must be an http(s) URL')
    .optional(),
  timeoutMs: positiveInt.optional(),
});

const JWT = /^[\w-]+\.[\w-]+\.[\w-]+$/;

/** `host[:port]` or a URL → the metadata server's base URL. */
function metadataBase(host: string): string {
  return /^https?:\/\//.test(host) ? host.replace(/\/+$/, '') : `http://${host}`;
}

/**
 * Fetches `url` for a cloud login; a network failure or a non-2xx answer is `VAULT_UNAVAILABLE` naming the method
 * and what was asked (never a token or a body). Returns the body text.
 */
export async function platformRequest(
  context: LoginContext,
  what: string,
  url: string,
  init: { method?: string; headers: Record<string, string>; body?: string },
  timeoutMs: number,
): Promise<string> {
  let res: Response;
  try {
    res = await fetch(url, {
      method: init.method ?? 'GET',
      headers: init.headers,
      ...(init.body !== undefined ? { body: init.body } : {}),
      signal: AbortSignal.any([context.signal, AbortSignal.timeout(timeoutMs)]),
      redirect: 'error',
    });
  } catch (cause) {
    const reason =
      cause instanceof Error ? (cause.cause instanceof Error ? cause.cause.message : cause.message) : '';
    throw new VaultError(
      VaultErrorCode.UNAVAILABLE,
      `${what} did not answer (${reason}) at ${new URL(url).origin}`,
      {
        cause,
        retryable: true,
      },
    );
  }
  const text = await res.text();
  if (!res.ok)
    throw new VaultError(
      VaultErrorCode.UNAVAILABLE,
      `${what} answered HTTP ${res.status} at ${new URL(url).origin}`,
      {
        retryable: true,
      },
    );
  return text;
}

/** Google Cloud login (`POST auth/<mount>/login { role, jwt }`); the token is obtained fresh for every login. */
export function gcp(options: GcpAuthOptions): AuthMethod {
  const o = parseOptions(gcpSchema, options, 'auth.gcp');
  const path = `auth/${o.mount}/login`;
  const timeoutMs = o.timeoutMs ?? 10_000;
  const label = `gcp login (${o.type})`;
  return {
    type: 'gcp',
    mount: o.mount,
    async login(context) {
      const host = o.metadataHost ?? (process.env.GCE_METADATA_HOST || 'metadata.google.internal');
      if (!URL.canParse(metadataBase(host)))
        throw new VaultError(
          VaultErrorCode.CONFIG,
          `${o.metadataHost === undefined ? 'GCE_METADATA_HOST' : 'auth.gcp.metadataHost'} must be a host[:port] or an http(s) URL of the metadata server`,
          { retryable: false },
        );
      const base = `${metadataBase(host)}/computeMetadata/v1/instance/service-accounts`;
      const flavor = { 'Metadata-Flavor': 'Google' };
      let jwt: string;
      if (o.type === 'gce') {
        const query = new URLSearchParams({ audience: `http://vault/${o.role}`, format: 'full' });
        jwt = (
          await platformRequest(
            context,
            `${label}: the metadata server's identity endpoint`,
            `${base}/default/identity?${query}`,
            { headers: flavor },
            timeoutMs,
          )
        ).trim();
      } else {
        const email =
          o.serviceAccount ??
          (
            await platformRequest(
              context,
              `${label}: the metadata server's email endpoint`,
              `${base}/default/email`,
              {
                headers: flavor,
              },
              timeoutMs,
            )
          ).trim();
        const tokenText = await platformRequest(
          context,
          `${label}: the metadata server's token endpoint`,
          `${base}/default/token`,
          { headers: flavor },
          timeoutMs,
        );
        const accessToken = readJsonString(tokenText, 'access_token', label, 'the metadata token endpoint');
        const exp = Math.floor(Date.now() / 1000) + (o.jwtExpSeconds ?? 900);
        const endpoint = (o.iamCredentialsEndpoint ?? 'https://iamcredentials.googleapis.com').replace(
          /\/+$/,
          '',
        );
        const signed = await platformRequest(
          context,
          `${label}: the IAM Credentials API (signJwt)`,
          `${endpoint}/v1/projects/-/serviceAccounts/${encodeURIComponent(email)}:signJwt`,
          {
            method: 'POST',
            headers: { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json' },
            body: JSON.stringify({ payload: JSON.stringify({ sub: email, aud: `vault/${o.role}`, exp }) }),
          },
          timeoutMs,
        );
        jwt = readJsonString(signed, 'signedJwt', label, 'the IAM Credentials API');
      }
      if (!JWT.test(jwt))
        throw new VaultError(
          VaultErrorCode.UNAVAILABLE,
          `${label}: the identity token obtained is not a JWT`,
          {
            retryable: true,
          },
        );
      return loginRequest(context, 'gcp', path, { role: o.role, jwt });
    },
  };
}

/** Reads a string field of a JSON answer from a platform endpoint (`VAULT_UNAVAILABLE` naming it when absent). */
export function readJsonString(text: string, field: string, label: string, source: string): string {
  let value: unknown;
  try {
    value = (JSON.parse(text) as Record<string, unknown>)[field];
  } catch {
    value = undefined;
  }
  if (typeof value !== 'string' || value === '')
    throw new VaultError(VaultErrorCode.UNAVAILABLE, `${label}: ${source} answered without "${field}"`, {
      retryable: true,
    });
  return value;
}
