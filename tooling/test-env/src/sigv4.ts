/**
 * SigV4 verification shared by the AWS stand-ins (STS, Secrets Manager, the RDS IAM token check). A request is
 * verified the way AWS does it: the signer is looked up by its access key id, and the received request is signed
 * again with the AWS SDK's `@smithy/signature-v4` and that identity's secret key; the two signatures must match
 * (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv.html). Two shapes are checked: a signed request
 * (the `Authorization` header) and a presigned URL (the `X-Amz-*` query parameters, as in an RDS IAM auth token).
 */
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';

/** Credentials a stand-in knows. */
export interface SigV4Identity {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** Why a signature was refused. */
export type SigV4Failure =
  /** No `Authorization` header / no `X-Amz-Signature`, or not the SigV4 shape. */
  | 'missing'
  /** The access key id (or its session token) is unknown. */
  | 'unknown-key'
  /** `X-Amz-Date` is missing or malformed. */
  | 'bad-date'
  /** Signed more than 15 minutes away from now (header signing), or past `X-Amz-Expires` (presigned). */
  | 'expired'
  /** The credential scope names another service. */
  | 'wrong-service'
  /** The signature is not the one the identity's secret key gives. */
  | 'mismatch';

/** The outcome of a verification. */
export type SigV4Result<I extends SigV4Identity> =
  | { ok: true; identity: I; region: string; signedAt: number }
  | { ok: false; failure: SigV4Failure; accessKeyId: string; message: string };

/** The skew AWS allows between a header-signed request's `X-Amz-Date` and its clock. */
export const MAX_SKEW_MS = 15 * 60 * 1000;

/** `20261128T120000Z` → epoch ms. */
export function parseAmzDate(value: string): number | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (!m) return undefined;
  return Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
}

/** A received request, as the stand-ins see it. */
export interface ReceivedRequest {
  method: string;
  /** Path without the query. */
  path: string;
  query: Record<string, string>;
  /** Lower-case header names. */
  headers: Record<string, string | string[] | undefined>;
  body?: string;
}

function fail<I extends SigV4Identity>(
  failure: SigV4Failure,
  accessKeyId: string,
  message: string,
): SigV4Result<I> {
  return { ok: false, failure, accessKeyId, message };
}

async function resign(
  identity: SigV4Identity,
  service: string,
  region: string,
  request: ReceivedRequest,
  headers: Record<string, string>,
  signedAt: number,
  presignExpiresIn?: number,
): Promise<string | undefined> {
  const signer = new SignatureV4({
    service,
    region,
    credentials: {
      accessKeyId: identity.accessKeyId,
      secretAccessKey: identity.secretAccessKey,
      ...(identity.sessionToken !== undefined ? { sessionToken: identity.sessionToken } : {}),
    },
    sha256: Sha256,
  });
  const http = {
    method: request.method,
    protocol: 'https:',
    hostname: headers.host ?? '',
    path: request.path,
    query: request.query,
    headers,
    ...(request.body !== undefined ? { body: request.body } : {}),
  };
  if (presignExpiresIn !== undefined) {
    const presigned = await signer.presign(http, {
      signingDate: new Date(signedAt),
      expiresIn: presignExpiresIn,
    });
    const signature = presigned.query?.['X-Amz-Signature'];
    return typeof signature === 'string' ? signature : undefined;
  }
  const signed = await signer.sign(http, { signingDate: new Date(signedAt) });
  return /Signature=([0-9a-f]{64})/.exec(signed.headers.authorization ?? '')?.[1];
}

/** The identity that signed (known key, matching session token) for the right service, or the refusal. */
function signer<I extends SigV4Identity>(
  identities: readonly I[],
  accessKeyId: string,
  sessionToken: string | undefined,
  scopeService: string,
  service: string,
): { identity: I } | SigV4Result<I> {
  const identity = identities.find((i) => i.accessKeyId === accessKeyId);
  if (!identity || (identity.sessionToken !== undefined && sessionToken !== identity.sessionToken))
    return fail('unknown-key', accessKeyId, 'The security token included in the request is invalid.');
  if (scopeService !== service)
    return fail(
      'wrong-service',
      accessKeyId,
      `Credential should be scoped to correct service: '${service}'.`,
    );
  return { identity };
}

/** The body of a request, as text. */
export async function readBody(req: AsyncIterable<unknown>): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Verifies a request signed in its `Authorization` header for `service`: known key (and session token), date within
 * 15 minutes of `now`, signature recomputed from the signed headers, the query and the body.
 */
