/**
 * JWT signature and registered-claim verification shared by the `jwt`/`oidc` and `kubernetes` auth methods
 * (built on `jose`). Error messages are fixed texts: they never contain the token or its claims' values.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { errors, type JWTPayload, type JWTVerifyGetKey, jwtVerify } from 'jose';
import { badRequest, type LogicalError } from '../../sdk/index.js';

/** Where verification keys come from: local PEM keys, or a remote JWKS (`createRemoteJWKSet`). */
export type KeySource =
  | { kind: 'keys'; keys: readonly KeyObject[] }
  | { kind: 'jwks'; jwks: JWTVerifyGetKey };

/** Options for {@link verifyJwt}. */
export interface JwtCheckOptions {
  /** Expected `iss` (exact match) when set. */
  issuer?: string;
  /** When non-empty, the token's `aud` must contain one of these. */
  audiences?: readonly string[];
  /** Allowed clock skew for `exp`/`nbf`, seconds. */
  clockToleranceSeconds: number;
  /** Allowed `alg` values (all asymmetric algorithms when absent). */
  algorithms?: readonly string[];
  /** The server's current time (ms). */
  now: number;
}

/** Parses one PEM public key (SPKI, PKCS#1 or an X.509 certificate); 400 naming the field when it is not one. */
export function parsePublicKeyPem(pem: string, field: string, index: number): KeyObject {
  try {
    const key = createPublicKey(pem);
    if (key.asymmetricKeyType === undefined) throw new Error('not an asymmetric key');
    return key;
  } catch {
    throw badRequest(`error parsing ${field}[${index}]: expected a PEM-encoded public key or certificate`);
  }
}

/** The text of a signature no configured key verifies. */
export const SIGNATURE_FAILED = 'no known key successfully validated the token signature';

/** Maps a jose failure to a 400 with a fixed message (never the token itself). */
function mapJoseError(error: unknown): LogicalError {
  if (error instanceof errors.JWTExpired)
    return badRequest('error validating claims: token is expired (exp)');
  if (error instanceof errors.JWTClaimValidationFailed) {
    switch (error.claim) {
      case 'nbf':
        return badRequest('error validating claims: token not valid yet (nbf)');
      case 'iss':
        return badRequest('error validating claims: invalid issuer (iss claim)');
      case 'aud':
        return badRequest('error validating claims: invalid audience (aud claim)');
      case 'iat':
        return badRequest('error validating claims: invalid issued-at time (iat claim)');
      default:
        return badRequest(`error validating claims: invalid "${error.claim}" claim`);
    }
  }
  if (
    error instanceof errors.JWSSignatureVerificationFailed ||
    error instanceof errors.JWKSNoMatchingKey ||
    error instanceof errors.JWKSMultipleMatchingKeys
  )
    return badRequest(`error validating token: ${SIGNATURE_FAILED}`);
  if (error instanceof errors.JOSEAlgNotAllowed || error instanceof errors.JOSENotSupported)
    return badRequest('error validating token: signing algorithm not allowed or not supported');
  if (error instanceof errors.JWKSTimeout) return badRequest('error fetching JWKS: request timed out');
  if (error instanceof errors.JWKSInvalid) return badRequest('error fetching JWKS: invalid key set');
  if (error instanceof errors.JWSInvalid || error instanceof errors.JWTInvalid)
    return badRequest('error validating token: malformed JWT');
  if (error instanceof errors.JOSEError) return badRequest(`error validating token: ${error.code}`);
  return badRequest('error validating token: malformed JWT or unusable key');
}

/** True for failures that mean "this key did not verify", so the next configured key should be tried. */
function isKeyMismatch(error: unknown): boolean {
  return (
    error instanceof errors.JWSSignatureVerificationFailed ||
    error instanceof errors.JOSENotSupported ||
    error instanceof errors.JOSEAlgNotAllowed ||
    error instanceof TypeError
  );
}

/**
 * Verifies the signature and the registered claims (`exp`, `nbf`, `iss`, `aud`) of a compact JWT and returns its
 * payload. With several local keys, each is tried in turn (Vault's `jwt_validation_pubkeys` semantics). Throws a
 * 400 {@link LogicalError} with a fixed message.
 */
export async function verifyJwt(
  token: string,
  source: KeySource,
  options: JwtCheckOptions,
): Promise<JWTPayload> {
  if (token.split('.').length !== 3) throw badRequest('error validating token: malformed JWT');
  const verifyOptions = {
    currentDate: new Date(options.now),
    clockTolerance: options.clockToleranceSeconds,
    ...(options.issuer ? { issuer: options.issuer } : {}),
    ...(options.audiences && options.audiences.length > 0 ? { audience: [...options.audiences] } : {}),
    ...(options.algorithms && options.algorithms.length > 0 ? { algorithms: [...options.algorithms] } : {}),
  };
  if (source.kind === 'jwks') {
    try {
      return (await jwtVerify(token, source.jwks, verifyOptions)).payload;
    } catch (error) {
      throw mapJoseError(error);
    }
  }
  let lastError: unknown;
  for (const key of source.keys) {
    try {
      return (await jwtVerify(token, key, verifyOptions)).payload;
    } catch (error) {
      if (!isKeyMismatch(error)) throw mapJoseError(error);
      lastError = error;
    }
  }
  if (lastError === undefined || isKeyMismatch(lastError))
    throw badRequest(`error validating token: ${SIGNATURE_FAILED}`);
  throw mapJoseError(lastError);
}

/**
 * Reads a claim by name, or by JSON pointer when it starts with `/` (`/nested/claim`, as Vault's claim lookups).
 */
export function getClaim(payload: JWTPayload, claim: string): unknown {
  if (!claim.startsWith('/')) return payload[claim];
  let current: unknown = payload;
  for (const raw of claim.slice(1).split('/')) {
    const segment = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (typeof current !== 'object' || current === null || Array.isArray(current)) return undefined;
    current = (current as Record<string, unknown>)[segment];
  }
  return current;
}

/** A claim value as a metadata string: strings as is, numbers/booleans stringified, anything else JSON. */
export function claimToString(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}
