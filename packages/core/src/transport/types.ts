/**
 * The wire contract between the client and Vault: {@link Transport} sends one logical request (with retries,
 * timeouts, the circuit breaker and error mapping) and returns the parsed response.
 */
import type { Redacted } from '../redacted.js';

/** HTTP methods Vault understands. `LIST` is sent as `GET ?list=true`. */
export type VaultMethod = 'GET' | 'LIST' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'HEAD';

/** The `auth` block of a login or token renewal (https://developer.hashicorp.com/vault/api-docs/auth/token#renew-a-token-self). */
export interface VaultAuth {
  client_token: string;
  accessor: string;
  policies: string[] | null;
  token_policies?: string[] | null;
  identity_policies?: string[] | null;
  metadata: Record<string, string> | null;
  lease_duration: number;
  renewable: boolean;
  entity_id?: string;
  token_type?: 'service' | 'batch' | string;
  orphan?: boolean;
  num_uses?: number;
}

/** `wrap_info` of a response-wrapped reply (https://developer.hashicorp.com/vault/docs/concepts/response-wrapping). */
export interface VaultWrapInfo {
  token: string;
  accessor: string;
  ttl: number;
  creation_time: string;
  creation_path: string;
  wrapped_accessor?: string;
}

/** Vault's success envelope, with its wire field names. */
export interface VaultEnvelope<TData = Record<string, unknown>> {
  request_id: string;
  lease_id: string;
  renewable: boolean;
  lease_duration: number;
  data: TData | null;
  wrap_info: VaultWrapInfo | null;
  warnings: string[] | null;
  auth: VaultAuth | null;
  mount_type?: string;
}

/** A response as returned by {@link Transport.request}. */
export interface VaultResponse<TBody = VaultEnvelope> {
  /** HTTP status (2xx, or a status listed in {@link TransportRequestOptions.acceptStatus}). */
  status: number;
  /** Lower-cased response headers. */
  headers: Record<string, string>;
  /** Parsed JSON body; `undefined` for 204 and empty bodies. */
  body: TBody | undefined;
}

/** Options of one request. */
export interface TransportRequestOptions {
  /** JSON body (sent as `application/json`). Never logged, never put in an error. */
  body?: unknown;
  /** Query parameters (e.g. `{ version: 2 }`). */
  query?: Record<string, string | number | boolean | undefined>;
  /** Token to send as `X-Vault-Token`. Omit for unauthenticated paths and when talking through Vault Agent. */
  token?: Redacted<string> | undefined;
  /** Extra headers (e.g. `X-Vault-Wrap-TTL`). */
  headers?: Record<string, string>;
  /** Cancels the request (and its retries). */
  signal?: AbortSignal | undefined;
  /** Per-attempt timeout in ms (default: the client's `timeoutMs`). */
  timeoutMs?: number;
  /** `false` disables retries for this request (e.g. logins have their own backoff). Default true. */
  retry?: boolean;
  /** `false` bypasses the circuit breaker (used by its own probes). Default true. */
  circuitBreaker?: boolean;
  /** Error statuses to return instead of throwing (e.g. `[404]` for KV v2 deleted versions, `[429, 503]` for health). */
  acceptStatus?: readonly number[];
  /** Low-cardinality path template (`database/creds/:role`) for telemetry; the transport itself ignores it. */
  template?: string;
  /** Called before each retry with the number of the attempt that failed (telemetry counts the resends). */
  onRetry?: (attempt: number) => void;
}

/** Sends requests to Vault. The HTTP implementation is `HttpTransport`; unit tests inject their own. */
export interface Transport {
  /**
   * Sends `method path` (path relative to `/v1/`, no leading slash needed) and returns the parsed response.
   * Throws a {@link VaultError} for error statuses (unless accepted), network errors, timeouts and an open circuit.
   */
  request<TBody = VaultEnvelope>(
    method: VaultMethod,
    path: string,
    options?: TransportRequestOptions,
  ): Promise<VaultResponse<TBody>>;
  /** Releases connections and timers. */
  close(): Promise<void>;
}
