/**
 * The dev server's auth methods: backend factories for the mount types `approle`, `userpass`, `jwt` / `oidc`
 * (JWT login only), `kubernetes` and `cert`. `src/registry.ts` registers them; `POST /sys/auth/:path` mounts them.
 */
export { createAppRoleBackend, INVALID_CREDENTIALS } from './approle.js';
export { createCertBackend, INVALID_CERTIFICATE } from './cert.js';
export { createJwtBackend } from './jwt.js';
export { createKubernetesBackend } from './kubernetes.js';
export { createUserpassBackend, INVALID_USER_OR_PASSWORD } from './userpass.js';
