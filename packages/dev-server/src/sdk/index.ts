/**
 * The engine SDK of the dev server, modelled on Vault's `sdk/logical` and `sdk/framework`
 * (https://github.com/hashicorp/vault/tree/main/sdk): the backend contract, the path router with field schemas,
 * the field parser and the reply helpers. Engines under `src/backends` import only this module and `src/util`.
 */
export * from './fields.js';
export * from './logical.js';
export * from './reply.js';
export * from './router.js';
