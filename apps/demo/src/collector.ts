/**
 * What the dashboard shows, built from the client's events (`login`, `token:*`, `lease:*`, `circuit:*`), its lease
 * list and health, the pool's `stats()` and the load driver's counters. Nothing here holds a secret: tokens appear
 * by accessor, leases by ID, credentials never.
 */
import type { Vault } from '@leasehold/core';
import type { DevServer } from '@leasehold/dev-server';
import type { RotatingPoolStats } from '@leasehold/pg';
import type { LoadDriver, LoadFailure, LoadSecond } from './load.js';

/** One mark on the timeline. */
export interface TimelineEvent {
  /** ms since epoch. */
  t: number;
  kind:
    | 'login'
    | 'token-renew'
    | 'token-error'
    | 'lease-issue'
    | 'lease-renew'
    | 'lease-rotate'
    | 'lease-revoke'
    | 'lease-expire'
    | 'lease-error'
    | 'circuit'
    | 'drill'
    | 'seal'
    | 'unseal';
  /** A short human-readable description (no secrets). */
  label: string;
  /** The lease this event is about (its key), if any. */
  lease?: string;
  generation?: number;
}

/** A lease as the dashboard shows it. */
export interface LeaseStatus {
  key: string;
  path: string;
  leaseId: string | undefined;
  state: string;
  generation: number | undefined;
  /** Remaining seconds. */
  ttl: number;
  /** The scale of the TTL bar: the longest TTL this generation had, seconds. */
  maxTtl: number;
  expiresAt: number | undefined;
  renewals: number;
  rotations: number;
}

/** `GET /api/status`. */
export interface DemoStatus {
  /** Server time, ms since epoch. */
  now: number;
  startedAt: number;
  /** Requests sent by the load driver so far, and how many failed (non-2xx or network error). */
  requests: number;
  failedRequests: number;
  /** Requests per second over the last full second, and the last 120 s. */
  rps: number;
  series: LoadSecond[];
  recentFailures: LoadFailure[];
  /** Lease rotations (re-issues that replaced a value) so far. */
  rotations: number;
  leases: LeaseStatus[];
  token: {
    accessor: string | undefined;
    /** Remaining seconds. */
    ttl: number;
    /** TTL granted at the last login or renewal, seconds (scale of the bar). */
    grantedTtl: number;
    renewals: number;
    logins: number;
    lastLoginReason: string | undefined;
  };
  vault: { status: string; reasons: string[]; sealed: boolean; address: string };
  pool: RotatingPoolStats | undefined;
  /** The pool's connections per credential generation, sampled every second (last 120 s). */
  poolSeries: Array<{ t: number; connections: Record<number, number> }>;
  timeline: TimelineEvent[];
  /** Set by `close()`: leases revoked while shutting down. */
  leasesRevokedOnClose?: number;
}

const TIMELINE_KEEP_MS = 10 * 60_000;

/** Collects the dashboard's data. */
export class Collector {
  readonly #vault: Vault;
  readonly #server: DevServer;
  readonly #startedAt = Date.now();
  readonly #timeline: TimelineEvent[] = [];
  readonly #unsubscribe: Array<() => void> = [];
  readonly #leases = new Map<
    string,
    { renewals: number; rotations: number; maxTtl: number; generation: number }
  >();
  #pool: (() => RotatingPoolStats) | undefined;
  readonly #poolSeries: Array<{ t: number; connections: Record<number, number> }> = [];
  #sampler: NodeJS.Timeout | undefined;
  #load: LoadDriver | undefined;
  #rotations = 0;
  #renewals = 0;
  #logins = 0;
  #lastLoginReason: string | undefined;
  #grantedTtl = 0;
  #tokenExpiresAt = 0;
  #accessor: string | undefined;
  #revokedOnClose = 0;

