/**
 * A local stand-in for AWS STS, for the `aws` auth method's tests: it answers `GetCallerIdentity`
 * (https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html) for requests signed with SigV4
 * by one of its known test credentials, and refuses the others as STS does (403 `InvalidClientTokenId`,
 * `SignatureDoesNotMatch`, `Signature expired`). The signature is verified by signing the received request again
 * with the AWS SDK's `@smithy/signature-v4` and the known secret key, and comparing. It also serves those
 * credentials the way the ECS container credentials endpoint does, so a client's default AWS credential chain can
 * be pointed at it (`AWS_CONTAINER_CREDENTIALS_FULL_URI`).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';

/** A test identity: its credentials and what STS answers for it. */
export interface StsIdentity {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  /** The caller's ARN, e.g. `arn:aws:sts::123456789012:assumed-role/app/session`. */
  arn: string;
  /** `UserId` (`AROA…:session` for an assumed role). */
  userId: string;
  account: string;
}

/** Options of {@link startStsStandIn}. */
export interface StsStandInOptions {
  identities: StsIdentity[];
  /** The stand-in's clock (default `Date.now`): signatures older or newer than 15 min are refused. */
  now?: () => number;
}

/** A running stand-in. */
export interface StsStandIn {
  /** Base URL, e.g. `http://127.0.0.1:40123` (use it as `sts_endpoint`). */
  readonly url: string;
  /** URL of the ECS-style credentials endpoint serving `identities[index]`. */
  credentialsUrl(index?: number): string;
  /** Requests answered so far, by outcome (`ok` or the STS error code). */
  readonly calls: { outcome: string; accessKeyId: string }[];
  /** Times the credentials endpoint was read. */
  readonly credentialReads: number;
  close(): Promise<void>;
}

const MAX_SKEW_MS = 15 * 60 * 1000;

function xmlError(res: ServerResponse, status: number, code: string, message: string): void {
  res.writeHead(status, { 'content-type': 'text/xml' });
  res.end(
    `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>${code}</Code><Message>${message}</Message></Error><RequestId>stand-in</RequestId></ErrorResponse>`,
  );
}

/** `20261128T120000Z` → epoch ms. */
function parseAmzDate(value: string): number | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (!m) return undefined;
  return Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Starts the stand-in on 127.0.0.1 (a free port). */
export async function startStsStandIn(options: StsStandInOptions): Promise<StsStandIn> {
  const now = options.now ?? Date.now;
  const calls: { outcome: string; accessKeyId: string }[] = [];
  let credentialReads = 0;

  async function getCallerIdentity(req: IncomingMessage, res: ServerResponse, body: string): Promise<void> {
    const authorization = req.headers.authorization ?? '';
    const parts =
      /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/sts\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(
        authorization,
      );
    if (!parts) {
      calls.push({ outcome: 'MissingAuthenticationToken', accessKeyId: '' });
      xmlError(res, 403, 'MissingAuthenticationToken', 'Request is missing Authentication Token');
      return;
    }
    const [, accessKeyId = '', , region = '', signedHeaders = '', signature = ''] = parts;
    const identity = options.identities.find((i) => i.accessKeyId === accessKeyId);
    const refuse = (code: string, message: string) => {
      calls.push({ outcome: code, accessKeyId });
      xmlError(res, 403, code, message);
    };
    if (!identity)
      return refuse('InvalidClientTokenId', 'The security token included in the request is invalid.');
    if (identity.sessionToken !== undefined && req.headers['x-amz-security-token'] !== identity.sessionToken)
      return refuse('InvalidClientTokenId', 'The security token included in the request is invalid.');
    const date = String(req.headers['x-amz-date'] ?? '');
    const signedAt = parseAmzDate(date);
    if (signedAt === undefined) return refuse('IncompleteSignature', 'X-Amz-Date is missing or malformed.');
    if (Math.abs(now() - signedAt) > MAX_SKEW_MS)
      return refuse(
        'SignatureDoesNotMatch',
        `Signature expired: ${date} is now earlier than the allowed window.`,
      );
    const headers: Record<string, string> = {};
    for (const name of signedHeaders.split(';')) {
      const value = req.headers[name];
      if (value === undefined) return refuse('SignatureDoesNotMatch', `Signed header ${name} is missing.`);
      headers[name] = Array.isArray(value) ? value.join(',') : value;
    }
    const url = new URL(req.url ?? '/', 'http://stand-in');
    const query: Record<string, string> = {};
    for (const [k, v] of url.searchParams) query[k] = v;
    const signer = new SignatureV4({
      service: 'sts',
      region,
      credentials: {
        accessKeyId: identity.accessKeyId,
        secretAccessKey: identity.secretAccessKey,
        ...(identity.sessionToken !== undefined ? { sessionToken: identity.sessionToken } : {}),
      },
      sha256: Sha256,
    });
    const expected = await signer.sign(
      {
        method: req.method ?? 'POST',
        protocol: 'http:',
        hostname: headers.host ?? '',
        path: url.pathname,
        query,
        headers,
        body,
      },
      { signingDate: new Date(signedAt) },
    );
    const expectedSignature = /Signature=([0-9a-f]{64})/.exec(expected.headers.authorization ?? '')?.[1];
    if (expectedSignature !== signature)
      return refuse(
        'SignatureDoesNotMatch',
        'The request signature we calculated does not match the signature you provided.',
      );
    if (!new URLSearchParams(body).get('Action')?.startsWith('GetCallerIdentity'))
      return refuse('InvalidAction', 'Could not find operation for this request.');
    calls.push({ outcome: 'ok', accessKeyId });
    res.writeHead(200, { 'content-type': 'text/xml' });
    res.end(
      `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><Arn>${identity.arn}</Arn><UserId>${identity.userId}</UserId><Account>${identity.account}</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>stand-in</RequestId></ResponseMetadata></GetCallerIdentityResponse>`,
    );
  }

  const server: Server = createServer((req, res) => {
    void (async () => {
      const body = await readBody(req);
      const credentials = /^\/credentials\/(\d+)$/.exec(req.url ?? '');
      if (req.method === 'GET' && credentials) {
        const identity = options.identities[Number(credentials[1])];
        if (!identity) {
          res.writeHead(404).end();
          return;
        }
        credentialReads += 1;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            AccessKeyId: identity.accessKeyId,
            SecretAccessKey: identity.secretAccessKey,
            Token: identity.sessionToken,
            Expiration: new Date(now() + 3600_000).toISOString(),
          }),
        );
        return;
      }
      if (req.method !== 'POST') {
        xmlError(res, 405, 'InvalidAction', 'Only POST is supported by the stand-in.');
        return;
      }
      await getCallerIdentity(req, res, body);
    })().catch((error: unknown) => {
      if (!res.headersSent) xmlError(res, 500, 'InternalFailure', String((error as Error).message));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    credentialsUrl: (index = 0) => `${url}/credentials/${index}`,
    calls,
    get credentialReads() {
      return credentialReads;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
