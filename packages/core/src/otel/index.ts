/**
 * `@leasehold/core/otel`: OpenTelemetry traces and metrics for a Vault client. `@opentelemetry/api` is an optional
 * peer dependency: install it to use this entry point. Without an OpenTelemetry SDK registered the API is a
 * no-op; without `instrumentVault()` the client does not touch OpenTelemetry at all.
 *
 * ```ts
 * import { instrumentVault } from '@leasehold/core/otel';
 * const telemetry = instrumentVault(vault); // global tracer and meter providers
 * // …
 * telemetry.uninstall();
 * ```
 *
 * - **Traces**: one `CLIENT` span per Vault HTTP request (engine requests, logins, `renew-self`, lease renewals and
 *   revocations), named `<METHOD> <route>` (`GET database/creds/{role}`), parented to the caller's active span,
 *   with `http.request.method`, `http.route`, `http.response.status_code`, `http.request.resend_count`,
 *   `error.type` (the `VaultErrorCode`) and `server.address` / `server.port`. Lifecycle span events
 *   (`vault.login`, `vault.token.renewed`, `vault.lease.issued` / `renewed` / `rotated` / `revoked` / `expired`)
 *   go on the active span, or on a short span of their own when the work runs in the background.
 * - **Metrics**: the same set, under the same names, as `@leasehold/core/metrics` (Prometheus), with
 *   semantic-convention units (`s`, `{login}`, …).
 *
 * No span or metric carries a token, a secret, a lease id, a request path (only its template) or a body.
 */
import {
  type Attributes,
  type Context,
  context,
  type MeterProvider,
  metrics,
  type ObservableGauge,
  type ObservableResult,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  type TracerProvider,
  trace,
} from '@opentelemetry/api';
import { z } from 'zod';
import { VaultError, VaultErrorCode } from '../errors.js';
import type { VaultEvents } from '../events.js';
import {
  COUNTERS,
  type CounterName,
  DEFAULT_BUCKETS,
  GAUGES,
  type MetricLabels,
  REQUEST_DURATION,
  subscribeMetrics,
} from '../metrics/spec.js';
import type { RequestTelemetry } from '../transport/observed.js';
import { parseOptions, strictBoolean } from '../validation.js';
import { pathTemplate, type Vault } from '../vault.js';

/** Instrumentation scope name of the tracer and the meter. */
export const INSTRUMENTATION_NAME = '@leasehold/core';

/** Options of {@link instrumentVault}. */
export interface VaultTelemetryOptions {
  /** Tracer provider (default: the global one, `trace.getTracerProvider()`). */
  tracerProvider?: TracerProvider;
  /** Meter provider (default: the global one, `metrics.getMeterProvider()`). */
  meterProvider?: MeterProvider;
  /** Create spans (default true). `false`: requests are not wrapped at all. */
  traces?: boolean;
  /** Create metrics (default true). */
  metrics?: boolean;
  /** Metric name prefix (default `leasehold_vault_`, as `@leasehold/core/metrics`). */
  prefix?: string;
  /** Request duration bucket boundaries, seconds (the histogram's advice; default as `@leasehold/core/metrics`). */
  buckets?: number[];
  /** Extra attributes on every metric point (e.g. `{ client: 'primary' }`). */
  attributes?: Record<string, string>;
}

/** Handle returned by {@link instrumentVault}. */
export interface VaultTelemetry {
  /** Names of the metric instruments created (empty with `metrics: false`). */
  readonly metricNames: readonly string[];
  /** Stops creating spans and metric points. Idempotent. */
  uninstall(): void;
}

const provider = (method: string) =>
  z.custom<object>(
    (v) =>
      typeof v === 'object' && v !== null && typeof (v as Record<string, unknown>)[method] === 'function',
    { message: `must be an OpenTelemetry provider (an object with ${method}())` },
  );

