/**
 * @packageDocumentation
 * Knex whose connection pool follows Vault database credentials: old-generation connections are evicted on rotation.
 *
 * Not implemented yet: this package is a placeholder in the workspace and exports nothing.
 */
export {};
