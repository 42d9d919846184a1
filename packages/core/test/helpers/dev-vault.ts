import { type DevServer, type DevServerOptions, ManualClock, startDevServer } from '@leasehold/dev-server';
import type { TimerHandle } from '../../src/clock.js';
import { TypedEmitter } from '../../src/events.js';
import {
  auth,
  createVault,
  type RandomSource,
  type Vault,
  type VaultEvents,
  type VaultOptions,
} from '../../src/index.js';
import { silentLogger } from '../../src/logger.js';
import { createUndiciSender, HttpTransport, parseAddress, type Sender } from '../../src/transport/http.js';

/** One HTTP call the client sent (path relative to `/v1/`, without the query string). */
export interface SentCall {
  method: string;
  path: string;
  body: unknown;
  /** The `X-Vault-Token` the call carried (to tell one token's calls from the next one's). */
  token: string | undefined;
}

/**
 * The dev server's {@link ManualClock}, shared by the server and the client under test, that also waits for the
 * HTTP I/O its timers start: a timer that fires (the client's renewal, re-login, rotation; the server's lease
 * expiry) is done only when every request it caused has been answered. So once `await clock.advance(ms)` returns,
 * what the elapsed time made happen has happened — at the instants the timers were due, with no real-time sleep.
 */
export class SettlingClock extends ManualClock {
  #inflight = 0;
  #drained: Array<() => void> = [];

  override setTimeout(fn: () => unknown, ms: number): TimerHandle {
    return super.setTimeout(async () => {
      await fn();
      await this.idle();
    }, ms);
  }

  /** Waits for the requests already in flight (started by the test itself), then moves time as the base clock does. */
  override async advance(ms: number): Promise<void> {
    await this.idle();
    return super.advance(ms);
  }

  override async advanceTo(at: number | Date): Promise<void> {
    await this.idle();
    return super.advanceTo(at);
  }

  override async runNext(): Promise<boolean> {
    await this.idle();
    return super.runNext();
  }

