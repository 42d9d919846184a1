/**
 * `@leasehold/core/otel` against the dev server and a real PostgreSQL, with the OpenTelemetry SDK's in-memory
 * exporters: the spans and metric points of a login, a KV read, a rotation and failed requests, and a scan of
 * every span name, attribute, event and metric attribute for the secrets the test used.
 */
import { type DevServer, startDevServer } from '@leasehold/dev-server';
import {
  createDatabaseRole,
  createTestDatabase,
  mountDatabaseEngine,
  type TestDatabase,
} from '@leasehold/test-env';
import type {} from '@leasehold/test-env/global-setup';
import { context, SpanStatusCode, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { auth, createVault, type Vault, VaultError } from '../../src/index.js';
import { registerVaultMetrics } from '../../src/metrics/index.js';
import { instrumentVault, type VaultTelemetry } from '../../src/otel/index.js';
import { LeakRecorder, rootClient, setupAppRole, writePolicy } from './helpers.js';

const recorder = new LeakRecorder();
const spans = new InMemorySpanExporter();
const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] });
const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
const reader = new PeriodicExportingMetricReader({
  exporter: metricExporter,
  exportIntervalMillis: 3_600_000,
});
const meterProvider = new MeterProvider({ readers: [reader] });
const contextManager = new AsyncLocalStorageContextManager();
const tracer = tracerProvider.getTracer('otel-test');

let db: TestDatabase;
let server: DevServer;
let root: Vault;
let app: Vault;
let telemetry: VaultTelemetry;
/** Lease ids may appear in logs, never in telemetry (a lease id can embed a secret). */
const leaseIds: string[] = [];

const POLICY = `
path "secret/data/app" { capabilities = ["read"] }
path "database/creds/*" { capabilities = ["read"] }
path "sys/leases/revoke" { capabilities = ["update"] }
path "sys/leases/renew" { capabilities = ["update"] }
`;

async function collect(): Promise<ResourceMetrics> {
  metricExporter.reset();
  await reader.forceFlush();
  const all = metricExporter.getMetrics();
  const last = all[all.length - 1];
  if (!last) throw new Error('no metrics exported');
  return last;
}

function points(
  rm: ResourceMetrics,
  name: string,
): { attributes: Record<string, unknown>; value: unknown }[] {
  for (const scope of rm.scopeMetrics)
    for (const metric of scope.metrics)
      if (metric.descriptor.name === name)
        return metric.dataPoints.map((p) => ({ attributes: p.attributes, value: p.value }));
  return [];
}

/** Runs `fn` inside a recording parent span; returns the spans it produced and the parent. */
async function traced<T>(name: string, fn: () => Promise<T>): Promise<{ result: T; parent: ReadableSpan }> {
  const result = await tracer.startActiveSpan(name, async (span) => {
    try {
      return await fn();
    } finally {
      span.end();
    }
  });
  const parent = spans.getFinishedSpans().find((s) => s.name === name);
  if (!parent) throw new Error(`span ${name} not exported`);
  return { result, parent };
}

function childrenOf(parent: ReadableSpan): ReadableSpan[] {
  return spans.getFinishedSpans().filter((s) => s.parentSpanContext?.spanId === parent.spanContext().spanId);
}

beforeAll(async () => {
  context.setGlobalContextManager(contextManager.enable());
  db = await createTestDatabase(inject('pgSuperuserUrl'));
  await db.query('CREATE TABLE items (id int primary key)');
  server = await startDevServer();
  recorder.secret(server.rootToken);
  root = rootClient(server);
  await root
    .request('POST', 'sys/mounts/secret', { body: { type: 'kv', options: { version: '2' } } })
    .catch(() => undefined);
  await root.request('POST', 'secret/data/app', { body: { data: { apiKey: 'otel-kv-secret-value' } } });
  recorder.secret('otel-kv-secret-value');
  recorder.secret(decodeURIComponent(new URL(db.superuserUrl).password));
  await mountDatabaseEngine(server, db);
  await createDatabaseRole(server, 'app', { defaultTtl: '60s', maxTtl: '300s' });
  await writePolicy(root, 'otel-app', POLICY);
  const { roleId, secretId } = await setupAppRole(root, 'otel', {
    token_policies: 'otel-app',
    token_ttl: '60s',
  });
  recorder.secret(roleId, secretId);
  app = createVault({
    env: {},
    address: server.url,
    auth: recorder.recording(auth.appRole({ roleId, secretId })),
    logger: recorder.logger(),
    retry: { maxRetries: 2, initialDelayMs: 20, maxDelayMs: 40 },
  });
  recorder.watch(app);
  telemetry = instrumentVault(app, { tracerProvider, meterProvider, attributes: { client: 'app' } });
});

