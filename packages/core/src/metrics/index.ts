/**
 * `@leasehold/core/metrics`: Prometheus metrics for a Vault client, built only from its events (and, for gauges,
 * from `vault.health()` / `vault.leases.list()` at scrape time). `prom-client` is an optional peer dependency:
 * install it to use this entry point.
 *
 * ```ts
 * import { register } from 'prom-client';
 * import { registerVaultMetrics } from '@leasehold/core/metrics';
 * const metrics = registerVaultMetrics(vault, { registry: register });
 * // … GET /metrics → await register.metrics()
 * metrics.unregister();
 * ```
 *
 * No label ever carries a secret: leases are labelled by path, requests by path template.
 */
import { Counter, Gauge, register as globalRegistry, Histogram, type Registry } from 'prom-client';
import type { Vault } from '../vault.js';

/** Options of {@link registerVaultMetrics}. */
export interface VaultMetricsOptions {
  /** Registry to register in (default: prom-client's global registry). */
  registry?: Registry;
  /** Metric name prefix (default `leasehold_vault_`). */
  prefix?: string;
  /** Request duration buckets, seconds. */
  buckets?: number[];
  /** Extra labels on every metric (e.g. `{ client: 'primary' }` when several clients share a registry). */
  labels?: Record<string, string>;
}

/** Handle returned by {@link registerVaultMetrics}. */
export interface VaultMetrics {
  /** Names of the registered metrics. */
  readonly names: readonly string[];
  /** Stops listening and removes the metrics from the registry. */
  unregister(): void;
}

const DEFAULT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/**
 * Registers the client's metrics:
 * - `logins_total{method,reason}`, `login_failures_total{method,code}`, `token_ttl_seconds`,
 *   `token_renewals_total{result}`;
 * - `lease_ttl_seconds{path,key}` (per lease handle), `lease_renewals_total{path,result}` (`success` / `capped` /
 *   `failure`), `lease_rotations_total{path,reason}`, `lease_issue_failures_total{path,code}`,
 *   `lease_expired_total{path}`, `lease_revocations_total{path,reason}`;
 * - `request_duration_seconds{method,template,status}` (status: HTTP status, or the error code without one);
 * - `cache_requests_total{mount,result}` (`hit` / `miss` / `stale`);
 * - `circuit_open` (1 while open) and `circuit_transitions_total{state}`.
 */
