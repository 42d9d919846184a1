/**
 * @packageDocumentation
 * Framework-agnostic HashiCorp Vault client for Node.js: auth, token and lease lifecycle, secret cache, KV/database/transit/PKI engines.
 *
 * Not implemented yet: this package is a placeholder in the workspace and exports nothing.
 */
export {};
