import { type LeaseView, LogicalError, type SecretSpec } from '../backend.js';
import { formatGoDuration } from '../util/duration.js';
import { randomBase62 } from '../util/random.js';
import { type LongTimer, scheduleAt } from '../util/timer.js';
import { calculateTtl, rfc3339 } from './ttl.js';
import { type Mount, mountDefaultTtl, mountMaxTtl } from './types.js';

/** A registered lease. */
export interface LeaseEntry {
  readonly leaseId: string;
  readonly mount: Mount;
  /** Request path relative to the mount. */
  readonly path: string;
  readonly internal: Record<string, unknown>;
  readonly issueTime: number;
  expireTime: number;
  lastRenewal: number | undefined;
  readonly renewable: boolean;
  /** Secret's own TTL / max TTL (seconds, 0 = mount's). */
  readonly specTtl: number;
  readonly specMaxTtl: number;
  /** The token (ID) that created it; revoking that token revokes the lease. */
  readonly tokenId: string | undefined;
  timer: LongTimer | undefined;
}

/** Callbacks the registry needs from the server core. */
export interface LeaseHost {
  now(): number;
  /**
   * True while the server is sealed. Like Vault's expiration manager, expiry is paused while sealed: a lease that
   * runs out meanwhile is revoked right after unseal ({@link LeaseRegistry.resumeExpiry}), not during the seal.
   */
  isSealed?(): boolean;
  log(level: 'debug' | 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>): void;
}

function view(lease: LeaseEntry): LeaseView {
  return {
    leaseId: lease.leaseId,
    path: lease.path,
    internal: lease.internal,
    issueTime: lease.issueTime,
    expireTime: lease.expireTime,
  };
}

/** Vault's expiration manager for secrets: registration, renewal, revocation and expiry timers. */
export class LeaseRegistry {
  private readonly leases = new Map<string, LeaseEntry>();
  private readonly byToken = new Map<string, Set<string>>();
  /** Leases whose expiry fell while the server was sealed; revoked by {@link resumeExpiry}. */
  private readonly pausedExpiries = new Set<string>();
  private closed = false;

  constructor(private readonly host: LeaseHost) {}

  /** Registers a secret; returns the lease and the TTL granted (plus a capped-TTL warning if any). */
  register(
    mount: Mount,
    path: string,
    spec: SecretSpec,
    tokenId: string | undefined,
  ): { lease: LeaseEntry; ttl: number; warnings: string[] } {
    const now = this.host.now();
    const warnings: string[] = [];
    let ttl = spec.ttl > 0 ? spec.ttl : mountDefaultTtl(mount);
    let max = mountMaxTtl(mount);
    if (spec.maxTtl > 0 && spec.maxTtl < max) max = spec.maxTtl;
    if (ttl > max) {
      warnings.push(
        `TTL of "${formatGoDuration(ttl)}" exceeded the effective max_ttl of "${formatGoDuration(max)}"; TTL value is capped accordingly`,
      );
      ttl = max;
    }
    const cleanPath = path.replace(/\/+$/, '');
    const leaseId = `${mount.path}${cleanPath}/${randomBase62(24)}`;
    const lease: LeaseEntry = {
      leaseId,
      mount,
      path,
      internal: { ...spec.internal },
      issueTime: now,
      expireTime: now + ttl * 1000,
      lastRenewal: undefined,
      renewable: spec.renewable,
      specTtl: spec.ttl,
      specMaxTtl: spec.maxTtl,
      tokenId,
      timer: undefined,
    };
    this.leases.set(leaseId, lease);
    if (tokenId) {
      const set = this.byToken.get(tokenId) ?? new Set<string>();
      set.add(leaseId);
      this.byToken.set(tokenId, set);
    }
    this.arm(lease);
    return { lease, ttl, warnings };
  }

  get(leaseId: string): LeaseEntry | undefined {
    return this.leases.get(leaseId);
  }

  /** All lease IDs (for listing). */
  ids(): string[] {
    return [...this.leases.keys()];
  }

  private arm(lease: LeaseEntry): void {
    lease.timer?.clear();
    if (this.closed) return;
    lease.timer = scheduleAt(lease.expireTime, () => {
      if (this.host.isSealed?.()) {
        this.pausedExpiries.add(lease.leaseId);
        return;
      }
      this.host.log('debug', 'lease expired', { lease_id: lease.leaseId });
      void this.revoke(lease.leaseId, { force: true });
    });
  }

