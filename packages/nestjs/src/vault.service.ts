import type { Vault } from '@leasehold/core';
import { Inject } from '@nestjs/common';

/**
 * The `@leasehold/core` client, injectable. Inject it by type (`constructor(private readonly vault: VaultService)`)
 * or with {@link InjectVault}; it is the module's `Vault` instance itself (logged in before anything that injects
 * it is created), so its whole API is available: `kv`, `database`, `transit`, `pki`, `sys`, `on()`, `health()`.
 */
// biome-ignore lint/suspicious/noUnsafeDeclarationMerging: an injection token typed as the core client it resolves to
export abstract class VaultService {}
export interface VaultService extends Vault {}

/** Injects the {@link VaultService} (explicit token: works without `emitDecoratorMetadata`). */
export function InjectVault(): PropertyDecorator & ParameterDecorator {
  return Inject(VaultService);
}
