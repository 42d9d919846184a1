/**
 * @packageDocumentation
 * NestJS module for Leasehold: `VaultModule.forRoot/forRootAsync`, `VaultService`, `@InjectVault()`, rotating
 * database pools (`@InjectPool(name)`), a `@nestjs/config` loader, RxJS event streams and a terminus health
 * indicator.
 */
export { type VaultConfigOptions, vaultConfig } from './config.js';
export { VaultHealthIndicator, type VaultHealthIndicatorResult } from './health.js';
export { kvChanges, vaultEvents } from './observables.js';
export { getPoolToken, InjectPool, type VaultDatabase } from './tokens.js';
export {
  VAULT_MODULE_OPTIONS,
  VaultLifecycle,
  VaultModule,
  type VaultModuleAsyncOptions,
  type VaultModuleExtras,
  type VaultModuleForRootOptions,
  type VaultModuleOptions,
  type VaultOptionsFactory,
} from './vault.module.js';
export { InjectVault, VaultService } from './vault.service.js';
