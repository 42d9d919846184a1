/**
 * AWS IAM login (`auth.aws()`), https://developer.hashicorp.com/vault/docs/auth/aws#iam-auth-method: an STS
 * `GetCallerIdentity` request signed with SigV4 by the process's AWS credentials is handed to Vault, which sends
 * it to STS and learns who signed it. The signing and the credential chain are the AWS SDK v3's
 * (`@smithy/signature-v4`, `@aws-crypto/sha256-js`, `@aws-sdk/credential-providers`), optional peer
 * dependencies loaded on the first login. The wire fields follow Vault's CLI helper
 * (https://github.com/hashicorp/vault/blob/main/builtin/credential/aws/cli.go): `iam_http_request_method`,
 * and `iam_request_url`, `iam_request_body`, `iam_request_headers` base64-encoded.
 */
import { z } from 'zod';
import { VaultError, VaultErrorCode } from '../errors.js';
import { mountPath, parseOptions } from '../validation.js';
import { loginRequest } from './methods.js';
import type { AuthMethod } from './types.js';

/** AWS credentials as the AWS SDK's providers return them. */
export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  expiration?: Date;
}

/** A function returning AWS credentials (an AWS SDK v3 credential provider such as `fromNodeProviderChain()`). */
export type AwsCredentialProvider = () => Promise<AwsCredentials>;

/** Options of {@link AuthMethods.aws | auth.aws()}. */
export interface AwsAuthOptions {
  /** Vault role (default: Vault picks the role named like the IAM principal's friendly name). */
  role?: string;
  /** Mount path (default `aws`). */
  mount?: string;
  /**
   * STS region to sign for (default `AWS_REGION`, then `AWS_DEFAULT_REGION`, then `us-east-1`, whose endpoint is
   * the global `https://sts.amazonaws.com`). Vault's `sts_endpoint` / `sts_region` must match.
   */
  region?: string;
  /** Value of the `X-Vault-AWS-IAM-Server-ID` header, when the mount's `iam_server_id_header_value` is set. */
  headerValue?: string;
  /** STS endpoint URL the request is signed for (default: from `region`). */
  stsEndpoint?: string;
  /**
   * Credential provider, called on every login (default: a new `fromNodeProviderChain()` per login: environment,
   * shared files, SSO, web identity (EKS IRSA), ECS container credentials, EC2 IMDSv2).
   */
  credentials?: AwsCredentialProvider;
}

const REGION = /^[a-z]{2}(-[a-z]+)+-\d+$/;

const awsSchema = z.strictObject({
  role: z.string().min(1, 'must not be empty').optional(),
  mount: mountPath.default('aws'),
  region: z.string().regex(REGION, 'must be an AWS region such as "eu-west-1"').optional(),
  headerValue: z.string().min(1, 'must not be empty').optional(),
  stsEndpoint: z
    .string()
    .refine((v) => URL.canParse(v) && /^https?:$/.test(new URL(v).protocol), 'must be an http(s) URL')
    .optional(),
  credentials: z
    .custom<AwsCredentialProvider>(
      (v) => typeof v === 'function',
      'must be a function returning AWS credentials',
    )
    .optional(),
});

/** The body of the signed request (https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html). */
const GET_CALLER_IDENTITY = 'Action=GetCallerIdentity&Version=2011-06-15';

/** The optional peers, loaded once on the first login. */
interface AwsSdk {
  SignatureV4: typeof import('@smithy/signature-v4').SignatureV4;
  Sha256: typeof import('@aws-crypto/sha256-js').Sha256;
  fromNodeProviderChain: typeof import('@aws-sdk/credential-providers').fromNodeProviderChain;
}

const PEERS = '@smithy/signature-v4 @aws-crypto/sha256-js @aws-sdk/credential-providers';
let sdk: Promise<AwsSdk> | undefined;

async function importPeer<T>(name: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (cause) {
    throw new VaultError(
      VaultErrorCode.CONFIG,
      `auth.aws() needs the optional peer dependency ${name}, which could not be loaded: install ${PEERS} (e.g. npm install ${PEERS})`,
      { cause, retryable: false },
    );
  }
}

