import { type LeaseView, LogicalError, type SecretSpec } from '../sdk/index.js';
import type { Clock } from '../util/clock.js';
import { formatVaultDuration } from '../util/duration.js';
import { randomBase62 } from '../util/random.js';
import { KeyedSerialQueue } from '../util/serial.js';
import { type LongTimer, scheduleAt } from '../util/timer.js';
import { leaseNamespaceId, namespaceSuffix, ROOT_NAMESPACE } from './namespaces.js';
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
  /** Failed revocations since the lease expired (Vault's `pendingInfo.revokesAttempted`). */
  revokeAttempts: number;
  /**
   * Set once the lease ran out of revocation attempts: the lease is then irrevocable (Vault's `RevokeErr`): kept,
   * listed by `sys/leases?type=irrevocable`, no longer retried; an explicit revoke or `revoke-force` removes it.
   */
  revokeError: string | undefined;
}

/**
 * How expired leases are retried when their revocation fails. Vault's expiration manager retries after
 * `revokeRetryBase` (10 s) × 2^attempt, ±50 % random, and marks the lease irrevocable after `maxRevokeAttempts` (6)
 * failures: https://github.com/hashicorp/vault/blob/main/vault/expiration.go (`revokeExponentialBackoff`,
 * `revocationJob.OnFailure`).
 */
export interface LeaseRevocationOptions {
  /** Base delay of the exponential backoff, in ms (Vault: 10 000). */
  retryBaseMs: number;
  /** Failed attempts after which the lease is marked irrevocable (Vault: 6). */
  maxAttempts: number;
}

/** Vault's values (`revokeRetryBase`, `maxRevokeAttempts`). */
export const VAULT_LEASE_REVOCATION: LeaseRevocationOptions = { retryBaseMs: 10_000, maxAttempts: 6 };

/** Vault keeps at most 240 characters of an irrevocable lease's error (`maxIrrevocableErrorLength`). */
const MAX_IRREVOCABLE_ERROR_LENGTH = 240;

/** One entry of `sys/leases?type=irrevocable`. */
export interface IrrevocableLease {
  lease_id: string;
  /** The accessor of the lease's mount. */
  mount_id: string;
  error: string;
}

/** Callbacks the registry needs from the server core. */
export interface LeaseHost {
  now(): number;
  /** The clock that runs expiry and revocation-retry timers (the server's; default the real clock). */
  clock?: Clock;
  /**
   * True while the server is sealed. Like Vault's expiration manager, expiry is paused while sealed: a lease that
   * runs out meanwhile is revoked right after unseal ({@link LeaseRegistry.resumeExpiry}), not during the seal.
   */
  isSealed?(): boolean;
  log(level: 'debug' | 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>): void;
  /** Retry rule for failed revocations of expired leases (default {@link VAULT_LEASE_REVOCATION}). */
  revocation?: LeaseRevocationOptions;
}

/**
 * The error a failed backend revocation gives, worded as Vault's `revokeEntry` does for a backend that returned a
 * plain error: https://github.com/hashicorp/vault/blob/main/vault/expiration.go (`revokeEntry`).
 */
function revokeEntryError(error: unknown): string {
  const cause = error instanceof LogicalError ? error.errors.join('; ') : 'internal error';
  return `failed to revoke entry: resp: (*logical.Response)(nil) err: ${cause}`;
}

