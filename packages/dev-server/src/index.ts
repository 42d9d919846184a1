/**
 * @packageDocumentation
 * A Vault-API-compatible in-memory server for tests and demos: tokens, ACLs, leases, response wrapping, KV v1/v2
 * and pluggable engines, with a test-control surface (sealing, latency, failures, dropped connections, request log).
 * A development tool: in memory, no persistence, no HA — never for production.
 */

export type {
  DropRule,
  FailRule,
  LatencyRule,
  RequestLogEntry,
  RequestLogFilter,
  RequestMatcher,
} from './core/control.js';
export type { LeaseRevocationOptions } from './core/leases.js';
export type { DevServerLogger } from './core/types.js';
export { authMethods, secretEngines } from './registry.js';
export * from './sdk/index.js';
export type { DevServer, DevServerOptions, DevServerTlsMaterial } from './server.js';
export { MAX_REQUEST_BYTES, startDevServer } from './server.js';
export type { Clock, TimerHandle } from './util/clock.js';
export { ManualClock, systemClock } from './util/clock.js';
export { formatGoDuration, formatVaultDuration } from './util/duration.js';