  constructor(vault: Vault, server: DevServer) {
    this.#vault = vault;
    this.#server = server;
    const on = this.#unsubscribe;
    on.push(
      vault.on('login', (e) => {
        this.#logins++;
        this.#lastLoginReason = e.reason;
        this.#accessor = e.accessor;
        this.#grantedTtl = e.ttl;
        this.#tokenExpiresAt = Date.now() + e.ttl * 1000;
        this.mark('login', `Logged in with AppRole (${e.reason}), token TTL ${e.ttl} s`);
      }),
      vault.on('token:renewed', (e) => {
        this.#renewals++;
        this.#grantedTtl = Math.max(e.ttl, 1);
        this.#tokenExpiresAt = Date.now() + e.ttl * 1000;
        this.mark('token-renew', `Token renewed: TTL ${e.ttl} s${e.capped ? ' (capped at max TTL)' : ''}`);
      }),
      vault.on('token:renew-failed', (e) => this.mark('token-error', `Token renewal failed: ${e.code}`)),
      vault.on('token:invalid', () =>
        this.mark('token-error', 'Vault says the token is invalid: logging in again'),
      ),
      vault.on('token:expired', () => this.mark('token-error', 'Token expired')),
      vault.on('lease:issued', (e) => {
        const l = this.#lease(e.key);
        l.generation = e.generation;
        l.maxTtl = e.ttl;
        this.mark(
          'lease-issue',
          `Lease issued: generation ${e.generation}, TTL ${e.ttl} s`,
          e.key,
          e.generation,
        );
      }),
      vault.on('lease:renewed', (e) => {
        const l = this.#lease(e.key);
        l.renewals++;
        l.maxTtl = Math.max(l.maxTtl, e.ttl);
        this.mark(
          'lease-renew',
          `Lease renewed: TTL ${e.ttl} s${e.capped ? ' (capped at max TTL)' : ''}`,
          e.key,
        );
      }),
      vault.on('lease:renew-failed', (e) =>
        this.mark('lease-error', `Lease renewal failed: ${e.code}`, e.key),
      ),
      vault.on('lease:issue-failed', (e) => this.mark('lease-error', `Issuing failed: ${e.code}`, e.key)),
      vault.on('lease:rotated', (e) => {
        this.#rotations++;
        this.#lease(e.key).rotations++;
        this.mark('lease-rotate', `Rotated to generation ${e.generation} (${e.reason})`, e.key, e.generation);
      }),
      vault.on('lease:revoked', (e) => {
        if (e.reason === 'closed') this.#revokedOnClose++;
        this.mark('lease-revoke', `Lease revoked (${e.reason})`, e.key);
      }),
      vault.on('lease:expired', (e) =>
        this.mark('lease-expire', 'Lease expired before a replacement', e.key),
      ),
      vault.on('circuit:open', (e) => this.mark('circuit', `Circuit open: Vault ${e.reason}`)),
      vault.on('circuit:close', (e) =>
        this.mark('circuit', `Circuit closed after ${Math.round(e.openForMs)} ms`),
      ),
    );
  }

  #lease(key: string): { renewals: number; rotations: number; maxTtl: number; generation: number } {
    let l = this.#leases.get(key);
    if (!l) {
      l = { renewals: 0, rotations: 0, maxTtl: 0, generation: 0 };
      this.#leases.set(key, l);
    }
    return l;
  }

  /** Adds a mark to the timeline. */
  mark(kind: TimelineEvent['kind'], label: string, lease?: string, generation?: number): void {
    const now = Date.now();
    this.#timeline.push({
      t: now,
      kind,
      label,
      ...(lease ? { lease } : {}),
      ...(generation ? { generation } : {}),
    });
    while (this.#timeline.length > 0 && (this.#timeline[0] as TimelineEvent).t < now - TIMELINE_KEEP_MS) {
      this.#timeline.shift();
    }
  }

  attachPool(stats: () => RotatingPoolStats): void {
    this.#pool = stats;
    this.#sampler = setInterval(() => {
      try {
        this.#poolSeries.push({ t: Date.now(), connections: { ...stats().connections } });
        if (this.#poolSeries.length > 120) this.#poolSeries.shift();
      } catch {
        // The pool is closed (shutting down).
      }
    }, 1000);
    this.#sampler.unref();
  }

  attachLoad(load: LoadDriver): void {
    this.#load = load;
  }

  /** The database credentials lease, if issued. */
  databaseLease(): { leaseId: string | undefined } | undefined {
    return this.#vault.leases.list().find((l) => l.path.startsWith('database/creds/'));
  }

  revokedOnClose(): number {
    return this.#revokedOnClose;
  }

  status(): DemoStatus {
    const now = Date.now();
    const health = this.#vault.health();
    const series = this.#load?.series(120) ?? [];
    const last = series[series.length - 1];
    let pool: RotatingPoolStats | undefined;
    try {
      pool = this.#pool?.();
    } catch {
      pool = undefined;
    }
    const leases: LeaseStatus[] = this.#vault.leases.list().map((l) => {
      const extra = this.#lease(l.key);
      const ttl = l.expiresAt ? Math.max(0, (l.expiresAt - now) / 1000) : l.ttl;
      return {
        key: l.key,
        path: l.path,
        leaseId: l.leaseId,
        state: l.state,
        generation: l.generation,
        ttl,
        maxTtl: Math.max(extra.maxTtl, ttl),
        expiresAt: l.expiresAt,
        renewals: extra.renewals,
        rotations: extra.rotations,
      };
    });
    return {
      now,
      startedAt: this.#startedAt,
      requests: this.#load?.requests ?? 0,
      failedRequests: this.#load?.failedRequests ?? 0,
      rps: last ? last.ok + last.failed : 0,
      series,
      recentFailures: this.#load?.failures() ?? [],
      rotations: this.#rotations,
      leases,
      token: {
        accessor: health.token?.accessor ?? this.#accessor,
        ttl: this.#tokenExpiresAt ? Math.max(0, (this.#tokenExpiresAt - now) / 1000) : 0,
        grantedTtl: this.#grantedTtl,
        renewals: this.#renewals,
        logins: this.#logins,
        lastLoginReason: this.#lastLoginReason,
      },
      vault: {
        status: health.status,
        reasons: health.reasons,
        sealed: this.#server.sealed,
        address: this.#vault.address,
      },
      pool,
      poolSeries: [...this.#poolSeries],
      timeline: this.#timeline.filter((e) => e.t >= now - 180_000),
    };
  }

  stop(): void {
    if (this.#sampler) clearInterval(this.#sampler);
    this.#sampler = undefined;
    for (const off of this.#unsubscribe.splice(0)) off();
  }
}
