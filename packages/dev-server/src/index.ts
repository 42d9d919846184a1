/**
 * @packageDocumentation
 * A Vault-API-compatible in-memory server for tests and demos: tokens, ACLs, AppRole/JWT/Kubernetes/userpass/cert auth, KV, database (real PostgreSQL), transit, PKI, fault injection.
 *
 * Not implemented yet: this package is a placeholder in the workspace and exports nothing.
 */
export {};