  /** After unseal: revokes the leases whose expiry fell during the seal (if they were not renewed meanwhile). */
  resumeExpiry(): void {
    const now = this.host.now();
    for (const leaseId of this.pausedExpiries) {
      const lease = this.leases.get(leaseId);
      if (!lease) continue;
      if (lease.expireTime <= now) {
        this.host.log('debug', 'lease expired', { lease_id: leaseId });
        void this.revoke(leaseId, { force: true });
      } else {
        this.arm(lease);
      }
    }
    this.pausedExpiries.clear();
  }

  /** `sys/leases/renew`: Vault's errors exactly, CalculateTTL, then the backend's renew hook. */
  async renew(
    leaseId: string,
    increment: number,
  ): Promise<{ lease: LeaseEntry; ttl: number; warnings: string[] }> {
    if (!leaseId) throw new LogicalError(400, 'lease_id must be specified');
    const lease = this.leases.get(leaseId);
    if (!lease) throw new LogicalError(400, 'lease not found');
    const now = this.host.now();
    if (lease.expireTime <= now) throw new LogicalError(400, 'lease expired');
    if (!lease.renewable || lease.expireTime === 0) throw new LogicalError(400, 'lease is not renewable');
    const { ttl, warnings } = calculateTtl({
      systemDefault: mountDefaultTtl(lease.mount),
      systemMax: mountMaxTtl(lease.mount),
      increment,
      backendTtl: lease.specTtl,
      period: 0,
      backendMaxTtl: lease.specMaxTtl,
      explicitMaxTtl: 0,
      startTime: lease.issueTime,
      now,
    });
    const newExpire = now + ttl * 1000;
    if (lease.mount.backend.renewSecret) await lease.mount.backend.renewSecret(view(lease), newExpire);
    lease.expireTime = newExpire;
    lease.lastRenewal = now;
    this.arm(lease);
    return { lease, ttl, warnings };
  }

  /** `sys/leases/lookup` data. */
  lookup(leaseId: string): Record<string, unknown> {
    if (!leaseId) throw new LogicalError(400, 'missing lease id');
    const lease = this.leases.get(leaseId);
    if (!lease) throw new LogicalError(400, 'invalid lease');
    const now = this.host.now();
    return {
      id: lease.leaseId,
      issue_time: rfc3339(lease.issueTime),
      expire_time: lease.expireTime ? rfc3339(lease.expireTime) : null,
      last_renewal: lease.lastRenewal ? rfc3339(lease.lastRenewal) : null,
      renewable: lease.renewable && lease.expireTime > now,
      ttl: lease.expireTime ? Math.max(0, Math.round((lease.expireTime - now) / 1000)) : 0,
    };
  }

  /**
   * Revokes one lease: calls the backend's `revokeSecret` and forgets the lease. Unknown lease → no-op. A backend
   * failure is rethrown (the lease is kept) unless `force`.
   */
  async revoke(leaseId: string, options: { force?: boolean } = {}): Promise<void> {
    const lease = this.leases.get(leaseId);
    if (!lease) return;
    try {
      if (lease.mount.backend.revokeSecret) await lease.mount.backend.revokeSecret(view(lease));
    } catch (error) {
      this.host.log('warn', 'lease revocation failed in the backend', {
        lease_id: lease.leaseId,
        error: error instanceof LogicalError ? error.errors.join('; ') : 'internal error',
      });
      if (!options.force) {
        throw error instanceof LogicalError
          ? new LogicalError(400, `failed to revoke lease: ${error.errors.join('; ')}`)
          : new LogicalError(400, 'failed to revoke lease: backend error');
      }
    }
    lease.timer?.clear();
    this.leases.delete(leaseId);
    if (lease.tokenId) this.byToken.get(lease.tokenId)?.delete(leaseId);
  }

  /** Revokes every lease whose ID starts with `prefix`. */
  async revokePrefix(prefix: string, options: { force?: boolean } = {}): Promise<void> {
    const ids = [...this.leases.keys()].filter((id) => id.startsWith(prefix));
    for (const id of ids) await this.revoke(id, options);
  }

  /** Revokes every lease created by a token (forced: token revocation does not stop on backend errors). */
  async revokeByToken(tokenId: string): Promise<void> {
    const ids = [...(this.byToken.get(tokenId) ?? [])];
    this.byToken.delete(tokenId);
    for (const id of ids) await this.revoke(id, { force: true });
  }

  /** Leases created by a token (IDs). */
  leasesOfToken(tokenId: string): string[] {
    return [...(this.byToken.get(tokenId) ?? [])];
  }

  /** Stops every timer (server close). Leases are not revoked. */
  close(): void {
    this.closed = true;
    for (const lease of this.leases.values()) lease.timer?.clear();
  }
}