const optionsSchema = z.strictObject({
  tracerProvider: provider('getTracer').optional(),
  meterProvider: provider('getMeter').optional(),
  traces: strictBoolean.optional(),
  metrics: strictBoolean.optional(),
  prefix: z
    .string()
    .regex(/^[a-zA-Z_][a-zA-Z0-9_.]*$/, 'must be a metric name prefix (letters, digits, "_" and ".")')
    .optional(),
  buckets: z
    .array(z.number().positive('must be positive'), { error: 'must be a list of numbers' })
    .optional(),
  attributes: z.record(z.string(), z.string({ error: 'must be a string' })).optional(),
});

/**
 * Installs OpenTelemetry traces and metrics on a client. One installation per client at a time (a second throws
 * `VAULT_CONFIG`); `uninstall()` removes it.
 *
 * @example
 * ```ts
 * const telemetry = instrumentVault(vault, { tracerProvider, meterProvider });
 * ```
 */
export function instrumentVault(vault: Vault, options: VaultTelemetryOptions = {}): VaultTelemetry {
  const o = parseOptions(optionsSchema, options, 'instrumentVault');
  const offs: (() => void)[] = [];
  const metricNames: string[] = [];
  if (o.traces !== false) {
    const tracer = ((o.tracerProvider as TracerProvider | undefined) ?? trace.getTracerProvider()).getTracer(
      INSTRUMENTATION_NAME,
    );
    vault.setRequestTelemetry(requestSpans(tracer, serverAttributes(vault.address)));
    offs.push(() => vault.setRequestTelemetry(undefined));
    offs.push(lifecycleEvents(vault, tracer));
  }
  if (o.metrics !== false) {
    const meter = ((o.meterProvider as MeterProvider | undefined) ?? metrics.getMeterProvider()).getMeter(
      INSTRUMENTATION_NAME,
    );
    const p = o.prefix ?? 'leasehold_vault_';
    const extra = o.attributes ?? {};
    const withExtra = (labels: MetricLabels): Attributes => ({ ...labels, ...extra });
    const counters = new Map(
      (Object.keys(COUNTERS) as CounterName[]).map((name) => {
        metricNames.push(p + name);
        const spec = COUNTERS[name];
        return [name, meter.createCounter(p + name, { description: spec.help, unit: spec.unit })] as const;
      }),
    );
    metricNames.push(p + REQUEST_DURATION.name);
    const duration = meter.createHistogram(p + REQUEST_DURATION.name, {
      description: REQUEST_DURATION.help,
      unit: REQUEST_DURATION.unit,
      advice: { explicitBucketBoundaries: o.buckets ?? [...DEFAULT_BUCKETS] },
    });
    const subscription = subscribeMetrics(vault, {
      count: (name, labels) => counters.get(name)?.add(1, withExtra(labels)),
      duration: (labels, value) => duration.record(value, withExtra(labels)),
    });
    offs.push(() => subscription.off());
    const gauge = (name: keyof typeof GAUGES, observe: (result: ObservableResult) => void) => {
      metricNames.push(p + name);
      const instrument: ObservableGauge = meter.createObservableGauge(p + name, {
        description: GAUGES[name].help,
        unit: GAUGES[name].unit,
      });
      instrument.addCallback(observe);
      offs.push(() => instrument.removeCallback(observe));
    };
    gauge('token_ttl_seconds', (r) => r.observe(subscription.tokenTtl(), extra));
    gauge('lease_ttl_seconds', (r) => {
      for (const { labels, ttl } of subscription.leaseTtls()) r.observe(ttl, withExtra(labels));
    });
    gauge('circuit_open', (r) => r.observe(subscription.circuitOpen(), extra));
  }
  let done = false;
  return {
    metricNames,
    uninstall() {
      if (done) return;
      done = true;
      for (const off of offs) off();
    },
  };
}

/** `server.address` / `server.port` of the Vault address (none for a `unix://` socket). */
function serverAttributes(address: string): Attributes {
  try {
    const url = new URL(address);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return {};
    const port = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
    return { 'server.address': url.hostname, 'server.port': port };
  } catch {
    return {};
  }
}

/** The parent for a new span: the active context, unless its span has ended (a timer set inside a request). */
function parentContext(): Context {
  const active = context.active();
  const span = trace.getSpan(active);
  return span === undefined || span.isRecording() || span.spanContext().traceFlags === 0
    ? active
    : trace.deleteSpan(active);
}

