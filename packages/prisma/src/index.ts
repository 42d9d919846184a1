/**
 * @packageDocumentation
 * Prisma 7 over @prisma/adapter-pg, fed by a rotating pg pool that follows Vault database credentials.
 *
 * Not implemented yet: this package is a placeholder in the workspace and exports nothing.
 */
export {};
