/**
 * @packageDocumentation
 * Express 5 middleware for Leasehold: req.vault, readiness gate, health handler, graceful shutdown that revokes leases.
 *
 * Not implemented yet: this package is a placeholder in the workspace and exports nothing.
 */
export {};