export function registerVaultMetrics(vault: Vault, options: VaultMetricsOptions = {}): VaultMetrics {
  const registry = options.registry ?? globalRegistry;
  const p = options.prefix ?? 'leasehold_vault_';
  const extra = options.labels ?? {};
  const extraNames = Object.keys(extra);
  const registers = [registry];
  const names: string[] = [];
  const counter = <L extends string>(name: string, help: string, labelNames: L[]) => {
    names.push(p + name);
    return new Counter<string>({
      name: p + name,
      help,
      labelNames: [...labelNames, ...extraNames],
      registers,
    });
  };
  const withExtra = (labels: Record<string, string | number>): Record<string, string | number> => ({
    ...labels,
    ...extra,
  });

  const logins = counter('logins_total', 'Successful Vault logins', ['method', 'reason']);
  const loginFailures = counter('login_failures_total', 'Failed Vault logins', ['method', 'code']);
  const tokenRenewals = counter('token_renewals_total', 'Token renewals by result', ['result']);
  const leaseRenewals = counter('lease_renewals_total', 'Lease renewals by result', ['path', 'result']);
  const rotations = counter('lease_rotations_total', 'Lease re-issues (rotations) by reason', [
    'path',
    'reason',
  ]);
  const issueFailures = counter('lease_issue_failures_total', 'Failed lease issues', ['path', 'code']);
  const expired = counter('lease_expired_total', 'Lease values that ended before a replacement', ['path']);
  const revocations = counter('lease_revocations_total', 'Leases revoked, by reason', ['path', 'reason']);
  const cache = counter('cache_requests_total', 'Static secret cache lookups by result', ['mount', 'result']);
  const circuitTransitions = counter('circuit_transitions_total', 'Circuit breaker transitions', ['state']);

  names.push(`${p}request_duration_seconds`);
  const duration = new Histogram<string>({
    name: `${p}request_duration_seconds`,
    help: 'Vault request duration by path template and status',
    labelNames: ['method', 'template', 'status', ...extraNames],
    buckets: options.buckets ?? DEFAULT_BUCKETS,
    registers,
  });

  names.push(`${p}token_ttl_seconds`);
  new Gauge<string>({
    name: `${p}token_ttl_seconds`,
    help: 'Remaining TTL of the client token (0 when none or no expiry)',
    labelNames: extraNames,
    registers,
    collect() {
      this.set(extra, vault.closed ? 0 : (vault.health().token?.ttl ?? 0));
    },
  });

  names.push(`${p}lease_ttl_seconds`);
  new Gauge<string>({
    name: `${p}lease_ttl_seconds`,
    help: 'Remaining TTL of the value held by each lease handle',
    labelNames: ['path', 'key', ...extraNames],
    registers,
    collect() {
      this.reset();
      for (const lease of vault.leases.list())
        this.set(withExtra({ path: lease.path, key: lease.key }), lease.ttl);
    },
  });

  names.push(`${p}circuit_open`);
  let circuitOpen = 0;
  new Gauge<string>({
    name: `${p}circuit_open`,
    help: '1 while the circuit breaker is open (Vault unreachable or sealed)',
    labelNames: extraNames,
    registers,
    collect() {
      this.set(extra, vault.closed ? circuitOpen : vault.health().circuit.open ? 1 : 0);
    },
  });

  const offs = [
    vault.on('login', (e) => logins.inc(withExtra({ method: e.method, reason: e.reason }))),
    vault.on('login:failed', (e) => loginFailures.inc(withExtra({ method: e.method, code: e.code }))),
    vault.on('token:renewed', (e) =>
      tokenRenewals.inc(withExtra({ result: e.capped ? 'capped' : 'success' })),
    ),
    vault.on('token:renew-failed', () => tokenRenewals.inc(withExtra({ result: 'failure' }))),
    vault.on('lease:renewed', (e) =>
      leaseRenewals.inc(withExtra({ path: e.path, result: e.capped ? 'capped' : 'success' })),
    ),
    vault.on('lease:renew-failed', (e) => leaseRenewals.inc(withExtra({ path: e.path, result: 'failure' }))),
    vault.on('lease:rotated', (e) => rotations.inc(withExtra({ path: e.path, reason: e.reason }))),
    vault.on('lease:issue-failed', (e) => issueFailures.inc(withExtra({ path: e.path, code: e.code }))),
    vault.on('lease:expired', (e) => expired.inc(withExtra({ path: e.path }))),
    vault.on('lease:revoked', (e) => revocations.inc(withExtra({ path: e.path, reason: e.reason }))),
    vault.on('cache:hit', (e) => cache.inc(withExtra({ mount: e.mount, result: 'hit' }))),
    vault.on('cache:miss', (e) => cache.inc(withExtra({ mount: e.mount, result: 'miss' }))),
    vault.on('cache:stale', (e) => cache.inc(withExtra({ mount: e.mount, result: 'stale' }))),
    vault.on('circuit:open', () => {
      circuitOpen = 1;
      circuitTransitions.inc(withExtra({ state: 'open' }));
    }),
    vault.on('circuit:close', () => {
      circuitOpen = 0;
      circuitTransitions.inc(withExtra({ state: 'closed' }));
    }),
    vault.on('request', (e) =>
      duration.observe(
        withExtra({ method: e.method, template: e.template, status: String(e.status ?? e.code ?? 'error') }),
        e.durationMs / 1000,
      ),
    ),
  ];

  let done = false;
  return {
    names,
    unregister() {
      if (done) return;
      done = true;
      for (const off of offs) off();
      for (const name of names) registry.removeSingleMetric(name);
    },
  };
}
