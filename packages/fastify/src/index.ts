/**
 * @packageDocumentation
 * Fastify 5 plugin for Leasehold: app.vault, readiness on onReady, leases revoked on onClose, rotating database pools.
 *
 * Not implemented yet: this package is a placeholder in the workspace and exports nothing.
 */
export {};