export async function verifySignedRequest<I extends SigV4Identity>(
  request: ReceivedRequest,
  service: string,
  identities: readonly I[],
  now: number,
): Promise<SigV4Result<I>> {
  const header = (name: string): string | undefined => {
    const v = request.headers[name];
    return Array.isArray(v) ? v.join(',') : v;
  };
  const parts =
    /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(
      header('authorization') ?? '',
    );
  if (!parts) return fail('missing', '', 'Request is missing Authentication Token');
  const [, accessKeyId = '', , region = '', scopeService = '', signedHeaders = '', signature = ''] = parts;
  const found = signer(identities, accessKeyId, header('x-amz-security-token'), scopeService, service);
  if (!('identity' in found)) return found;
  const { identity } = found;
  const date = header('x-amz-date') ?? '';
  const signedAt = parseAmzDate(date);
  if (signedAt === undefined) return fail('bad-date', accessKeyId, 'X-Amz-Date is missing or malformed.');
  if (Math.abs(now - signedAt) > MAX_SKEW_MS)
    return fail('expired', accessKeyId, `Signature expired: ${date} is now earlier than the allowed window.`);
  const headers: Record<string, string> = {};
  for (const name of signedHeaders.split(';')) {
    const value = header(name);
    if (value === undefined) return fail('mismatch', accessKeyId, `Signed header ${name} is missing.`);
    headers[name] = value;
  }
  const expected = await resign(identity, service, region, request, headers, signedAt);
  if (expected !== signature)
    return fail(
      'mismatch',
      accessKeyId,
      'The request signature we calculated does not match the signature you provided.',
    );
  return { ok: true, identity, region, signedAt };
}

/**
 * Verifies a presigned URL for `service` (`X-Amz-Algorithm`, `X-Amz-Credential`, `X-Amz-Date`, `X-Amz-Expires`,
 * `X-Amz-SignedHeaders`, `X-Amz-Signature` in the query): known key, not expired at `now`, signature recomputed
 * over the signed headers (`host` for an RDS token) and the other query parameters.
 */
export async function verifyPresignedUrl<I extends SigV4Identity>(
  request: Omit<ReceivedRequest, 'body'>,
  service: string,
  identities: readonly I[],
  now: number,
): Promise<SigV4Result<I>> {
  const q = request.query;
  const credential = /^([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request$/.exec(q['X-Amz-Credential'] ?? '');
  if (
    q['X-Amz-Algorithm'] !== 'AWS4-HMAC-SHA256' ||
    !credential ||
    !/^[0-9a-f]{64}$/.test(q['X-Amz-Signature'] ?? '')
  )
    return fail('missing', '', 'The presigned URL is missing its SigV4 query parameters.');
  const [, accessKeyId = '', , region = '', scopeService = ''] = credential;
  const found = signer(identities, accessKeyId, q['X-Amz-Security-Token'], scopeService, service);
  if (!('identity' in found)) return found;
  const { identity } = found;
  const signedAt = parseAmzDate(q['X-Amz-Date'] ?? '');
  if (signedAt === undefined) return fail('bad-date', accessKeyId, 'X-Amz-Date is missing or malformed.');
  const expiresIn = Number(q['X-Amz-Expires']);
  if (!Number.isInteger(expiresIn) || expiresIn <= 0)
    return fail('bad-date', accessKeyId, 'X-Amz-Expires is missing or malformed.');
  if (now > signedAt + expiresIn * 1000 || now < signedAt - MAX_SKEW_MS)
    return fail('expired', accessKeyId, 'Request has expired.');
  const headers: Record<string, string> = {};
  for (const name of (q['X-Amz-SignedHeaders'] ?? '').split(';')) {
    const value = request.headers[name];
    if (value === undefined) return fail('mismatch', accessKeyId, `Signed header ${name} is missing.`);
    headers[name] = Array.isArray(value) ? value.join(',') : value;
  }
  const query: Record<string, string> = {};
  for (const [k, v] of Object.entries(q)) if (!k.startsWith('X-Amz-')) query[k] = v;
  const expected = await resign(
    identity,
    service,
    region,
    { ...request, query },
    headers,
    signedAt,
    expiresIn,
  );
  if (expected !== q['X-Amz-Signature'])
    return fail(
      'mismatch',
      accessKeyId,
      'The request signature we calculated does not match the signature you provided.',
    );
  return { ok: true, identity, region, signedAt };
}
