/**
 * OpenTelemetry overhead benchmark: `vault.request()` (a KV v2 read) on three clients of one dev server,
 * alternated in rounds within one run:
 * - `disabled`: no `instrumentVault()` (the baseline),
 * - `no SDK`: `instrumentVault()` with the API's global no-op providers (the optional peer installed, no SDK),
 * - `tracing`: `instrumentVault()` with an SDK tracer provider (BatchSpanProcessor, an exporter that counts and
 *   drops) and an SDK meter provider.
 * Each in two settings: over HTTP to the dev server (what an application sees) and on an in-memory transport
 * (no network: the instrumentation's own CPU cost, the worst case). Prints requests/s and the ratio to the
 * baseline of the same run. Not a test: it prints figures.
 *
 *   pnpm --filter @leasehold/bench bench:otel -- --duration 20 --concurrency 8 --rounds 4
 */
import {
  auth,
  createVault,
  type Transport,
  type Vault,
  type VaultEnvelope,
  type VaultResponse,
} from '@leasehold/core';
import { instrumentVault } from '@leasehold/core/otel';
import { startDevServer } from '@leasehold/dev-server';
import { context } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, BatchSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';

function option(name: string, env: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const raw = i >= 0 ? process.argv[i + 1] : process.env[env];
  const value = raw === undefined ? fallback : Number(raw);
  if (!Number.isFinite(value) || value <= 0)
    throw new Error(`--${name} must be a positive number (got ${raw})`);
  return value;
}

/** An exporter that counts spans and drops them (the export cost of a real exporter is not ours to measure). */
class CountingExporter implements SpanExporter {
  count = 0;
  export(spans: { length: number }[] | unknown[], done: (result: { code: 0 }) => void): void {
    this.count += spans.length;
    done({ code: 0 });
  }
  async shutdown(): Promise<void> {}
}

/** A metric reader that is never collected from (the SDK still aggregates every point). */
class IdleReader extends MetricReader {
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

/** A transport answering every request at once from memory: what is left is the client's own work. */
class MemoryTransport implements Transport {
  async request<TBody = VaultEnvelope>(_method: string, path: string): Promise<VaultResponse<TBody>> {
    const data =
      path === 'auth/token/lookup-self'
        ? { ttl: 0, renewable: false }
        : { data: { key: 'value' }, metadata: { version: 1 } };
    const body = {
      request_id: 'r',
      lease_id: '',
      renewable: false,
      lease_duration: 0,
      data,
      wrap_info: null,
      warnings: null,
      auth: null,
    };
    return { status: 200, headers: {}, body: body as TBody };
  }
  async close(): Promise<void> {}
}

async function run(vault: Vault, concurrency: number, ms: number): Promise<number> {
  let done = 0;
  const end = performance.now() + ms;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        await vault.request('GET', 'secret/data/app', { template: 'secret/data/:path' });
        done += 1;
      }
    }),
  );
  return done / (ms / 1000);
}

async function main(): Promise<void> {
  const durationS = option('duration', 'BENCH_DURATION_S', 20);
  const concurrency = option('concurrency', 'BENCH_CONCURRENCY', 8);
  const rounds = option('rounds', 'BENCH_ROUNDS', 4);
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  const exporter = new CountingExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(exporter)] });
  const meterProvider = new MeterProvider({ readers: [new IdleReader()] });

  const server = await startDevServer();
  const setup = createVault({ env: {}, address: server.url, auth: auth.token({ token: server.rootToken }) });
  await setup
    .request('POST', 'sys/mounts/secret', { body: { type: 'kv', options: { version: '2' } } })
    .catch(() => undefined);
  await setup.request('POST', 'secret/data/app', { body: { data: { key: 'value' } } });

  const settings = {
    http: () => ({ address: server.url, auth: auth.token({ token: server.rootToken }) }),
    memory: () => ({ transport: new MemoryTransport(), auth: auth.token({ token: 'bench' }) }),
  };
  const clients: Vault[] = [setup];
  for (const [setting, options] of Object.entries(settings)) {
    const make = () => {
      const vault = createVault({ env: {}, ...options(), token: { renew: false } });
      clients.push(vault);
      return vault;
    };
    const variants: Record<string, Vault> = { disabled: make(), 'no SDK': make(), tracing: make() };
    instrumentVault(variants['no SDK'] as Vault);
    instrumentVault(variants.tracing as Vault, { tracerProvider, meterProvider });
    for (const vault of Object.values(variants)) await vault.ready();
    const totals: Record<string, number> = { disabled: 0, 'no SDK': 0, tracing: 0 };
    const perPhase = (durationS * 1000) / rounds;
    for (let round = 0; round < rounds; round++)
      for (const [name, vault] of Object.entries(variants)) {
        await run(vault, concurrency, Math.min(500, perPhase / 4)); // warm-up
        totals[name] = (totals[name] ?? 0) + (await run(vault, concurrency, perPhase)) / rounds;
      }
    const base = totals.disabled ?? 1;
    console.log(
      `\n${setting}: vault.request() GET secret/data/app, concurrency ${concurrency}, ${rounds} rounds`,
    );
    for (const [name, rate] of Object.entries(totals))
      console.log(
        `  ${name.padEnd(9)} ${rate.toFixed(0).padStart(7)} req/s   ratio ${(rate / base).toFixed(3)}`,
      );
  }
  await tracerProvider.forceFlush();
  console.log(`\nspans exported: ${exporter.count}`);
  await Promise.all(clients.map((c) => c.close()));
  await tracerProvider.shutdown();
  await meterProvider.shutdown();
  await server.close();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
