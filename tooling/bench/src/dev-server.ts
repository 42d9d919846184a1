/**
 * Dev server request benchmark. In one process, alternately against:
 * - a plain `node:http` server answering the same small JSON body (the ceiling: Node's HTTP stack alone), and
 * - the dev server (`startDevServer()`, HTTP and HTTPS), reading a KV v2 secret with the root token,
 * it sends requests on ONE kept-alive connection (sequentially: the latency of one request; then `--concurrency`
 * connections in parallel: throughput). Prints requests/s, p50/p99 latency and the ratio dev server / plain.
 * Not a test: it prints figures.
 *
 *   pnpm --filter @leasehold/bench bench:dev-server -- --duration 3 --concurrency 8
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { startDevServer } from '@leasehold/dev-server';

function option(name: string, env: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const raw = i >= 0 ? process.argv[i + 1] : process.env[env];
  const value = raw === undefined ? fallback : Number(raw);
  if (!Number.isFinite(value) || value <= 0)
    throw new Error(`--${name} must be a positive number (got ${raw})`);
  return value;
}

interface Result {
  requests: number;
  ms: number;
  latencies: number[];
}

/** One request on `agent`; resolves with the status once the body has been read. */
function send(
  url: string,
  agent: http.Agent,
  headers: Record<string, string>,
  method = 'GET',
  body?: string,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const lib = url.startsWith('https:') ? https : http;
    const req = lib.request(url, { method, agent, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

function agentFor(url: string, connections: number, ca?: string): http.Agent {
  const options = { keepAlive: true, maxSockets: connections, keepAliveMsecs: 60_000 };
  return url.startsWith('https:')
    ? new https.Agent({ ...options, ...(ca ? { ca } : {}) })
    : new http.Agent(options);
}

/** `connections` loops, each on its own kept-alive connection, for `ms`. */
async function load(
  url: string,
  headers: Record<string, string>,
  connections: number,
  ms: number,
  ca?: string,
): Promise<Result> {
  const agent = agentFor(url, connections, ca);
  const latencies: number[] = [];
  const start = performance.now();
  const end = start + ms;
  try {
    await Promise.all(
      Array.from({ length: connections }, async () => {
        while (performance.now() < end) {
          const t = performance.now();
          const status = await send(url, agent, headers);
          if (status !== 200) throw new Error(`unexpected status ${status} from ${url}`);
          latencies.push(performance.now() - t);
        }
      }),
    );
  } finally {
    agent.destroy();
  }
  return { requests: latencies.length, ms: performance.now() - start, latencies };
}

function summary(r: Result): { rps: number; p50: number; p99: number } {
  const sorted = [...r.latencies].sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? Number.NaN;
  return { rps: (r.requests / r.ms) * 1000, p50: at(0.5), p99: at(0.99) };
}

async function main(): Promise<void> {
  const durationS = option('duration', 'BENCH_DURATION_S', 3);
  const concurrency = Math.round(option('concurrency', 'BENCH_CONCURRENCY', 8));
  const ms = durationS * 1000;

  const body = JSON.stringify({ data: { data: { greeting: 'hello' }, metadata: { version: 1 } } });
  const plain = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(body);
  });
  await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
  const plainUrl = `http://127.0.0.1:${(plain.address() as AddressInfo).port}/v1/secret/data/app`;

  const servers = [await startDevServer(), await startDevServer({ tls: true })];
  try {
    const targets: Array<{ name: string; url: string; headers: Record<string, string>; ca?: string }> = [
      { name: 'plain node:http', url: plainUrl, headers: {} },
    ];
    for (const server of servers) {
      const headers = { 'x-vault-token': server.rootToken };
      const agent = agentFor(server.url, 1, server.caCert);
      const status = await send(
        `${server.url}/v1/secret/data/app`,
        agent,
        { ...headers, 'content-type': 'application/json' },
        'POST',
        JSON.stringify({ data: { greeting: 'hello' } }),
      );
      agent.destroy();
      if (status !== 200) throw new Error(`writing the KV secret failed: ${status}`);
      targets.push({
        name: `dev server (${server.url.startsWith('https') ? 'HTTPS' : 'HTTP'})`,
        url: `${server.url}/v1/secret/data/app`,
        headers,
        ...(server.caCert ? { ca: server.caCert } : {}),
      });
    }
    console.log(
      `dev-server benchmark: ${durationS} s per measurement, 1 kept-alive connection, then ${concurrency} in parallel`,
    );
    // Warm up every target (JIT, TLS sessions) outside the measurement.
    for (const t of targets) await load(t.url, t.headers, 1, 300, t.ca);
    const fmt = (n: number, d = 2) => n.toFixed(d);
    const rows: string[] = [];
    for (const connections of [1, concurrency]) {
      const results = new Map<string, ReturnType<typeof summary>>();
      // Two alternations, so no target always runs on a warmer (or busier) machine.
      const parts = new Map<string, Result[]>();
      for (let round = 0; round < 2; round++) {
        const order = round === 0 ? targets : [...targets].reverse();
        for (const t of order) {
          const r = await load(t.url, t.headers, connections, ms / 2, t.ca);
          parts.set(t.name, [...(parts.get(t.name) ?? []), r]);
        }
      }
      for (const [name, rs] of parts) {
        results.set(
          name,
          summary({
            requests: rs.reduce((a, r) => a + r.requests, 0),
            ms: rs.reduce((a, r) => a + r.ms, 0),
            latencies: rs.flatMap((r) => r.latencies),
          }),
        );
      }
      const base = results.get('plain node:http');
      for (const [name, s] of results) {
        rows.push(
          `${String(connections).padStart(3)} conn  ${name.padEnd(20)} ${fmt(s.rps, 0).padStart(8)} req/s  ` +
            `p50 ${fmt(s.p50).padStart(7)} ms  p99 ${fmt(s.p99).padStart(7)} ms  ` +
            `ratio vs plain ${base ? fmt(s.rps / base.rps, 3) : '-'}`,
        );
      }
    }
    console.log('');
    for (const row of rows) console.log(row);
  } finally {
    for (const server of servers) await server.close();
    await new Promise<void>((resolve) => plain.close(() => resolve()));
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
