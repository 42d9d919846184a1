/**
 * A local stand-in for AWS STS, for the `aws` auth method's tests: it answers `GetCallerIdentity`
 * (https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html) for requests signed with SigV4
 * by one of its known test credentials, and refuses the others as STS does (403 `InvalidClientTokenId`,
 * `SignatureDoesNotMatch`, `Signature expired`). The signature is verified by signing the received request again
 * with the AWS SDK's `@smithy/signature-v4` and the known secret key, and comparing (`sigv4.ts`). It also serves those
 * credentials the way the ECS container credentials endpoint does, so a client's default AWS credential chain can
 * be pointed at it (`AWS_CONTAINER_CREDENTIALS_FULL_URI`).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readBody, type SigV4Failure, type SigV4Identity, verifySignedRequest } from './sigv4.js';

/** A test identity: its credentials and what STS answers for it. */
export interface StsIdentity extends SigV4Identity {
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

/** STS's error code for each way a signature fails. */
const STS_CODES: Record<SigV4Failure, string> = {
  missing: 'MissingAuthenticationToken',
  'unknown-key': 'InvalidClientTokenId',
  'bad-date': 'IncompleteSignature',
  expired: 'SignatureDoesNotMatch',
  'wrong-service': 'SignatureDoesNotMatch',
  mismatch: 'SignatureDoesNotMatch',
};

function xmlError(res: ServerResponse, status: number, code: string, message: string): void {
  res.writeHead(status, { 'content-type': 'text/xml' });
  res.end(
    `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>${code}</Code><Message>${message}</Message></Error><RequestId>stand-in</RequestId></ErrorResponse>`,
  );
}

/** Starts the stand-in on 127.0.0.1 (a free port). */
export async function startStsStandIn(options: StsStandInOptions): Promise<StsStandIn> {
  const now = options.now ?? Date.now;
  const calls: { outcome: string; accessKeyId: string }[] = [];
  let credentialReads = 0;

  async function getCallerIdentity(req: IncomingMessage, res: ServerResponse, body: string): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://stand-in');
    const verified = await verifySignedRequest(
      {
        method: req.method ?? 'POST',
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        headers: req.headers,
        body,
      },
      'sts',
      options.identities,
      now(),
    );
    if (!verified.ok) {
      const code = STS_CODES[verified.failure];
      calls.push({ outcome: code, accessKeyId: verified.accessKeyId });
      xmlError(res, 403, code, verified.message);
      return;
    }
    const { identity } = verified;
    const accessKeyId = identity.accessKeyId;
    const refuse = (code: string, message: string) => {
      calls.push({ outcome: code, accessKeyId });
      xmlError(res, 403, code, message);
    };
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