/** The cause part of a revocation error (`failed to revoke entry: …`), for the prefix forms that wrap it. */
function revokeEntryCause(error: unknown): string {
  return error instanceof LogicalError ? error.errors.join('; ') : revokeEntryError(error);
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
  /** One revocation at a time per lease (Vault's `lockForLeaseID`). */
  private readonly revocations = new KeyedSerialQueue<string>();
  private readonly revocation: LeaseRevocationOptions;
  private closed = false;

  constructor(private readonly host: LeaseHost) {
    this.revocation = host.revocation ?? VAULT_LEASE_REVOCATION;
  }

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
        `TTL of "${formatVaultDuration(ttl)}" exceeded the effective max_ttl of "${formatVaultDuration(max)}"; TTL value is capped accordingly`,
      );
      ttl = max;
    }
    const cleanPath = path.replace(/\/+$/, '');
    // Leases created in a namespace end with `.<namespace id>`, as Vault's do.
    const leaseId = `${mount.path}${cleanPath}/${randomBase62(24)}${namespaceSuffix(mount.namespace)}`;
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
      revokeAttempts: 0,
      revokeError: undefined,
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
    lease.timer = scheduleAt(lease.expireTime, () => this.expire(lease), this.host.clock);
  }

  /**
   * Revokes an expired lease (or one a token revocation or a lazy revoke expired). While sealed the attempt waits
   * for the unseal ({@link resumeExpiry}); a failure keeps the lease and schedules the next attempt.
   */
  private expire(lease: LeaseEntry): Promise<void> | undefined {
    lease.timer = undefined;
    if (this.closed || this.leases.get(lease.leaseId) !== lease) return undefined;
    if (this.host.isSealed?.()) {
      this.pausedExpiries.add(lease.leaseId);
      return undefined;
    }
    this.host.log('debug', 'lease expired', { lease_id: lease.leaseId, attempt: lease.revokeAttempts + 1 });
    // Returned so that a manual clock waits for the revocation (it never rejects).
    return this.revokeOrRetry(lease);
  }

  /** Tries to revoke `lease` now; on failure the lease is kept and retried with Vault's backoff. Never rejects. */
  private async revokeOrRetry(lease: LeaseEntry): Promise<void> {
    try {
      await this.revoke(lease.leaseId);
    } catch (error) {
      this.revocationFailed(lease, error);
    }
  }

  /**
   * Vault's `revocationJob.OnFailure`: count the attempt; after `maxAttempts` mark the lease irrevocable (error
   * prefixed `out of retries: `, cut to 240 characters), else retry after (2^attempts × base) ±50 %.
   * https://github.com/hashicorp/vault/blob/main/vault/expiration.go
   */
  private revocationFailed(lease: LeaseEntry, error: unknown): void {
    // An irrevocable lease stays so, with its first error (Vault's `markLeaseIrrevocable`).
    if (this.closed || this.leases.get(lease.leaseId) !== lease || lease.revokeError !== undefined) return;
    lease.revokeAttempts += 1;
    const message = revokeEntryCause(error);
    lease.timer?.clear();
    lease.timer = undefined;
    if (lease.revokeAttempts >= this.revocation.maxAttempts) {
      lease.revokeError = `out of retries: ${message}`.slice(0, MAX_IRREVOCABLE_ERROR_LENGTH);
      this.host.log('error', 'maximum revoke attempts reached: lease marked irrevocable', {
        lease_id: lease.leaseId,
        attempts: lease.revokeAttempts,
        error: message,
      });
      return;
    }
    const base = 2 ** lease.revokeAttempts * this.revocation.retryBaseMs;
    const delay = Math.round(base * (0.5 + Math.random()));
    this.host.log('error', 'failed to revoke lease', {
      lease_id: lease.leaseId,
      attempts: lease.revokeAttempts,
      retry_in_ms: delay,
      error: message,
    });
    lease.timer = scheduleAt(this.host.now() + delay, () => this.expire(lease), this.host.clock);
  }

  /** After unseal: revokes the leases whose expiry (or revocation retry) fell during the seal, unless renewed. */
  resumeExpiry(): void {
    const now = this.host.now();
    for (const leaseId of this.pausedExpiries) {
      const lease = this.leases.get(leaseId);
      if (!lease) continue;
      if (lease.expireTime <= now) void this.expire(lease);
      else this.arm(lease);
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
    // Vault's `leaseEntry.renewable`: https://github.com/hashicorp/vault/blob/main/vault/expiration.go
    if (lease.revokeError !== undefined)
      throw new LogicalError(400, 'lease is expired and has failed previous revocation attempts');
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
   * failure keeps the lease and throws Vault's 400 (`failed to revoke entry: …`), unless `force` (`revoke-force`),
   * which forgets the lease anyway. One revocation runs at a time per lease.
   */
  async revoke(leaseId: string, options: { force?: boolean } = {}): Promise<void> {
    if (!this.leases.has(leaseId)) return;
    await this.revocations.run(leaseId, async () => {
      const lease = this.leases.get(leaseId);
      if (!lease) return;
      try {
        if (lease.mount.backend.revokeSecret) await lease.mount.backend.revokeSecret(view(lease));
      } catch (error) {
        const message = revokeEntryError(error);
        if (!options.force) throw new LogicalError(400, message);
        this.host.log('warn', 'revocation from the backend failed, but in force mode so ignoring', {
          lease_id: leaseId,
          error: message,
        });
      }
      lease.timer?.clear();
      this.leases.delete(leaseId);
      this.pausedExpiries.delete(leaseId);
      if (lease.tokenId) this.byToken.get(lease.tokenId)?.delete(leaseId);
    });
  }

  /**
   * Vault's `LazyRevoke` (`sys/leases/revoke` with `sync=false`, token revocation): the lease expires now, and its
   * revocation runs as an expiry does — retried on failure. Resolves after the first attempt.
   */
  async revokeLazily(leaseId: string): Promise<void> {
    const lease = this.leases.get(leaseId);
    if (!lease) return;
    lease.timer?.clear();
    lease.timer = undefined;
    lease.expireTime = Math.min(lease.expireTime, this.host.now());
    if (this.host.isSealed?.()) {
      this.pausedExpiries.add(leaseId);
      return;
    }
    await this.revokeOrRetry(lease);
  }

  /**
   * Revokes every lease under `prefix` — the lease with that exact ID, else every lease under `prefix/` — in order,
   * stopping at the first failure with Vault's `failed to revoke "<id>" (i / n): …` (`revokePrefixCommon`); `force`
   * (`revoke-force`) continues past failures and forgets every lease.
   * https://github.com/hashicorp/vault/blob/main/vault/expiration.go
   */
  async revokePrefix(
    prefix: string,
    options: { force?: boolean; sync?: boolean; namespaceId?: string } = {},
  ): Promise<void> {
    const namespaceId = options.namespaceId ?? ROOT_NAMESPACE.id;
    if (!prefix.endsWith('/') && this.leases.has(prefix) && leaseNamespaceId(prefix) === namespaceId) {
      if (options.sync === false) return this.revokeLazily(prefix);
      try {
        return await this.revoke(prefix, options);
      } catch (error) {
        throw new LogicalError(400, `failed to revoke ${JSON.stringify(prefix)}: ${revokeEntryCause(error)}`);
      }
    }
    const base = prefix.endsWith('/') ? prefix : `${prefix}/`;
    const ids = [...this.leases.keys()].filter(
      (id) => id.startsWith(base) && leaseNamespaceId(id) === namespaceId,
    );
    for (const [index, id] of ids.entries()) {
      if (options.sync === false) {
        await this.revokeLazily(id);
        continue;
      }
      try {
        await this.revoke(id, options);
      } catch (error) {
        throw new LogicalError(
          400,
          `failed to revoke ${JSON.stringify(id)} (${index + 1} / ${ids.length}): ${revokeEntryCause(error)}`,
        );
      }
    }
  }

  /**
   * Revokes every lease created by a token, as Vault's `RevokeByToken` does: each lease is expired now and revoked;
   * one whose revocation fails is kept and retried like any expired lease (the token revocation still succeeds).
   */
  async revokeByToken(tokenId: string): Promise<void> {
    const ids = [...(this.byToken.get(tokenId) ?? [])];
    this.byToken.delete(tokenId);
    for (const id of ids) await this.revokeLazily(id);
  }

  /**
   * `sys/leases?type=irrevocable` data, sorted by expire time then lease ID as Vault does
   * (`listIrrevocableLeases`); `limit` 0 = all.
   */
  irrevocable(
    limit = 0,
    namespaceId = ROOT_NAMESPACE.id,
  ): { leases: IrrevocableLease[]; truncated: boolean } {
    const matching = [...this.leases.values()]
      .filter((lease) => lease.revokeError !== undefined && leaseNamespaceId(lease.leaseId) === namespaceId)
      .sort((a, b) => a.expireTime - b.expireTime || (a.leaseId < b.leaseId ? -1 : 1));
    const kept = limit > 0 ? matching.slice(0, limit) : matching;
    return {
      leases: kept.map((lease) => ({
        lease_id: lease.leaseId,
        mount_id: lease.mount.accessor,
        error: lease.revokeError as string,
      })),
      truncated: kept.length < matching.length,
    };
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
