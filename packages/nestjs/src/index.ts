/**
 * @packageDocumentation
 * NestJS module for Leasehold: VaultModule.forRoot/forRootAsync, VaultService, injectable secrets and rotating pools, health indicator.
 *
 * Not implemented yet: this package is a placeholder in the workspace and exports nothing.
 */
export {};
