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
import {
  COUNTERS,
  type CounterName,
  type CounterSpec,
  DEFAULT_BUCKETS,
  GAUGES,
  type MetricLabels,
  REQUEST_DURATION,
  subscribeMetrics,
} from './spec.js';

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
  const withExtra = (labels: MetricLabels): MetricLabels => ({ ...labels, ...extra });

  const counters = new Map<CounterName, Counter<string>>();
  for (const [name, spec] of Object.entries(COUNTERS) as [CounterName, CounterSpec][]) {
    names.push(p + name);
    counters.set(
      name,
      new Counter<string>({
        name: p + name,
        help: spec.help,
        labelNames: [...spec.labels, ...extraNames],
        registers,
      }),
    );
  }

  names.push(p + REQUEST_DURATION.name);
  const duration = new Histogram<string>({
    name: p + REQUEST_DURATION.name,
    help: REQUEST_DURATION.help,
    labelNames: [...REQUEST_DURATION.labels, ...extraNames],
    buckets: options.buckets ?? [...DEFAULT_BUCKETS],
    registers,
  });

  const subscription = subscribeMetrics(vault, {
    count: (name, labels) => counters.get(name)?.inc(withExtra(labels)),
    duration: (labels, value) => duration.observe(withExtra(labels), value),
  });

  names.push(`${p}token_ttl_seconds`);
  new Gauge<string>({
    name: `${p}token_ttl_seconds`,
    help: GAUGES.token_ttl_seconds.help,
    labelNames: extraNames,
    registers,
    collect() {
      this.set(extra, subscription.tokenTtl());
    },
  });

  names.push(`${p}lease_ttl_seconds`);
  new Gauge<string>({
    name: `${p}lease_ttl_seconds`,
    help: GAUGES.lease_ttl_seconds.help,
    labelNames: [...GAUGES.lease_ttl_seconds.labels, ...extraNames],
    registers,
    collect() {
      this.reset();
      for (const { labels, ttl } of subscription.leaseTtls()) this.set(withExtra(labels), ttl);
    },
  });

  names.push(`${p}circuit_open`);
  new Gauge<string>({
    name: `${p}circuit_open`,
    help: GAUGES.circuit_open.help,
    labelNames: extraNames,
    registers,
    collect() {
      this.set(extra, subscription.circuitOpen());
    },
  });

  let done = false;
  return {
    names,
    unregister() {
      if (done) return;
      done = true;
      subscription.off();
      for (const name of names) registry.removeSingleMetric(name);
    },
  };
}
