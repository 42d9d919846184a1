import { isServing, type ServingOptions, type Vault, type VaultHealth } from '@leasehold/core';
import { Inject, Injectable } from '@nestjs/common';
import { VaultService } from './vault.service.js';

/** What {@link VaultHealthIndicator.isHealthy} returns: a `@nestjs/terminus` `HealthIndicatorResult`. */
export type VaultHealthIndicatorResult<Key extends string = string> = Record<
  Key,
  {
    status: 'up' | 'down';
    /** The client's own status: `ready`, `degraded` (working on borrowed time) or `down`. */
    vault: VaultHealth['status'];
    /** Why it is not `ready` (never a secret). */
    reasons: string[];
  }
>;

/**
 * Health indicator for `@nestjs/terminus` (11 and 12), built on `vault.health()` (no request is sent):
 * `up` while the client is `ready` (or `degraded`, unless `degradedIsDown`), `down` otherwise.
 *
 * @example
 * ```ts
 * @Get('health') @HealthCheck()
 * check() { return this.health.check([() => this.vaultHealth.isHealthy('vault')]); }
 * ```
 */
@Injectable()
export class VaultHealthIndicator {
  constructor(@Inject(VaultService) private readonly vault: Vault) {}

  /** The indicator result under `key` (default `vault`). */
  isHealthy<const Key extends string = 'vault'>(
    key: Key = 'vault' as Key,
    options: ServingOptions = {},
  ): VaultHealthIndicatorResult<Key> {
    const health = this.vault.health();
    const up = isServing(health, options);
    return {
      [key]: { status: up ? 'up' : 'down', vault: health.status, reasons: health.reasons },
    } as VaultHealthIndicatorResult<Key>;
  }
}
