/**
 * The RDS IAM check of the tests: what RDS does with an IAM auth token
 * (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/UsingWithRDS.IAMDBAuth.Connecting.html) — a presigned
 * SigV4 URL for service `rds-db`, `<host>:<port>/?Action=connect&DBUser=<user>&X-Amz-Algorithm=AWS4-HMAC-SHA256&
 * X-Amz-Credential=…&X-Amz-Date=…&X-Amz-Expires=900&X-Amz-SignedHeaders=host&X-Amz-Signature=…` — verified against
 * known test credentials (`sigv4.ts`: the signature is recomputed with the identity's secret key).
 *
 * Real RDS validates the token itself when the client logs in. The test PostgreSQL cannot, so {@link RdsIamCheck.admit}
 * stands in for that step: it verifies a token and then sets the role's password to exactly that token
 * (`ALTER ROLE … PASSWORD`), so PostgreSQL's ordinary password authentication accepts the verified token and nothing
 * else. A test passes every token its credential source produces through `admit()` before the pool logs in with it.
 */
import { type SigV4Identity, verifyPresignedUrl } from './sigv4.js';

/** Options of {@link createRdsIamCheck}. */
export interface RdsIamCheckOptions {
  identities: SigV4Identity[];
  /** The database endpoint the tokens must be for (`host` and `port` of the token). */
  hostname: string;
  port: number;
  /** Region the tokens must be scoped to (default: any). */
  region?: string;
  /** The check's clock (default `Date.now`): tokens past `X-Amz-Expires` are refused. */
  now?: () => number;
  /** Runs a statement as a superuser (e.g. `TestDatabase.query`); needed by `admit()`. */
  admin?: (sql: string) => Promise<unknown>;
}

/** A verified token. */
export interface VerifiedRdsToken {
  user: string;
  accessKeyId: string;
  region: string;
  /** `X-Amz-Date` of the token, epoch ms. */
  signedAt: number;
  /** `X-Amz-Expires`, seconds. */
  expiresIn: number;
}

/** Thrown for a token RDS would refuse; `reason` says why. */
export class RdsTokenRefused extends Error {
  constructor(readonly reason: string) {
    super(`RDS IAM token refused: ${reason}`);
    this.name = 'RdsTokenRefused';
  }
}

/** The check. */
export interface RdsIamCheck {
  /** Verifies `token`; throws {@link RdsTokenRefused} naming what is wrong. */
  verify(token: string): Promise<VerifiedRdsToken>;
  /** Verifies `token`, then makes it the password of its `DBUser` role so PostgreSQL accepts it. */
  admit(token: string): Promise<VerifiedRdsToken>;
  /** Tokens verified so far (by `verify()` or `admit()`), in order. */
  readonly verified: readonly VerifiedRdsToken[];
  /** Refusals so far. */
  readonly refused: readonly string[];
}

const quoteLiteral = (v: string): string => `'${v.replaceAll("'", "''")}'`;
const quoteIdent = (v: string): string => `"${v.replaceAll('"', '""')}"`;

/** Creates the check for one database endpoint. */
export function createRdsIamCheck(options: RdsIamCheckOptions): RdsIamCheck {
  const now = options.now ?? Date.now;
  const verified: VerifiedRdsToken[] = [];
  const refused: string[] = [];
  const endpoint = `${options.hostname}:${options.port}`;

  async function verify(token: string): Promise<VerifiedRdsToken> {
    const refuse = (reason: string): never => {
      refused.push(reason);
      throw new RdsTokenRefused(reason);
    };
    if (!token.startsWith(`${endpoint}/?`)) refuse(`the token is not for ${endpoint}`);
    const query = Object.fromEntries(new URLSearchParams(token.slice(endpoint.length + 2)));
    if (query.Action !== 'connect') refuse('Action is not "connect"');
    const user = query.DBUser ?? '';
    if (user === '') refuse('DBUser is missing');
    if (query['X-Amz-SignedHeaders'] !== 'host') refuse('X-Amz-SignedHeaders is not "host"');
    const expiresIn = Number(query['X-Amz-Expires']);
    if (expiresIn !== 900) refuse('X-Amz-Expires is not 900 (RDS IAM tokens are valid for 15 minutes)');
    const result = await verifyPresignedUrl(
      { method: 'GET', path: '/', query, headers: { host: endpoint } },
      'rds-db',
      options.identities,
      now(),
    );
    if (!result.ok) return refuse(`${result.failure}: ${result.message}`);
    if (options.region !== undefined && result.region !== options.region)
      refuse(`the token is scoped to ${result.region}, not ${options.region}`);
    const entry = {
      user,
      accessKeyId: result.identity.accessKeyId,
      region: result.region,
      signedAt: result.signedAt,
      expiresIn,
    };
    verified.push(entry);
    return entry;
  }

  return {
    verify,
    async admit(token) {
      const admin = options.admin;
      if (!admin) throw new Error('createRdsIamCheck: admit() needs the admin option');
      const entry = await verify(token);
      await admin(`ALTER ROLE ${quoteIdent(entry.user)} PASSWORD ${quoteLiteral(token)}`);
      return entry;
    },
    verified,
    refused,
  };
}
