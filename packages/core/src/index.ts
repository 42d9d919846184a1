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
import { type AwsAuthOptions, aws } from './auth/aws.js';
import { type AzureAuthOptions, azure } from './auth/azure.js';
import { type GcpAuthOptions, gcp } from './auth/gcp.js';
import {
  type AppRoleOptions,
  agent,
  appRole,
  type CertOptions,
  cert,
  type JwtOptions,
  jwt,
  type KubernetesOptions,
  kubernetes,
  type TokenAuthOptions,
  token,
  type UserpassOptions,
  userpass,
} from './auth/methods.js';
import type { AuthMethod } from './auth/types.js';

/** The built-in auth methods: each builds an {@link AuthMethod} for `createVault({ auth })`. */
export interface AuthMethods {
  /** An existing token (a value, or a file re-read on every login); a token you supply is never revoked. */
  readonly token: (options: TokenAuthOptions) => AuthMethod;
  /** AppRole login with a role id and (unless `bind_secret_id=false`) a secret id, plain or response-wrapped. */
  readonly appRole: (options: AppRoleOptions) => AuthMethod;
  /** Kubernetes login with the pod's service-account token, re-read on every login. */
  readonly kubernetes: (options: KubernetesOptions) => AuthMethod;
  /** JWT/OIDC login with a JWT given as a value or a file re-read on every login. */
  readonly jwt: (options: JwtOptions) => AuthMethod;
  /** Userpass login with a username and password. */
  readonly userpass: (options: UserpassOptions) => AuthMethod;
  /** TLS client-certificate login with the client certificate configured in `tls`. */
  readonly cert: (options?: CertOptions) => AuthMethod;
  /** Vault Agent / Vault Proxy mode: no login; the agent holds and renews the token. */
  readonly agent: () => AuthMethod;
  /** AWS IAM login: a signed `sts:GetCallerIdentity` from the AWS SDK credential chain, fresh for every login. */
  readonly aws: (options?: AwsAuthOptions) => AuthMethod;
  /** Google Cloud login (`gce` metadata identity token or `iam` signed JWT), fresh for every login. */
  readonly gcp: (options: GcpAuthOptions) => AuthMethod;
  /** Azure managed-identity login with a token from the instance metadata service. */
  readonly azure: (options: AzureAuthOptions) => AuthMethod;
}

/** Built-in auth methods, e.g. `auth.appRole({ roleId, secretIdFile })`; see {@link AuthMethods}. */
export const auth: AuthMethods = { token, appRole, kubernetes, jwt, userpass, cert, agent, aws, gcp, azure };

export type { AwsAuthOptions, AwsCredentialProvider, AwsCredentials } from './auth/aws.js';
export type { AzureAuthOptions } from './auth/azure.js';
export type { GcpAuthOptions } from './auth/gcp.js';

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
export type { Cached, CacheOptions } from './cache/secret-cache.js';
export { type Clock, defaultRandom, type RandomSource, systemClock, type TimerHandle } from './clock.js';
export type { TlsOptions, VaultOptions } from './config.js';
export type { DatabaseCredentialsOptions, StaticDatabaseCredentials } from './engines/database.js';
export { DatabaseEngine } from './engines/database.js';
export type {
  KvChange,
  KvGetOptions,
  KvMetadata,
  KvMountOptions,
  KvSecret,
  KvVersion,
  KvVersionMetadata,
  KvWatch,
  KvWatchOptions,
} from './engines/kv.js';
export { KvEngine } from './engines/kv.js';
export type { CertificateOptions, CertificateRequest, TlsContextOptions } from './engines/pki.js';
export { PkiEngine, tlsOptions } from './engines/pki.js';
export type { LeaseLookup, LeaseRenewal, SealStatus, SysHealth } from './engines/sys.js';
export { SysEngine } from './engines/sys.js';
export type {
  Ciphertext,
  Plaintext,
  TransitBatchOptions,
  TransitCryptOptions,
  TransitInput,
  TransitItemResult,
  TransitMountOptions,
} from './engines/transit.js';
export { TRANSIT_BATCH_SIZE, TransitEngine } from './engines/transit.js';
export { VaultError, VaultErrorCode, type VaultErrorOptions } from './errors.js';
export type { Listener, LoginReason, VaultEvents } from './events.js';
export type { DatabaseLeaseOptions, DatabaseLeaseSource } from './host/database-lease.js';
export type {
  AcceptsLease,
  CheckedDatabases,
  DatabaseClients,
  DatabaseFactory,
  DatabasesOptions,
  FactoryParameter,
  HostedDatabaseOptions,
  LeaseSourceKey,
} from './host/host.js';
export { LEASE_DEFAULTS } from './lease/lease.js';
export type { LeaseSummary } from './lease/manager.js';
export type { LeaseEventSink } from './lease/publisher.js';
export type {
  Certificate,
  DatabaseCredentials,
  Lease,
  LeaseError,
  LeaseEventMap,
  LeaseListener,
  LeaseOptions,
  LeaseReadyOptions,
  LeaseRotateEvent,
  LeaseSnapshot,
  LeaseState,
  RotateReason,
} from './lease/types.js';
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
  RENEW_SPREAD,
  type RenewedInfo,
  spreadRenewal,
  spreadWake,
  WAKE_SPREAD_MS,
  type WakeStep,
} from './lifetime.js';
export type { LogFn, Logger } from './logger.js';
export { Redacted } from './redacted.js';
export { checkDatabaseCredentials } from './source/database.js';
export {
  asSourceError,
  CredentialSourceError,
  type CredentialSourceErrorOptions,
  type SourceRef,
} from './source/errors.js';
export { createSourceLease, SOURCE_DEFAULTS } from './source/lease.js';
export type {
  CredentialBinding,
  CredentialSource,
  CredentialSourceErrorCode,
  SourcedValue,
  SourceFetchReason,
  SourceLease,
  SourceLeaseOptions,
} from './source/types.js';
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
export {
  type CloseOptions,
  createVault,
  isServing,
  pathTemplate,
  type ReadyOptions,
  type ServingOptions,
  Vault,
  type VaultHealth,
  type VaultRequestOptions,
} from './vault.js';
