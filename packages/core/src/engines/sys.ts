/** `vault.sys`: health, seal status, lease lookup/renew/revoke and response unwrapping. */

import { z } from 'zod';
import { VaultError, VaultErrorCode } from '../errors.js';
import { hasCappedWarning } from '../lifetime.js';
import { Redacted } from '../redacted.js';
import type { VaultEnvelope } from '../transport/types.js';
import { leaseRenewal, nonNegativeInt, parseResponse, seconds, strictBoolean } from '../validation.js';
import type { Vault } from '../vault.js';

/** `sys/health` body (https://developer.hashicorp.com/vault/api-docs/system/health). */
export interface SysHealth {
  initialized: boolean;
  sealed: boolean;
  standby: boolean;
  performance_standby?: boolean;
  server_time_utc?: number;
  version?: string;
  cluster_name?: string;
  cluster_id?: string;
  [key: string]: unknown;
}

/** `sys/seal-status` body. */
export interface SealStatus {
  type: string;
  initialized: boolean;
  sealed: boolean;
  /** Threshold. */
  t: number;
  /** Shares. */
  n: number;
  progress: number;
  version?: string;
  [key: string]: unknown;
}

/** `sys/leases/lookup` data. */
export interface LeaseLookup {
  id: string;
  issueTime: string;
  expireTime: string | null;
  lastRenewal: string | null;
  renewable: boolean;
  /** Remaining seconds (0: no expiry). */
  ttl: number;
}

/** Result of `sys/leases/renew`. */
export interface LeaseRenewal {
  leaseId: string;
  /** Seconds granted. */
  ttl: number;
  renewable: boolean;
  /** Vault cut the TTL at the lease's max TTL. */
  capped: boolean;
  warnings: string[];
}

/** `sys/health` (https://developer.hashicorp.com/vault/api-docs/system/health): the three states are required. */
const healthAnswer = z.looseObject({
  initialized: strictBoolean,
  sealed: strictBoolean,
  standby: strictBoolean,
});

/** `sys/seal-status` (https://developer.hashicorp.com/vault/api-docs/system/seal-status). */
const sealStatusAnswer = z.looseObject({
  type: z.string({ error: 'must be a string' }),
  initialized: strictBoolean,
  sealed: strictBoolean,
  t: nonNegativeInt,
  n: nonNegativeInt,
  progress: nonNegativeInt,
});

const nullableTime = z.string({ error: 'must be an RFC 3339 time or null' }).nullish();

/** `sys/leases/lookup` (https://developer.hashicorp.com/vault/api-docs/system/leases#read-lease). */
const leaseLookupAnswer = z.object({
  data: z.object({
    id: z.string({ error: 'must be a string' }),
    issue_time: z.string({ error: 'must be an RFC 3339 time' }),
    expire_time: nullableTime,
    last_renewal: nullableTime,
    renewable: strictBoolean,
    ttl: seconds,
  }),
});

/** `vault.sys`. */
export class SysEngine {
  readonly #vault: Vault;

  /** @internal */
  constructor(vault: Vault) {
    this.#vault = vault;
  }

