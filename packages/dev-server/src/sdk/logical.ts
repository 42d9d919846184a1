/**
 * The contract between the dev server's HTTP framework and the engines mounted in it.
 *
 * The framework (HTTP parsing, envelopes, tokens, ACLs, the lease registry, response wrapping, sealing, the
 * request log) owns everything that Vault's core owns. A *backend* owns one mounted engine — a secrets engine
 * (`kv`, `database`, `transit`, `pki`) or an auth method (`approle`, `userpass`, `jwt`, `kubernetes`, `cert`) —
 * and only ever sees logical requests relative to its mount. This mirrors Vault's `logical.Backend`.
 *
 * How a request flows:
 * 1. The framework parses the HTTP request (method → {@link Operation}, body/query → `data`), resolves the mount
 *    by longest prefix, authenticates the token (unless the path is one of the backend's
 *    {@link Backend.unauthenticatedPaths}), checks the ACL, and calls {@link Backend.handle}.
 * 2. The backend returns a {@link LogicalResponse} (or `null`) or throws a {@link LogicalError}.
 * 3. The framework turns `secret` into a registered lease (lease_id, lease_duration, renewable), `auth` into a new
 *    token (the `auth` block), wraps the response when `X-Vault-Wrap-TTL` asks, and writes Vault's envelope.
 *    `null` becomes 404 `{"errors":[]}` for read/list and 204 for other operations.
 * 4. Later, `sys/leases/renew` computes the new TTL with Vault's `CalculateTTL` (the framework does the arithmetic,
 *    including the capped-TTL warning) and calls {@link Backend.renewSecret} for side effects; expiry and
 *    revocation call {@link Backend.revokeSecret}.
 *
 * Errors: throw `new LogicalError(400, 'message')` (or the helpers below). Never put a secret value in a message.
 */

import type { Clock } from '../util/clock.js';

/** The logical operation of a request (Vault's `logical.Operation`). */
export type Operation = 'read' | 'list' | 'create' | 'update' | 'delete' | 'patch';

/** What a backend may know about the token that made a request. Never contains the token itself for logging. */
export interface RequestToken {
  /** The token ID (secret: never log it). */
  readonly id: string;
  readonly accessor: string;
  /** Effective policies (token + identity). */
  readonly policies: readonly string[];
  /** `token` for token-store tokens; auth methods set their own (e.g. `approle`, `userpass-alice`). */
  readonly displayName: string;
  readonly entityId: string;
  readonly metadata: Readonly<Record<string, string>>;
  /** True for tokens carrying the `root` policy. */
  readonly isRoot: boolean;
}

/** A request as a backend sees it. */
export interface LogicalRequest {
  readonly operation: Operation;
  /** Path relative to the mount, no leading slash; a trailing `/` is kept for list operations (e.g. `creds/app`). */
  readonly path: string;
  /** The mount path with a trailing slash, e.g. `database/` or `auth/approle/`. */
  readonly mountPath: string;
  /** Body (JSON or form) merged with query parameters for read/list/delete, as Vault does. */
  readonly data: Record<string, unknown>;
  /** The calling token; undefined on unauthenticated paths (logins). */
  readonly token: RequestToken | undefined;
  /** Remote IP address of the client (for CIDR checks). */
  readonly remoteAddress: string;
  /** The TLS client certificate the client presented (DER), when the listener uses TLS and one was sent. */
  readonly clientCertificate: Buffer | undefined;
  /** Lower-cased request headers (read only; `x-vault-token` is removed). */
  readonly headers: Readonly<Record<string, string | undefined>>;
}

/** A leased secret to register (`secret` in Vault's logical response). */
export interface SecretSpec {
  /** Default TTL in seconds for issue and for renewals without an increment (e.g. role `default_ttl`; 0 = mount default). */
  ttl: number;
  /** Maximum TTL in seconds measured from issue time (e.g. role `max_ttl`; 0 = mount max). */
  maxTtl: number;
  renewable: boolean;
  /** Backend-private data kept with the lease (e.g. `{ username, role, db_name }`); never returned to clients. */
  internal: Record<string, unknown>;
}

/** A token to create for a successful login (`auth` in Vault's logical response). */
export interface AuthSpec {
  /** Token policies (without `default`, which the framework adds unless `noDefaultPolicy`). */
  policies: string[];
  /** Token TTL in seconds (0 = mount/system default). */
  ttl: number;
  /** Max TTL in seconds from issue time (0 = mount/system max). */
  maxTtl: number;
  /** Periodic token: every renewal resets the TTL to this (seconds). */
  period?: number;
  explicitMaxTtl?: number;
  renewable: boolean;
  /** 0 = unlimited uses. */
  numUses?: number;
  /** e.g. `approle`, `userpass-alice`, `jwt-<sub>`. */
  displayName: string;
  /** Returned as `auth.metadata` and kept on the token. */
  metadata: Record<string, string>;
  tokenType?: 'service' | 'batch';
  noDefaultPolicy?: boolean;
  /** CIDRs the token may be used from. */
  boundCidrs?: string[];
  /** Backend-private data kept with the token (e.g. the role name, for renewals). */
  internal?: Record<string, unknown>;
}