function loadSdk(): Promise<AwsSdk> {
  sdk ??= (async () => {
    const [signer, sha, providers] = await Promise.all([
      importPeer('@smithy/signature-v4', () => import('@smithy/signature-v4')),
      importPeer('@aws-crypto/sha256-js', () => import('@aws-crypto/sha256-js')),
      importPeer('@aws-sdk/credential-providers', () => import('@aws-sdk/credential-providers')),
    ]);
    return {
      SignatureV4: signer.SignatureV4,
      Sha256: sha.Sha256,
      fromNodeProviderChain: providers.fromNodeProviderChain,
    };
  })().catch((error: unknown) => {
    sdk = undefined;
    throw error;
  });
  return sdk;
}

/** `us-east-1` signs for the global endpoint, as the Vault CLI does; other regions for their regional one. */
function defaultEndpoint(region: string): string {
  return region === 'us-east-1' ? 'https://sts.amazonaws.com/' : `https://sts.${region}.amazonaws.com/`;
}

/** Go's canonical header key (`x-amz-date` → `X-Amz-Date`), as Vault reads `iam_request_headers` into `http.Header`. */
function canonicalHeader(name: string): string {
  return name
    .split('-')
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1).toLowerCase())
    .join('-');
}

const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');

/**
 * AWS IAM login (`POST auth/<mount>/login` with a signed `sts:GetCallerIdentity`). Credentials are obtained fresh
 * for every login, so rotating ones (EKS IRSA web identity, ECS task roles, EC2 instance profiles) are followed.
 * A credential source that cannot answer (no credentials, metadata endpoint down) fails the login with
 * `VAULT_UNAVAILABLE` naming the method; a signature or identity Vault refuses is `VAULT_LOGIN_FAILED`.
 */
export function aws(options: AwsAuthOptions = {}): AuthMethod {
  const o = parseOptions(awsSchema, options, 'auth.aws');
  const path = `auth/${o.mount}/login`;
  return {
    type: 'aws',
    mount: o.mount,
    async login(context) {
      const { SignatureV4, Sha256, fromNodeProviderChain } = await loadSdk();
      const envRegion = process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION;
      if (o.region === undefined && envRegion !== undefined && !REGION.test(envRegion)) {
        throw new VaultError(
          VaultErrorCode.CONFIG,
          'AWS_REGION / AWS_DEFAULT_REGION must be an AWS region such as "eu-west-1", or pass auth.aws({ region })',
          { retryable: false },
        );
      }
      const region = o.region ?? envRegion ?? 'us-east-1';
      const provider = o.credentials ?? fromNodeProviderChain();
      let credentials: AwsCredentials;
      try {
        credentials = await provider();
      } catch (cause) {
        const reason = cause instanceof Error ? cause.message.split('\n')[0] : 'non-error thrown';
        throw new VaultError(
          VaultErrorCode.UNAVAILABLE,
          `aws login at ${path}: no AWS credentials could be obtained (${reason}); check the credential source (environment, web identity token file, ECS/EC2 metadata endpoint)`,
          { path, cause, retryable: true },
        );
      }
      const url = new URL(o.stsEndpoint ?? defaultEndpoint(region));
      const headers: Record<string, string> = {
        host: url.host,
        'content-type': 'application/x-www-form-urlencoded; charset=utf-8',
      };
      if (o.headerValue !== undefined) headers['x-vault-aws-iam-server-id'] = o.headerValue;
      const signer = new SignatureV4({ service: 'sts', region, credentials, sha256: Sha256 });
      const signed = await signer.sign({
        method: 'POST',
        protocol: url.protocol,
        hostname: url.hostname,
        ...(url.port ? { port: Number(url.port) } : {}),
        path: url.pathname,
        query: {},
        headers,
        body: GET_CALLER_IDENTITY,
      });
      const wireHeaders: Record<string, string> = {};
      for (const [name, value] of Object.entries(signed.headers)) wireHeaders[canonicalHeader(name)] = value;
      const body: Record<string, unknown> = {
        iam_http_request_method: 'POST',
        iam_request_url: b64(url.toString()),
        iam_request_body: b64(GET_CALLER_IDENTITY),
        iam_request_headers: b64(JSON.stringify(wireHeaders)),
      };
      if (o.role !== undefined) body.role = o.role;
      return loginRequest(context, 'aws', path, body);
    },
  };
}
