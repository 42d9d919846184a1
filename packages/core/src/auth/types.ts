/**
 * The auth-method contract. A method knows how to obtain a token; the TokenManager decides when.
 * A custom method implements {@link AuthMethod} (one `login()`), e.g. for an auth mount this library does not ship.
 */
import type { Redacted } from '../redacted.js';
import type {
  TransportRequestOptions,
  VaultEnvelope,
  VaultMethod,
  VaultResponse,
} from '../transport/types.js';

/** What `login()` can use. Requests sent through it carry no client token and are not retried. */
export interface LoginContext {
  /** Sends a request without the client token (logins are unauthenticated). */
  request<TBody = VaultEnvelope>(
    method: VaultMethod,
    path: string,
    options?: TransportRequestOptions,
  ): Promise<VaultResponse<TBody>>;
  /** Reads a credential file (token, secret id, service-account JWT) fresh, as UTF-8 with whitespace trimmed. */
  readFile(path: string, option: string): Promise<Redacted<string>>;
  /** Aborted when the client closes. */
  signal: AbortSignal;
}

/** The token a login produced. */
export interface LoginResult {
  token: Redacted<string>;
  /** Token accessor: the only way the library names a token in logs and events. */
  accessor: string;
  /** TTL in seconds at login (0 = never expires). */
  ttl: number;
  renewable: boolean;
  policies: readonly string[];
  /** True when the token was supplied by the user (auth.token, agent): the library never revokes it. */
  userProvided: boolean;
  /**
   * Increment (seconds) to ask on renewals when `token.incrementSeconds` is not set; default `ttl`. A looked-up
   * token passes its `creation_ttl` here, since its remaining `ttl` may already be short.
   */
  renewIncrement?: number;
}

/** An auth method. */
export interface AuthMethod {
  /** Method type for logs and events, e.g. `approle`. */
  readonly type: string;
  /** Mount path, e.g. `approle` (requests go to `auth/<mount>/…`). */
  readonly mount: string;
  /**
   * `true` for Vault Agent/Proxy mode: the client sends no token (the agent injects its own) and never logs in,
   * renews or revokes.
   */
  readonly agent?: boolean;
  /** `true` when the method needs the client TLS certificate (cert auth): `createVault` checks that one is set. */
  readonly requiresClientCertificate?: boolean;
  /** Obtains a token. Throw a `VaultError` (`VAULT_LOGIN_FAILED` for rejected credentials). */
  login(context: LoginContext): Promise<LoginResult>;
}