/** What a backend returns. Every field is optional; an empty object is a 204 for writes. */
export interface LogicalResponse {
  data?: Record<string, unknown> | null;
  /** Register a lease for this response (the secret's data is `data`). */
  secret?: SecretSpec;
  /** Create a token for this response (login). */
  auth?: AuthSpec;
  warnings?: string[];
  /**
   * Send the whole envelope with this status instead of 200 (Vault's `RespondWithStatusCode`): e.g. KV v2's 404 for
   * a deleted version with its metadata, or transit's 400 with `batch_results`.
   */
  statusCode?: number;
  /**
   * Top-level lease fields without registering a lease (KV v1 answers a secret written with `ttl` with
   * `lease_duration` set and an empty `lease_id`).
   */
  leaseFields?: { lease_id: string; lease_duration: number; renewable: boolean };
  /** A non-enveloped response (e.g. PKI's `ca/pem`): written as is. */
  raw?: { status: number; contentType: string; body: string | Buffer };
}

/** A registered lease, as the framework hands it back to the backend that created it. */
export interface LeaseView {
  readonly leaseId: string;
  /** Request path that created it, relative to the mount (e.g. `creds/app`). */
  readonly path: string;
  readonly internal: Readonly<Record<string, unknown>>;
  /** Issue time (ms since epoch). */
  readonly issueTime: number;
  /** Current expiry (ms since epoch). */
  readonly expireTime: number;
}

/** A token created by an auth backend, handed back to it on renewal. */
export interface TokenView {
  readonly accessor: string;
  readonly policies: readonly string[];
  readonly metadata: Readonly<Record<string, string>>;
  readonly internal: Readonly<Record<string, unknown>>;
  readonly issueTime: number;
  readonly expireTime: number;
}

/** One mounted engine or auth method. */
export interface Backend {
  /** Mount type, e.g. `kv`, `database`, `approle`. */
  readonly type: string;
  /**
   * Paths (relative to the mount) that need no token, as Vault's `PathsSpecial.Unauthenticated`: exact paths, or
   * prefixes ending in `*` (e.g. `['login', 'login/*']`).
   */
  readonly unauthenticatedPaths?: readonly string[];
  /** Handles one request. Return `null` for "nothing here" (404 on read/list, 204 otherwise). */
  handle(request: LogicalRequest): Promise<LogicalResponse | null>;
  /**
   * Existence check for ACL `create` vs `update` (Vault's `ExistenceCheck`). When absent, a write is an `update`
   * for ACL purposes.
   */
  exists?(request: LogicalRequest): Promise<boolean>;
  /**
   * Renew side effects for a lease this backend created (e.g. `ALTER ROLE … VALID UNTIL`). The framework has already
   * computed the new expiry with `CalculateTTL` and passes it (ms since epoch); throw to fail the renewal.
   */
  renewSecret?(lease: LeaseView, newExpireTime: number): Promise<void>;
  /** Revoke a lease this backend created (explicit revoke, expiry, token revocation, mount disable). */
  revokeSecret?(lease: LeaseView): Promise<void>;
  /**
   * Re-validate a token this auth backend created before it is renewed (e.g. AppRole re-reads the role: deleted role
   * → throw; a lowered `token_max_ttl` → return it). Return `undefined` to keep the token's own limits.
   */
  renewAuth?(token: TokenView): Promise<{ ttl?: number; maxTtl?: number; period?: number } | undefined>;
  /** Called when the mount is disabled or the server closes: stop timers, close pools. */
  close?(): Promise<void>;
}

/** What the framework gives a backend when it is mounted. */
export interface BackendContext {
  /** Mount path with trailing slash (`database/`, `auth/approle/`). */
  readonly mountPath: string;
  /** Mount options (e.g. `{ version: '2' }` for KV). */
  readonly options: Readonly<Record<string, string>>;
  /** Effective default lease TTL for this mount in seconds (live: reflects `sys/mounts/:path/tune`). */
  defaultLeaseTtl(): number;
  /** Effective max lease TTL for this mount in seconds (live). */
  maxLeaseTtl(): number;
  /** Current time in ms (the server's clock; tests of the server may inject one). */
  now(): number;
  /**
   * The server's clock, for the backend's own timers (e.g. static-role rotation): start them with
   * `clock.setTimeout` so that a `ManualClock` given to `startDevServer({ clock })` drives them (any delay works; the
   * timers are `unref()`ed; clear them in {@link Backend.close}). Return the timer's async work from the callback so
   * that the manual clock waits for it.
   */
  readonly clock: Clock;
  /** Revoke every lease under a prefix of this mount (e.g. when a role is deleted). */
  revokeLeasesWithPrefix(prefix: string): Promise<void>;
  /** Diagnostic log that never receives secret values (callers must not pass any). */
  log(level: 'debug' | 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>): void;
}

/** Creates a backend for a new mount. */
export type BackendFactory = (context: BackendContext) => Backend | Promise<Backend>;

/** A Vault error response: `{"errors": [...]}` with an HTTP status. */
export class LogicalError extends Error {
  readonly status: number;
  readonly errors: string[];
  /** Optional envelope data (rare: e.g. transit batch failures carry `batch_results`). */
  readonly data: Record<string, unknown> | undefined;

  constructor(status: number, message: string | string[], data?: Record<string, unknown>) {
    const errors = Array.isArray(message) ? message : [message];
    super(errors.join('; ') || `HTTP ${status}`);
    this.name = 'LogicalError';
    this.status = status;
    this.errors = errors;
    this.data = data;
  }
}

/** 400 with Vault's message (a backend "error response"). */
export const badRequest = (message: string): LogicalError => new LogicalError(400, message);
/** 403 `permission denied`. */
export const permissionDenied = (): LogicalError => new LogicalError(403, 'permission denied');
/** 404 with an empty `errors` array, as Vault answers a missing entry. */
export const notFound = (message?: string): LogicalError => new LogicalError(404, message ? [message] : []);
/** 405 `unsupported operation`. */
export const unsupportedOperation = (): LogicalError => new LogicalError(405, 'unsupported operation');