  /**
   * `sys/health` (unauthenticated). Every state is returned as a body (the status codes are forced to 299 as the Go
   * client does), so a sealed or standby server is a result, not an error.
   */
  async health(): Promise<SysHealth> {
    const res = await this.#vault.requestRaw<SysHealth>('GET', 'sys/health', {
      authenticated: false,
      retry: false,
      query: {
        standbycode: 299,
        sealedcode: 299,
        uninitcode: 299,
        drsecondarycode: 299,
        performancestandbycode: 299,
      },
      acceptStatus: [429, 472, 473, 474, 501, 503],
      template: 'sys/health',
    });
    return parseResponse(healthAnswer, res.body, {
      method: 'GET',
      path: 'sys/health',
      status: res.status,
    }) as SysHealth;
  }

  /** `sys/seal-status` (unauthenticated). */
  async sealStatus(): Promise<SealStatus> {
    const res = await this.#vault.requestRaw<SealStatus>('GET', 'sys/seal-status', {
      authenticated: false,
      template: 'sys/seal-status',
    });
    const answer = { method: 'GET', path: 'sys/seal-status', status: res.status };
    return parseResponse(sealStatusAnswer, res.body, answer) as SealStatus;
  }

  /** `sys/leases/lookup`. Throws `VAULT_BAD_REQUEST` (`invalid lease`) for an unknown lease. */
  async lookupLease(leaseId: string): Promise<LeaseLookup> {
    const res = await this.#vault.request('PUT', 'sys/leases/lookup', {
      body: { lease_id: checkLeaseId(leaseId) },
      template: 'sys/leases/lookup',
    });
    const answer = { method: 'PUT', path: 'sys/leases/lookup', status: res.status };
    const d = parseResponse(leaseLookupAnswer, res.body, answer).data;
    return {
      id: d.id,
      issueTime: d.issue_time,
      expireTime: d.expire_time ?? null,
      lastRenewal: d.last_renewal ?? null,
      renewable: d.renewable,
      ttl: d.ttl,
    };
  }

  /** `sys/leases/renew` (`incrementSeconds` 0/absent: the backend's default). */
  async renewLease(leaseId: string, incrementSeconds?: number): Promise<LeaseRenewal> {
    const res = await this.#vault.request('PUT', 'sys/leases/renew', {
      body: { lease_id: checkLeaseId(leaseId), increment: incrementSeconds },
      template: 'sys/leases/renew',
    });
    const answer = { method: 'PUT', path: 'sys/leases/renew', status: res.status };
    const env = parseResponse(leaseRenewal, res.body, answer);
    const warnings = env.warnings ?? [];
    return {
      leaseId: env.lease_id,
      ttl: env.lease_duration,
      renewable: env.renewable,
      capped: hasCappedWarning(warnings),
      warnings,
    };
  }

  /** `sys/leases/revoke` (sync). Revoking an unknown lease succeeds (Vault's behaviour). */
  async revokeLease(leaseId: string): Promise<void> {
    await this.#vault.request('PUT', 'sys/leases/revoke', {
      body: { lease_id: checkLeaseId(leaseId) },
      template: 'sys/leases/revoke',
    });
  }

  /**
   * `sys/wrapping/unwrap` with the wrapping token as `X-Vault-Token` (single use). Returns the original envelope;
   * its `data` and `auth` are secrets, so the whole envelope is {@link Redacted}.
   * Throws `VAULT_BAD_REQUEST` (`wrapping token is not valid or does not exist`) on reuse.
   */
  async unwrap<TData = Record<string, unknown>>(
    wrappingToken: string | Redacted<string>,
  ): Promise<Redacted<VaultEnvelope<TData>>> {
    const token = Redacted.of(wrappingToken);
    if (typeof token.reveal() !== 'string' || token.reveal().length === 0) {
      throw new VaultError(
        VaultErrorCode.CONFIG,
        'Invalid option "wrappingToken": must be a non-empty string.',
      );
    }
    const res = await this.#vault.request<TData>('POST', 'sys/wrapping/unwrap', {
      token,
      retry: false,
      template: 'sys/wrapping/unwrap',
    });
    return Redacted.of(expectBody(res.body, 'sys/wrapping/unwrap'));
  }
}

function checkLeaseId(leaseId: string): string {
  if (typeof leaseId !== 'string' || leaseId.length === 0) {
    throw new VaultError(VaultErrorCode.CONFIG, 'Invalid option "leaseId": must be a non-empty lease id.');
  }
  return leaseId;
}

function expectBody<T>(body: T | undefined | null, path: string): T {
  if (body === undefined || body === null) {
    throw new VaultError(VaultErrorCode.INVALID_RESPONSE, `${path} returned an empty body`, { path });
  }
  return body;
}