/** One CLIENT span per transport request. */
function requestSpans(tracer: Tracer, server: Attributes): RequestTelemetry {
  return {
    request(method, path, options, send) {
      const route = (options.template ?? pathTemplate(path)).replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, '{$1}');
      const attributes: Attributes = {
        'http.request.method': method === 'LIST' ? 'GET' : method,
        'http.route': route,
        ...server,
      };
      if (method === 'LIST') attributes['vault.operation'] = 'LIST';
      return tracer.startActiveSpan(
        `${method} ${route}`,
        { kind: SpanKind.CLIENT, attributes },
        parentContext(),
        async (span) => {
          let resends = 0;
          const onRetry = options.onRetry;
          try {
            const res = await send({
              ...options,
              onRetry: (attempt) => {
                resends = attempt;
                onRetry?.(attempt);
              },
            });
            span.setAttribute('http.response.status_code', res.status);
            return res;
          } catch (error) {
            const code = VaultError.is(error) ? error.code : VaultErrorCode.UNAVAILABLE;
            if (VaultError.is(error) && error.status !== undefined)
              span.setAttribute('http.response.status_code', error.status);
            span.setAttribute('error.type', code);
            span.setStatus({ code: SpanStatusCode.ERROR, message: code });
            throw error;
          } finally {
            if (resends > 0) span.setAttribute('http.request.resend_count', resends);
            span.end();
          }
        },
      );
    },
  };
}

/** Span events of the token's and the leases' lifecycle. Never an accessor, a lease id or a value. */
function lifecycleEvents(vault: Vault, tracer: Tracer): () => void {
  const record = (name: string, attributes: Attributes) => {
    const active = trace.getSpan(context.active());
    if (active?.isRecording()) {
      active.addEvent(name, attributes);
      return;
    }
    // Background work (a renewal timer, a re-login): a short span of its own carries the event.
    const span = tracer.startSpan(name, { kind: SpanKind.INTERNAL }, parentContext());
    span.addEvent(name, attributes);
    span.end();
  };
  const on = <K extends keyof VaultEvents>(
    event: K,
    name: string,
    attrs: (e: VaultEvents[K]) => Attributes,
  ) => vault.on(event, (e) => record(name, attrs(e)));
  const offs = [
    on('login', 'vault.login', (e) => ({
      'vault.auth.method': e.method,
      'vault.auth.mount': e.mount,
      'vault.login.reason': e.reason,
      'vault.token.ttl': e.ttl,
      'vault.token.renewable': e.renewable,
    })),
    on('login:failed', 'vault.login.failed', (e) => ({
      'vault.auth.method': e.method,
      'vault.auth.mount': e.mount,
      'error.type': e.code,
      'vault.login.attempt': e.attempt,
    })),
    on('token:renewed', 'vault.token.renewed', (e) => ({
      'vault.token.ttl': e.ttl,
      'vault.token.capped': e.capped,
    })),
    on('token:renew-failed', 'vault.token.renew_failed', (e) => ({ 'error.type': e.code })),
    on('lease:issued', 'vault.lease.issued', (e) => ({
      'vault.lease.path': e.path,
      'vault.lease.generation': e.generation,
      'vault.lease.ttl': e.ttl,
      'vault.lease.renewable': e.renewable,
    })),
    on('lease:renewed', 'vault.lease.renewed', (e) => ({
      'vault.lease.path': e.path,
      'vault.lease.ttl': e.ttl,
      'vault.lease.capped': e.capped,
    })),
    on('lease:rotated', 'vault.lease.rotated', (e) => ({
      'vault.lease.path': e.path,
      'vault.lease.generation': e.generation,
      'vault.lease.reason': e.reason,
    })),
    on('lease:revoked', 'vault.lease.revoked', (e) => ({
      'vault.lease.path': e.path,
      'vault.lease.reason': e.reason,
    })),
    on('lease:expired', 'vault.lease.expired', (e) => ({ 'vault.lease.path': e.path })),
  ];
  return () => {
    for (const off of offs) off();
  };
}