beforeEach(() => {
  spans.reset();
});

afterAll(async () => {
  telemetry?.uninstall();
  await app?.close();
  await root?.close();
  await server?.close();
  await db?.drop();
  await meterProvider.shutdown();
  await tracerProvider.shutdown();
  contextManager.disable();
  context.disable();
  expect(recorder.leaks()).toEqual([]);
});

describe('@leasehold/core/otel', () => {
  it('a login and a KV read: one span per request under the caller, the login as a span event, metrics', async () => {
    const { result, parent } = await traced('handler', () => app.kv.get<{ apiKey: string }>('app'));
    expect(result.data.reveal().apiKey).toBe('otel-kv-secret-value');
    const children = childrenOf(parent);
    // The login, the KV engine's mount lookup (KV version) and the read.
    expect(children.map((s) => s.name).sort()).toEqual([
      'GET secret/data/{path}',
      'GET sys/internal/ui/mounts/{mount}',
      'POST auth/approle/login',
    ]);
    const login = children.find((s) => s.name === 'POST auth/approle/login');
    expect(login?.attributes).toMatchObject({
      'http.request.method': 'POST',
      'http.route': 'auth/approle/login',
      'http.response.status_code': 200,
      'server.address': '127.0.0.1',
    });
    const read = children.find((s) => s.name === 'GET secret/data/{path}');
    expect(read?.attributes).toMatchObject({
      'http.route': 'secret/data/{path}',
      'http.response.status_code': 200,
    });
    expect(read?.status.code).not.toBe(SpanStatusCode.ERROR);
    expect(parent.events.map((e) => e.name)).toContain('vault.login');
    expect(parent.events.find((e) => e.name === 'vault.login')?.attributes).toMatchObject({
      'vault.auth.method': 'approle',
      'vault.login.reason': 'initial',
      'vault.token.ttl': 60,
    });

    const rm = await collect();
    expect(points(rm, 'leasehold_vault_logins_total')).toEqual([
      { attributes: { method: 'approle', reason: 'initial', client: 'app' }, value: 1 },
    ]);
    expect(points(rm, 'leasehold_vault_cache_requests_total')).toEqual([
      { attributes: { mount: 'secret', result: 'miss', client: 'app' }, value: 1 },
    ]);
    const durations = points(rm, 'leasehold_vault_request_duration_seconds');
    expect(durations.map((p) => p.attributes)).toContainEqual({
      method: 'GET',
      template: 'secret/data/:path',
      status: '200',
      client: 'app',
    });
    const tokenTtl = points(rm, 'leasehold_vault_token_ttl_seconds');
    expect(tokenTtl).toHaveLength(1);
    expect(tokenTtl[0]?.value).toBeGreaterThan(0);
  });

  it('a rotation: the re-issue and the revocation of the previous lease, with lease events and metrics', async () => {
    const { result: lease, parent } = await traced('issue', async () => {
      const handle = app.database.credentials('app');
      await handle.ready();
      return handle;
    });
    const first = lease.current();
    recorder.secret(first.value.password.reveal());
    leaseIds.push(first.leaseId);
    expect(childrenOf(parent).map((s) => s.name)).toEqual(['GET database/creds/{role}']);
    expect(parent.events.find((e) => e.name === 'vault.lease.issued')?.attributes).toMatchObject({
      'vault.lease.path': 'database/creds/app',
      'vault.lease.generation': 1,
    });

    const revoked = new Promise<void>((resolve) => lease.on('revoked', () => resolve()));
    const { result: second, parent: rotation } = await traced('rotate', () =>
      lease.reissue({ reason: 'test' }),
    );
    recorder.secret(second.value.password.reveal());
    leaseIds.push(second.leaseId);
    expect(second.generation).toBe(2);
    expect(childrenOf(rotation).map((s) => s.name)).toContain('GET database/creds/{role}');
    expect(rotation.events.find((e) => e.name === 'vault.lease.rotated')?.attributes).toMatchObject({
      'vault.lease.path': 'database/creds/app',
      'vault.lease.generation': 2,
      'vault.lease.reason': 'requested',
    });
    await revoked;
    const revoke = spans.getFinishedSpans().find((s) => s.name === 'PUT sys/leases/revoke');
    expect(revoke?.attributes['http.response.status_code']).toBe(204);
    const revokedEvent = spans
      .getFinishedSpans()
      .flatMap((s) => s.events)
      .find((e) => e.name === 'vault.lease.revoked');
    expect(revokedEvent?.attributes).toMatchObject({ 'vault.lease.reason': 'rotated' });

    const rm = await collect();
    expect(points(rm, 'leasehold_vault_lease_rotations_total')).toEqual([
      { attributes: { path: 'database/creds/app', reason: 'requested', client: 'app' }, value: 1 },
    ]);
    expect(points(rm, 'leasehold_vault_lease_revocations_total')).toEqual([
      { attributes: { path: 'database/creds/app', reason: 'rotated', client: 'app' }, value: 1 },
    ]);
    expect(points(rm, 'leasehold_vault_lease_ttl_seconds').map((p) => p.attributes.path)).toContain(
      'database/creds/app',
    );
  });

  it('failed requests: a denied read and a retried outage carry status, error code and resend count', async () => {
    const denied = await traced('denied', () =>
      app.request('GET', 'secret/data/other').catch((e: unknown) => e),
    );
    expect(VaultError.is(denied.result, 'VAULT_PERMISSION_DENIED')).toBe(true);
    const deniedSpan = childrenOf(denied.parent)[0];
    expect(deniedSpan?.name).toBe('GET secret/data/{name}');
    expect(deniedSpan?.status.code).toBe(SpanStatusCode.ERROR);
    expect(deniedSpan?.attributes).toMatchObject({
      'http.response.status_code': 403,
      'error.type': 'VAULT_PERMISSION_DENIED',
    });

    server.failNext({ path: 'secret/data/app', status: 503, error: 'injected outage', count: 3 });
    const outage = await traced('outage', () =>
      app.request('GET', 'secret/data/app').catch((e: unknown) => e),
    );
    expect(VaultError.is(outage.result, 'VAULT_UNAVAILABLE')).toBe(true);
    const outageSpan = childrenOf(outage.parent)[0];
    expect(outageSpan?.attributes).toMatchObject({
      'http.response.status_code': 503,
      'http.request.resend_count': 2,
      'error.type': 'VAULT_UNAVAILABLE',
    });

    const rm = await collect();
    const statuses = points(rm, 'leasehold_vault_request_duration_seconds').map((p) => p.attributes.status);
    expect(statuses).toEqual(expect.arrayContaining(['403', '503']));
  });

  it('background work without a caller span gets spans of its own, not parented to an ended span', async () => {
    const ended = tracer.startSpan('ended');
    ended.end();
    // A timer set inside a request keeps that request's (ended) span as its context.
    const res = await context.with(trace.setSpan(context.active(), ended), () =>
      app.request('GET', 'secret/data/app'),
    );
    expect(res.status).toBe(200);
    const span = spans.getFinishedSpans().find((s) => s.name === 'GET secret/data/{name}');
    expect(span?.parentSpanContext).toBeUndefined();
  });

  it('the same metric names as @leasehold/core/metrics', async () => {
    const { Registry } = await import('prom-client');
    const registry = new Registry();
    const prom = registerVaultMetrics(app, { registry });
    expect([...telemetry.metricNames].sort()).toEqual([...prom.names].sort());
    prom.unregister();
  });

  it('no secret in any span name, attribute, event, status or metric attribute', async () => {
    const all = spans.getFinishedSpans();
    const rm = await collect();
    const text = JSON.stringify({
      spans: all.map((s) => ({ name: s.name, attributes: s.attributes, events: s.events, status: s.status })),
      metrics: rm.scopeMetrics.flatMap((s) =>
        s.metrics.map((m) => ({ name: m.descriptor.name, points: m.dataPoints.map((p) => p.attributes) })),
      ),
    });
    expect(leaseIds).toHaveLength(2);
    expect([...recorder.secrets, ...leaseIds].filter((s) => text.includes(s))).toEqual([]);
    expect(text).not.toMatch(/hvs\.|s\.[A-Za-z0-9]{20}/);
  });

  it('uninstall() stops spans and a second installation on the same client is refused', () => {
    expect(() => instrumentVault(app, { tracerProvider })).toThrow(/already has request telemetry/);
    const other = createVault({
      env: {},
      address: server.url,
      auth: auth.token({ token: server.rootToken }),
    });
    const t = instrumentVault(other, { tracerProvider, metrics: false });
    expect(t.metricNames).toEqual([]);
    t.uninstall();
    t.uninstall();
    expect(() => instrumentVault(other, { tracerProvider, metrics: false }).uninstall()).not.toThrow();
    return other.close();
  });
});
