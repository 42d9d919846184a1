/**
 * The client's metric set, defined once: names, help, labels, units and which event feeds each. The Prometheus
 * entry point (`@leasehold/core/metrics`) and the OpenTelemetry one (`@leasehold/core/otel`) both build their
 * instruments from this table, so the two always carry the same metrics under the same names.
 */
import type { Vault } from '../vault.js';

/** Labels of one observation. */
export type MetricLabels = Record<string, string>;

/** A counter of the set; `unit` is the OpenTelemetry (UCUM) unit. */
export interface CounterSpec {
  readonly help: string;
  readonly labels: readonly string[];
  readonly unit: string;
}

/** The counters, by name without prefix. */
export const COUNTERS = {
  logins_total: { help: 'Successful Vault logins', labels: ['method', 'reason'], unit: '{login}' },
  login_failures_total: { help: 'Failed Vault logins', labels: ['method', 'code'], unit: '{login}' },
  token_renewals_total: { help: 'Token renewals by result', labels: ['result'], unit: '{renewal}' },
  lease_renewals_total: { help: 'Lease renewals by result', labels: ['path', 'result'], unit: '{renewal}' },
  lease_rotations_total: {
    help: 'Lease re-issues (rotations) by reason',
    labels: ['path', 'reason'],
    unit: '{rotation}',
  },
  lease_issue_failures_total: { help: 'Failed lease issues', labels: ['path', 'code'], unit: '{issue}' },
  lease_expired_total: {
    help: 'Lease values that ended before a replacement',
    labels: ['path'],
    unit: '{lease}',
  },
  lease_revocations_total: { help: 'Leases revoked, by reason', labels: ['path', 'reason'], unit: '{lease}' },
  cache_requests_total: {
    help: 'Static secret cache lookups by result',
    labels: ['mount', 'result'],
    unit: '{request}',
  },
  circuit_transitions_total: { help: 'Circuit breaker transitions', labels: ['state'], unit: '{transition}' },
} as const satisfies Record<string, CounterSpec>;

/** Name (without prefix) of a counter. */
export type CounterName = keyof typeof COUNTERS;

/** The request duration histogram. */
export const REQUEST_DURATION = {
  name: 'request_duration_seconds',
  help: 'Vault request duration by path template and status',
  labels: ['method', 'template', 'status'],
  unit: 's',
} as const;

/** Default request duration buckets, seconds. */
export const DEFAULT_BUCKETS: readonly number[] = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
];

/** The gauges, read at collection time. */
export const GAUGES = {
  token_ttl_seconds: {
    help: 'Remaining TTL of the client token (0 when none or no expiry)',
    labels: [],
    unit: 's',
  },
  lease_ttl_seconds: {
    help: 'Remaining TTL of the value held by each lease handle',
    labels: ['path', 'key'],
    unit: 's',
  },
  circuit_open: {
    help: '1 while the circuit breaker is open (Vault unreachable or sealed)',
    labels: [],
    unit: '1',
  },
} as const;

/** Where {@link subscribeMetrics} sends observations. */
export interface MetricSink {
  count(name: CounterName, labels: MetricLabels): void;
  /** A request duration, seconds. */
  duration(labels: MetricLabels, seconds: number): void;
}

/** What {@link subscribeMetrics} returns: the gauges' readings and the unsubscribe. */
export interface MetricSubscription {
  /** Remaining TTL of the client token, seconds. */
  tokenTtl(): number;
  /** Remaining TTL of each lease handle's value, seconds. */
  leaseTtls(): { labels: MetricLabels; ttl: number }[];
  /** 1 while the circuit is open (after `close()`: as last seen). */
  circuitOpen(): number;
  /** Stops listening. */
  off(): void;
}

/** Feeds `sink` from the client's events; the gauges read `vault.health()` / `vault.leases.list()`. */
export function subscribeMetrics(vault: Vault, sink: MetricSink): MetricSubscription {
  let circuitOpen = 0;
  const offs = [
    vault.on('login', (e) => sink.count('logins_total', { method: e.method, reason: e.reason })),
    vault.on('login:failed', (e) => sink.count('login_failures_total', { method: e.method, code: e.code })),
    vault.on('token:renewed', (e) =>
      sink.count('token_renewals_total', { result: e.capped ? 'capped' : 'success' }),
    ),
    vault.on('token:renew-failed', () => sink.count('token_renewals_total', { result: 'failure' })),
    vault.on('lease:renewed', (e) =>
      sink.count('lease_renewals_total', { path: e.path, result: e.capped ? 'capped' : 'success' }),
    ),
    vault.on('lease:renew-failed', (e) =>
      sink.count('lease_renewals_total', { path: e.path, result: 'failure' }),
    ),
    vault.on('lease:rotated', (e) => sink.count('lease_rotations_total', { path: e.path, reason: e.reason })),
    vault.on('lease:issue-failed', (e) =>
      sink.count('lease_issue_failures_total', { path: e.path, code: e.code }),
    ),
    vault.on('lease:expired', (e) => sink.count('lease_expired_total', { path: e.path })),
    vault.on('lease:revoked', (e) =>
      sink.count('lease_revocations_total', { path: e.path, reason: e.reason }),
    ),
    vault.on('cache:hit', (e) => sink.count('cache_requests_total', { mount: e.mount, result: 'hit' })),
    vault.on('cache:miss', (e) => sink.count('cache_requests_total', { mount: e.mount, result: 'miss' })),
    vault.on('cache:stale', (e) => sink.count('cache_requests_total', { mount: e.mount, result: 'stale' })),
    vault.on('circuit:open', () => {
      circuitOpen = 1;
      sink.count('circuit_transitions_total', { state: 'open' });
    }),
    vault.on('circuit:close', () => {
      circuitOpen = 0;
      sink.count('circuit_transitions_total', { state: 'closed' });
    }),
    vault.on('request', (e) =>
      sink.duration(
        { method: e.method, template: e.template, status: String(e.status ?? e.code ?? 'error') },
        e.durationMs / 1000,
      ),
    ),
  ];
  return {
    tokenTtl: () => (vault.closed ? 0 : (vault.health().token?.ttl ?? 0)),
    leaseTtls: () =>
      vault.leases.list().map((lease) => ({ labels: { path: lease.path, key: lease.key }, ttl: lease.ttl })),
    circuitOpen: () => (vault.closed ? circuitOpen : vault.health().circuit.open ? 1 : 0),
    off() {
      for (const off of offs) off();
    },
  };
}
