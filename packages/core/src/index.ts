/**
 * @packageDocumentation
 * Framework-agnostic HashiCorp Vault client for Node.js: auth, token and lease lifecycle, secret cache,
 * KV/database/transit/PKI engines.
 *
 * ```ts
 * import { createVault, auth } from '@leasehold/core';
 * const vault = createVault({ auth: auth.appRole({ roleId, secretIdFile: '/run/secrets/secret-id' }) });
 * await vault.ready({ timeoutMs: 5000 });
 * const res = await vault.request('GET', 'secret/data/app');
 * await vault.close();
 * ```
 */
import { agent, appRole, cert, jwt, kubernetes, token, userpass } from './auth/methods.js';

/** Built-in auth methods. */
export const auth = { token, appRole, kubernetes, jwt, userpass, cert, agent } as const;

export type {
  AppRoleOptions,
  CertOptions,
  JwtOptions,
  KubernetesOptions,
  SecretInput,
  TokenAuthOptions,
  UserpassOptions,
} from './auth/methods.js';
export { KUBERNETES_TOKEN_FILE, loginResultFromEnvelope } from './auth/methods.js';
export type { AuthMethod, LoginContext, LoginResult } from './auth/types.js';
export { type Clock, defaultRandom, type RandomSource, systemClock, type TimerHandle } from './clock.js';
export type { TlsOptions, VaultOptions } from './config.js';
export { VaultError, VaultErrorCode, type VaultErrorOptions } from './errors.js';
export type { Listener, LoginReason, VaultEvents } from './events.js';
export {
  type BackoffOptions,
  calculateGrace,
  calculateSleep,
  type ExpiringReason,
  ExponentialBackoff,
  hasCappedWarning,
  LifetimeSchedule,
  type LifetimeScheduleOptions,
  type LifetimeStep,
  RENEW_BACKOFF,
  type RenewedInfo,
} from './lifetime.js';
export type { LogFn, Logger } from './logger.js';
export { Redacted } from './redacted.js';
export type { CircuitBreakerOptions } from './transport/circuit.js';
export type { RetryOptions } from './transport/http.js';
export type {
  Transport,
  TransportRequestOptions,
  VaultAuth,
  VaultEnvelope,
  VaultMethod,
  VaultResponse,
  VaultWrapInfo,
} from './transport/types.js';
export { createVault, Vault, type VaultHealth, type VaultRequestOptions } from './vault.js';