  /** Counts a request in flight until `work` settles. */
  async track<T>(work: () => Promise<T>): Promise<T> {
    this.#inflight += 1;
    try {
      return await work();
    } finally {
      this.#inflight -= 1;
      if (this.#inflight === 0) for (const resolve of this.#drained.splice(0)) resolve();
    }
  }

  /** Resolves once no tracked request is in flight and none started over a few event-loop turns. */
  async idle(): Promise<void> {
    for (let quiet = 0; quiet < 3; ) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (this.#inflight === 0) {
        quiet += 1;
      } else {
        quiet = 0;
        await new Promise<void>((resolve) => this.#drained.push(resolve));
      }
    }
  }
}

/** A dev server on a {@link SettlingClock}, with a policy `app` for the client's role. */
export async function startClockedServer(
  options: Omit<DevServerOptions, 'clock'> = {},
): Promise<{ server: DevServer; clock: SettlingClock }> {
  const clock = new SettlingClock();
  const server = await startDevServer({ ...options, clock });
  server.writePolicy(
    'app',
    `path "secret/*" { capabilities = ["create", "read", "update", "delete", "list", "patch"] }
path "secret/data/forbidden" { capabilities = ["deny"] }
path "transit/*" { capabilities = ["create", "update"] }
path "database/creds/*" { capabilities = ["read"] }
path "database/static-creds/*" { capabilities = ["read"] }
path "pki/issue/*" { capabilities = ["create", "update"] }
path "sys/leases/revoke" { capabilities = ["update"] }`,
  );
  return { server, clock };
}

/** Creates (or updates) an AppRole role on the server and returns its credentials. */
export async function appRole(
  server: DevServer,
  role: string,
  fields: Record<string, unknown>,
): Promise<{ roleId: string; secretId: string }> {
  const call = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const res = await fetch(`${server.url}/v1/${path}`, {
      method,
      headers: { 'X-Vault-Token': server.rootToken, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (res.status >= 400 && !text.includes('already in use')) throw new Error(`${method} ${path}: ${text}`);
    return (text ? JSON.parse(text) : {}) as T;
  };
  await call('POST', 'sys/auth/approle', { type: 'approle' });
  await call('POST', `auth/approle/role/${role}`, { token_policies: ['app'], ...fields });
  const id = await call<{ data: { role_id: string } }>('GET', `auth/approle/role/${role}/role-id`);
  const secret = await call<{ data: { secret_id: string } }>('POST', `auth/approle/role/${role}/secret-id`);
  return { roleId: id.data.role_id, secretId: secret.data.secret_id };
}

/**
 * Sends through `inner`, records every call in `calls` and counts it in flight on `clock` (unless its path matches
 * `untracked`).
 */
function recordingSender(
  inner: Sender,
  clock: SettlingClock,
  calls: SentCall[],
  untracked: RegExp | undefined,
): Sender {
  return {
    send(request) {
      const path = request.path.replace(/^\/v1\//, '').replace(/\?.*$/, '');
      let body: unknown;
      try {
        body = request.body ? JSON.parse(request.body) : undefined;
      } catch {
        body = request.body;
      }
      const token = Object.entries(request.headers).find(
        ([name]) => name.toLowerCase() === 'x-vault-token',
      )?.[1];
      calls.push({ method: request.method, path, body, token });
      if (untracked?.test(path)) return inner.send(request);
      return clock.track(() => inner.send(request));
    },
    close: () => inner.close(),
  };
}

export interface ClockedClient {
  vault: Vault;
  /** Every HTTP call the client sent. */
  calls: SentCall[];
  /** How many calls went to `path` (a string or a pattern). */
  count(path: string | RegExp): number;
  logs: string[];
  events: Array<{ event: keyof VaultEvents; payload: unknown }>;
}

/**
 * A client of `server` on `clock` over real HTTP. The transport is the client's own `HttpTransport` with a sender
 * that records calls and reports them to the clock; transport retries are off (each rule under test is the token
 * or lease layer's own), as is the circuit breaker.
 */
export function clockedClient(
  server: DevServer,
  clock: SettlingClock,
  options: VaultOptions & {
    random: RandomSource;
    /**
     * Calls to these paths are not waited for by the clock: for a test that makes the server hold a request (real
     * latency) and asserts what the client's own timers do meanwhile.
     */
    untracked?: RegExp;
  },
): ClockedClient {
  const { untracked, ...vaultOptions } = options;
  const calls: SentCall[] = [];
  const logs: string[] = [];
  const log = (level: string) => (obj: Record<string, unknown>, msg?: string) =>
    logs.push(`${level} ${msg ?? ''} ${JSON.stringify(obj)}`);
  const transport = new HttpTransport({
    sender: recordingSender(createUndiciSender(parseAddress(server.url), {}), clock, calls, untracked),
    namespace: undefined,
    timeoutMs: 10_000,
    retry: { maxRetries: 0, initialDelayMs: 1000, maxDelayMs: 10_000, maxElapsedMs: 60_000 },
    circuit: undefined,
    clock,
    random: options.random,
    events: new TypedEmitter<VaultEvents>(() => {}),
    logger: silentLogger,
  });
  const vault = createVault({
    env: {},
    address: server.url,
    clock,
    transport,
    logger: { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') },
    ...vaultOptions,
    auth: vaultOptions.auth ?? auth.token({ token: server.rootToken }),
  });
  const events: ClockedClient['events'] = [];
  const names: Array<keyof VaultEvents> = [
    'login',
    'login:failed',
    'token:renewed',
    'token:renew-failed',
    'token:expiring',
    'token:expired',
    'token:invalid',
    'token:revoked',
  ];
  for (const event of names) vault.on(event, (payload) => events.push({ event, payload }));
  const count = (path: string | RegExp) =>
    calls.filter((c) => (typeof path === 'string' ? c.path === path : path.test(c.path))).length;
  return { vault, calls, count, logs, events };
}
